//! The harness of the end-to-end suite: runs each example server in-process on an ephemeral
//! port, with a manual clock, and talks to it over real HTTP with `reqwest`.

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use dashboard_shared::{Settings, Users};
use reqwest::header::HeaderMap;
use reqwest::{Client, RequestBuilder, StatusCode};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tower_refresh_auth::RefreshAuth;
use tower_refresh_auth::clock::ManualClock;
use tower_refresh_auth::session::{Session, SessionId};
use tower_refresh_auth::store::{MemoryStore, RefreshStore, Rotation, StoreError};

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
    store: OutageStore,
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
        let store = OutageStore::default();
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
        let transport = settings.transport;
        let task = match framework {
            Framework::Axum => tokio::spawn(axum_dashboard::serve(
                listener,
                axum_dashboard::app(auth, users, transport),
                shutdown,
            )),
            Framework::Poem => tokio::spawn(poem_dashboard::serve(
                listener,
                poem_dashboard::app(auth, users, transport),
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
        self.store.down.store(down, Ordering::SeqCst);
    }

    /// How many times the store has rotated a refresh token: one per successful refresh.
    pub fn rotations(&self) -> u64 {
        self.store.rotations.load(Ordering::SeqCst)
    }

    /// How many sessions the store has revoked: one per logout that ended a live session.
    pub fn revocations(&self) -> u64 {
        self.store.revocations.load(Ordering::SeqCst)
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

/// A response, read whole: what the tests assert on and what the frameworks must agree on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The status.
    pub status: StatusCode,
    /// Every header but `date`, lower-cased names in order, values in arrival order.
    pub headers: BTreeMap<String, Vec<String>>,
    /// The body as text.
    pub body: String,
}

impl Reply {
    /// Sends `req` and reads the whole response.
    ///
    /// # Panics
    ///
    /// If the request cannot be sent or the body read.
    #[allow(clippy::expect_used)]
    pub async fn send(req: RequestBuilder) -> Self {
        let res = req.send().await.expect("the request is answered");
        let status = res.status();
        let headers = collect_headers(res.headers());
        let body = res.text().await.expect("a readable body");
        Self {
            status,
            headers,
            body,
        }
    }

    /// The one value of header `name`.
    ///
    /// # Panics
    ///
    /// If the header is absent or repeated.
    pub fn header(&self, name: &str) -> &str {
        match self.headers.get(name).map(Vec::as_slice) {
            Some([value]) => value,
            other => panic!("expected one {name} header, got {other:?}"),
        }
    }

    /// Every value of header `name`.
    pub fn headers(&self, name: &str) -> &[String] {
        self.headers.get(name).map_or(&[], Vec::as_slice)
    }

    /// The body as JSON.
    ///
    /// # Panics
    ///
    /// If it is not JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("expected a JSON body ({e}), got {:?}", self.body))
    }

    /// The string field `name` of the JSON body.
    ///
    /// # Panics
    ///
    /// If there is none.
    pub fn field(&self, name: &str) -> String {
        match &self.json()[name] {
            serde_json::Value::String(s) => s.clone(),
            other => panic!("expected a string {name}, got {other} in {}", self.body),
        }
    }
}

fn collect_headers(headers: &HeaderMap) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in headers {
        if name == reqwest::header::DATE {
            continue;
        }
        out.entry(name.as_str().to_owned())
            .or_default()
            .push(String::from_utf8_lossy(value.as_bytes()).into_owned());
    }
    out
}

/// A [`MemoryStore`] that can be taken down: while down, every call fails with
/// [`StoreError::Unavailable`] and changes nothing. It counts the rotations and revocations
/// it carries out, so a test can see what a client did without reading its tokens.
#[derive(Debug, Clone, Default)]
pub struct OutageStore {
    sessions: MemoryStore,
    down: Arc<AtomicBool>,
    rotations: Arc<AtomicU64>,
    revocations: Arc<AtomicU64>,
}

impl OutageStore {
    fn check(&self) -> Result<(), StoreError> {
        if self.down.load(Ordering::SeqCst) {
            Err(StoreError::unavailable("simulated outage"))
        } else {
            Ok(())
        }
    }
}

#[async_trait::async_trait]
impl RefreshStore for OutageStore {
    async fn create(&self, session: &Session) -> Result<(), StoreError> {
        self.check()?;
        self.sessions.create(session).await
    }

    async fn load(&self, id: &SessionId, now: SystemTime) -> Result<Option<Session>, StoreError> {
        self.check()?;
        self.sessions.load(id, now).await
    }

    async fn rotate(
        &self,
        id: &SessionId,
        expected: u64,
        now: SystemTime,
        expires_at: SystemTime,
    ) -> Result<Rotation, StoreError> {
        self.check()?;
        let rotation = self.sessions.rotate(id, expected, now, expires_at).await?;
        if matches!(rotation, Rotation::Rotated(_)) {
            self.rotations.fetch_add(1, Ordering::SeqCst);
        }
        Ok(rotation)
    }

    async fn revoke(&self, id: &SessionId) -> Result<bool, StoreError> {
        self.check()?;
        let revoked = self.sessions.revoke(id).await?;
        if revoked {
            self.revocations.fetch_add(1, Ordering::SeqCst);
        }
        Ok(revoked)
    }

    async fn revoke_subject(&self, subject: &str) -> Result<u64, StoreError> {
        self.check()?;
        self.sessions.revoke_subject(subject).await
    }
}
