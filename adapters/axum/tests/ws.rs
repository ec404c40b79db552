//! A WebSocket behind the layer closes with code 1008 when its session ends: the handler
//! selects on the socket and the `SessionWatch`, and the client sees the close frame.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use axum::routing::any;
use futures_util::{SinkExt, StreamExt};
use http::HeaderValue;
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message as ClientMessage};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tower_refresh_auth::store::MemoryStore;
use tower_refresh_auth::watch::SessionWatch;
use tower_refresh_auth::{NoClaims, RefreshAuth, SessionChecking};
use tower_refresh_auth_axum::ws::close_message;
use tower_refresh_auth_axum::{AuthClaims, RouterExt};

/// The longest the close frame is waited for.
const BOUND: Duration = Duration::from_secs(10);

const SECRET: &[u8] = b"the axum websocket test secret, 32+ bytes";

async fn live(
    upgrade: WebSocketUpgrade,
    State(auth): State<RefreshAuth>,
    AuthClaims(claims): AuthClaims,
) -> Response {
    let watch = auth.watch(&claims);
    upgrade.on_upgrade(move |socket| echo(socket, watch))
}

async fn echo(mut socket: WebSocket, mut watch: SessionWatch) {
    loop {
        tokio::select! {
            end = &mut watch => {
                let _ = socket.send(close_message(end)).await;
                return;
            }
            message = socket.recv() => match message {
                Some(Ok(Message::Text(text))) => {
                    if socket.send(Message::Text(text)).await.is_err() {
                        return;
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return,
            },
        }
    }
}

/// Serves `/ws` behind `auth` on a free port.
async fn serve(auth: &RefreshAuth) -> SocketAddr {
    let app = Router::new()
        .route("/ws", any(live))
        .with_state(auth.clone())
        .refresh_auth(auth);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

type Client = WebSocketStream<MaybeTlsStream<TcpStream>>;

async fn connect(addr: SocketAddr, bearer: Option<&str>) -> Result<Client, tungstenite::Error> {
    let mut request = format!("ws://{addr}/ws").into_client_request().unwrap();
    if let Some(token) = bearer {
        let value = HeaderValue::from_str(&format!("Bearer {token}")).unwrap();
        request.headers_mut().insert("authorization", value);
    }
    tokio_tungstenite::connect_async(request)
        .await
        .map(|(socket, _)| socket)
}

/// Sends `text` and waits for its echo.
async fn echoes(socket: &mut Client, text: &str) {
    socket.send(ClientMessage::text(text)).await.unwrap();
    let echoed = tokio::time::timeout(BOUND, socket.next()).await.unwrap();
    assert_eq!(echoed.unwrap().unwrap(), ClientMessage::text(text));
}

/// Waits for the server's close frame.
async fn closed(socket: &mut Client) -> CloseFrame {
    loop {
        match tokio::time::timeout(BOUND, socket.next()).await.unwrap() {
            Some(Ok(ClientMessage::Close(frame))) => return frame.expect("a close frame"),
            Some(Ok(_)) => {}
            other => panic!("expected a close frame: {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_closes_with_1008_when_its_session_is_revoked() {
    let auth = RefreshAuth::<NoClaims>::builder()
        .hs256(SECRET.to_vec())
        .store(MemoryStore::new())
        .check_sessions(SessionChecking::Feed)
        .build()
        .unwrap();
    let addr = serve(&auth).await;

    // Without a token the upgrade is refused by the layer.
    match connect(addr, None).await {
        Err(tungstenite::Error::Http(res)) => assert_eq!(res.status(), 401),
        other => panic!("expected a 401: {other:?}"),
    }

    let pair = auth.issue("alice", NoClaims {}).await.unwrap();
    let other = auth.issue("bob", NoClaims {}).await.unwrap();
    let mut socket = connect(addr, Some(&pair.access_token)).await.unwrap();
    let mut bystander = connect(addr, Some(&other.access_token)).await.unwrap();
    echoes(&mut socket, "ping").await;

    assert!(auth.revoke_session(&pair.session_id).await.unwrap());
    let frame = closed(&mut socket).await;
    assert_eq!(frame.code, CloseCode::Policy);
    assert_eq!(u16::from(frame.code), 1008);
    assert_eq!(frame.reason.as_str(), "session ended");

    // Another session's connection stays open: it still echoes.
    echoes(&mut bystander, "still here").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_closes_with_1008_when_its_token_expires() {
    // A token that expires within two seconds of its issue, by the system clock.
    let auth = RefreshAuth::<NoClaims>::builder()
        .hs256(SECRET.to_vec())
        .access_ttl(Duration::from_secs(2))
        .build()
        .unwrap();
    let addr = serve(&auth).await;
    let pair = auth.issue("alice", NoClaims {}).await.unwrap();
    let mut socket = connect(addr, Some(&pair.access_token)).await.unwrap();
    let frame = closed(&mut socket).await;
    assert_eq!(u16::from(frame.code), 1008);
    assert_eq!(frame.reason.as_str(), "token expired");
}
