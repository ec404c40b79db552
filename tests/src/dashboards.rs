//! The harness of the end-to-end suite: runs each example server in-process on an ephemeral
//! port, with a manual clock, and talks to it over real HTTP with `reqwest`.

use std::collections::HashMap;
use std::ffi::OsString;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use dashboard_shared::{Settings, Users};
use reqwest::{Client, RequestBuilder};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tower_refresh_auth::RefreshAuth;
use tower_refresh_auth::clock::ManualClock;
use tower_refresh_auth_test_support::{Reply, TestStore};

/// The web frameworks the example server exists for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framework {
    /// `examples/axum-dashboard`, through `tower-refresh-auth-axum`.
    Axum,
    /// `examples/poem-dashboard`, through `tower-refresh-auth-poem`.
    Poem,
}

impl Framework {
    /// Both, for tests that compare them.
    pub const ALL: [Self; 2] = [Self::Axum, Self::Poem];
}

/// A running example server and a client for it.
#[derive(Debug)]
pub struct Server {
    base: String,
    clock: ManualClock,
    store: TestStore,
    client: Client,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Server {
    /// Starts `framework`'s server configured by `vars` (the environment variables of the
    /// wire contract's §6, e.g. `("REFRESH_TRANSPORT", "cookie")`), with its clock stopped at
    /// the current time; move it with [`advance`](Self::advance).
    ///
    /// # Panics
    ///
    /// If the configuration is refused or no port can be bound: a broken test setup.
    #[allow(clippy::expect_used)]
    pub async fn start(framework: Framework, vars: &[(&str, &str)]) -> Self {
        let vars: HashMap<&str, OsString> =
            vars.iter().map(|(k, v)| (*k, OsString::from(*v))).collect();
        let settings = Settings::from_vars(|name| vars.get(name).cloned()).expect("valid settings");
        let clock = ManualClock::new(SystemTime::now());
        let store = TestStore::new();
        let builder = match framework {
            Framework::Axum => axum_dashboard::auth_builder(&settings, Arc::new(store.clone())),
            Framework::Poem => poem_dashboard::auth_builder(&settings, Arc::new(store.clone())),
        };
        let auth: RefreshAuth = builder
            .clock(clock.clone())
            .build()
            .expect("a valid RefreshAuth");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let base = format!("http://{}", listener.local_addr().expect("a bound address"));
        let (tx, rx) = oneshot::channel::<()>();
        let shutdown = async move {
            let _ = rx.await;
        };
        let users = Users::demo();
        let task = match framework {
            Framework::Axum => tokio::spawn(axum_dashboard::serve(
                listener,
                axum_dashboard::app(auth, users, &settings),
                shutdown,
            )),
            Framework::Poem => tokio::spawn(poem_dashboard::serve(
                listener,
                poem_dashboard::app(auth, users, &settings),
                shutdown,
            )),
        };
        let client = Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("a reqwest client");
        Self {
            base,
            clock,
            store,
            client,
            shutdown: Some(tx),
            task,
        }
    }

    /// Moves the server's clock forward.
    pub fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }

    /// Takes the session store down (every call fails, as when its backend is unreachable)
    /// or brings it back.
    pub fn set_store_down(&self, down: bool) {
        self.store.set_down(down);
    }

    /// How many times the store has rotated a refresh token: one per successful refresh.
    pub fn rotations(&self) -> u64 {
        self.store.rotations()
    }

    /// How many sessions the store has revoked: one per logout that ended a live session.
    pub fn revocations(&self) -> u64 {
        self.store.revocations()
    }

    /// The absolute URL of `path` on this server, e.g. for a browser to open.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A `GET` of `path`.
    pub fn get(&self, path: &str) -> RequestBuilder {
        self.client.get(self.url(path))
    }

    /// A `POST` to `path`.
    pub fn post(&self, path: &str) -> RequestBuilder {
        self.client.post(self.url(path))
    }

    /// Asks the server to shut down gracefully and waits until it has.
    ///
    /// # Panics
    ///
    /// If the server failed or does not stop within five seconds.
    #[allow(clippy::expect_used)]
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        tokio::time::timeout(Duration::from_secs(5), &mut self.task)
            .await
            .expect("the server stops within 5 s")
            .expect("the server task did not panic")
            .expect("the server ran without an I/O error");
    }
}

/// Sends `req` and reads the whole response; the `date` header is dropped, so the answers of
/// the two frameworks compare equal when they agree.
///
/// # Panics
///
/// If the request cannot be sent or the body read.
#[allow(clippy::expect_used)]
pub async fn send(req: RequestBuilder) -> Reply {
    let res = req.send().await.expect("the request is answered");
    let status = res.status();
    let mut headers = res.headers().clone();
    headers.remove(reqwest::header::DATE);
    let body = res.bytes().await.expect("a readable body");
    Reply::new(status, headers, body)
}
