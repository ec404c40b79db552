//! A TCP proxy that counts round trips: how many times the client spoke after the server
//! had answered.
//!
//! Stores are connected through it to check that an operation costs exactly one round
//! trip. It counts *flights*: a run of client-to-server bytes with no server-to-client bytes
//! in between is one flight, however TCP splits it, so it measures round trips and not
//! packets.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The PostgreSQL `Sync` message alone: how sqlx pings a connection as it goes back to
/// its pool, after the caller already has its answer.
pub const PG_SYNC: &[u8] = b"S\0\0\0\x04";

/// A running proxy; it stops accepting when dropped.
#[derive(Debug)]
pub struct FlightCounter {
    addr: SocketAddr,
    state: Arc<State>,
    accept: tokio::task::JoinHandle<()>,
}

#[derive(Debug)]
struct State {
    flights: AtomicU64,
    client_spoke_last: AtomicBool,
    ignore: &'static [u8],
}

impl FlightCounter {
    /// Starts a proxy to `upstream`; flights consisting of exactly `ignore` are not counted
    /// (pass `&[]` to count everything).
    pub async fn start(upstream: SocketAddr, ignore: &'static [u8]) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(State {
            flights: AtomicU64::new(0),
            client_spoke_last: AtomicBool::new(false),
            ignore,
        });
        let shared = state.clone();
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(upstream).await else {
                    continue;
                };
                tokio::spawn(pipe(client, server, shared.clone()));
            }
        });
        Ok(Self {
            addr,
            state,
            accept,
        })
    }

    /// Where clients should connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Flights counted so far.
    pub fn flights(&self) -> u64 {
        self.state.flights.load(Ordering::SeqCst)
    }
}

impl Drop for FlightCounter {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

async fn pipe(client: TcpStream, server: TcpStream, state: Arc<State>) {
    let (mut client_rx, mut client_tx) = client.into_split();
    let (mut server_rx, mut server_tx) = server.into_split();
    let up_state = state.clone();
    let up = async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match client_rx.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let starts_flight = !up_state.client_spoke_last.swap(true, Ordering::SeqCst);
            if starts_flight && &buf[..n] != up_state.ignore {
                up_state.flights.fetch_add(1, Ordering::SeqCst);
            }
            if server_tx.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = server_tx.shutdown().await;
    };
    let down = async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match server_rx.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            state.client_spoke_last.store(false, Ordering::SeqCst);
            if client_tx.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = client_tx.shutdown().await;
    };
    tokio::join!(up, down);
}
