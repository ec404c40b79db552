//! A test harness: the layer over a `service_fn` that echoes what it was given, a manual
//! clock, and a store that counts calls and fails on demand.
#![allow(
    dead_code,
    unreachable_pub,
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used
)]

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::BodyExt;
use serde::{Deserialize, Serialize};
use tower::util::BoxCloneSyncService;
use tower::{ServiceBuilder, ServiceExt, service_fn};
use tower_refresh_auth::clock::ManualClock;
use tower_refresh_auth::session::{Session, SessionId};
use tower_refresh_auth::store::{MemoryStore, RefreshStore, Rotation, StoreError};
use tower_refresh_auth::{
    AuthRejection, Claims, RefreshAuth, RefreshAuthBuilder, ResponseBody, TokenPair,
};

pub const SECRET: &[u8] = b"test secret that is at least 32 bytes long";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Role {
    pub role: String,
}

pub fn admin() -> Role {
    Role {
        role: "admin".into(),
    }
}

pub fn t0() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

type Svc = BoxCloneSyncService<Request<String>, Response<ResponseBody<String>>, Infallible>;

pub struct Harness {
    pub auth: RefreshAuth<Role>,
    pub clock: ManualClock,
    pub store: TestStore,
    svc: Svc,
}

#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.text()))
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("no {name} header in {:?}", self.headers))
            .to_str()
            .unwrap()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// An endpoint error: status, JSON `error`, a description, `Cache-Control: no-store`.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.text());
        let json = self.json();
        assert_eq!(json["error"], code, "body: {}", self.text());
        assert!(
            json["error_description"].is_string(),
            "body: {}",
            self.text()
        );
        assert_eq!(self.header("cache-control"), "no-store");
    }

    /// A protected-request error: as above plus the RFC 6750 challenge with the code.
    #[track_caller]
    pub fn assert_challenge(&self, status: u16, code: &str) {
        self.assert_error(status, code);
        let challenge = self.header("www-authenticate");
        let want = format!(r#"Bearer realm="api", error="{code}", error_description=""#);
        assert!(challenge.starts_with(&want), "{challenge}");
        assert!(challenge.ends_with('"'), "{challenge}");
    }
}

impl Harness {
    pub fn new() -> Self {
        Self::with(|b| b)
    }

    pub fn with(
        configure: impl FnOnce(RefreshAuthBuilder<Role>) -> RefreshAuthBuilder<Role>,
    ) -> Self {
        let clock = ManualClock::new(t0());
        let store = TestStore::default();
        let builder = RefreshAuth::<Role>::builder()
            .hs256(SECRET.to_vec())
            .clock(clock.clone())
            .store(store.clone())
            .public_path("/login");
        let auth = configure(builder).build().expect("valid configuration");
        let svc = ServiceBuilder::new()
            .layer(auth.layer())
            .service(service_fn(echo));
        Self {
            auth,
            clock,
            store,
            svc: BoxCloneSyncService::new(svc),
        }
    }

    pub async fn send(&self, req: Request<String>) -> Reply {
        let res = self.svc.clone().oneshot(req).await.unwrap();
        let (parts, body) = res.into_parts();
        Reply {
            status: parts.status,
            headers: parts.headers,
            body: body.collect().await.unwrap().to_bytes(),
        }
    }

    pub async fn get(&self, path: &str, bearer: Option<&str>) -> Reply {
        let mut req = Request::get(path);
        if let Some(token) = bearer {
            req = req.header("authorization", format!("Bearer {token}"));
        }
        self.send(req.body(String::new()).unwrap()).await
    }

    pub async fn post(&self, path: &str, content_type: &str, body: &str) -> Reply {
        self.send(
            Request::post(path)
                .header("content-type", content_type)
                .body(body.to_owned())
                .unwrap(),
        )
        .await
    }

    pub async fn post_json(&self, path: &str, body: &str) -> Reply {
        self.post(path, "application/json", body).await
    }

    pub async fn post_form(&self, path: &str, body: &str) -> Reply {
        self.post(path, "application/x-www-form-urlencoded", body)
            .await
    }

    pub async fn refresh(&self, token: &str) -> Reply {
        self.post_json("/token", &format!(r#"{{"refreshToken":"{token}"}}"#))
            .await
    }

    pub async fn logout(&self, token: &str) -> Reply {
        self.post_json("/logout", &format!(r#"{{"refreshToken":"{token}"}}"#))
            .await
    }

    pub async fn login(&self) -> TokenPair {
        self.auth.issue("user1", admin()).await.unwrap()
    }
}

/// The inner service: says who it saw, or what the layer left in its place.
async fn echo(req: Request<String>) -> Result<Response<String>, Infallible> {
    let ext = req.extensions();
    let body = match (ext.get::<Claims<Role>>(), ext.get::<AuthRejection>()) {
        (Some(c), None) => format!("claims sub={} role={} sid={}", c.sub, c.custom.role, c.sid),
        (None, Some(r)) => format!("rejection {}", r.error().error_code().unwrap_or("none")),
        (None, None) => "anonymous".to_owned(),
        (Some(_), Some(_)) => "both".to_owned(),
    };
    Ok(Response::new(body))
}

/// A memory store that counts calls and can be switched off to simulate an outage.
#[derive(Debug, Clone, Default)]
pub struct TestStore {
    pub inner: MemoryStore,
    pub calls: Arc<AtomicUsize>,
    pub down: Arc<AtomicBool>,
}

impl TestStore {
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    fn enter(&self) -> Result<(), StoreError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.down.load(Ordering::SeqCst) {
            Err(StoreError::unavailable("simulated outage"))
        } else {
            Ok(())
        }
    }
}

#[async_trait::async_trait]
impl RefreshStore for TestStore {
    async fn create(&self, session: &Session) -> Result<(), StoreError> {
        self.enter()?;
        self.inner.create(session).await
    }
    async fn load(&self, id: &SessionId, now: SystemTime) -> Result<Option<Session>, StoreError> {
        self.enter()?;
        self.inner.load(id, now).await
    }
    async fn rotate(
        &self,
        id: &SessionId,
        expected: u64,
        now: SystemTime,
        expires_at: SystemTime,
    ) -> Result<Rotation, StoreError> {
        self.enter()?;
        self.inner.rotate(id, expected, now, expires_at).await
    }
    async fn revoke(&self, id: &SessionId) -> Result<bool, StoreError> {
        self.enter()?;
        self.inner.revoke(id).await
    }
    async fn revoke_subject(&self, subject: &str) -> Result<u64, StoreError> {
        self.enter()?;
        self.inner.revoke_subject(subject).await
    }
}
