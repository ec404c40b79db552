//! A test harness: the layer over a `service_fn` that echoes what it was given, a manual
//! clock, and the test-support crate's store that counts calls and fails on demand.
#![allow(
    dead_code,
    unreachable_pub,
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used
)]

use std::convert::Infallible;
use std::ops::Deref;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{Request, Response};
use serde::{Deserialize, Serialize};
use tower::{ServiceBuilder, service_fn};
use tower_refresh_auth::clock::ManualClock;
use tower_refresh_auth::{AuthRejection, Claims, RefreshAuth, RefreshAuthBuilder, TokenPair};
pub use tower_refresh_auth_test_support::{Stack, TestStore};

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

/// The layer over [`echo`], on a [`TestStore`] and a [`ManualClock`]; requests go through
/// it as a [`Stack`].
pub struct Harness {
    pub auth: RefreshAuth<Role>,
    pub clock: ManualClock,
    pub store: TestStore,
    stack: Stack,
}

impl Deref for Harness {
    type Target = Stack;

    fn deref(&self) -> &Stack {
        &self.stack
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
        let store = TestStore::new();
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
            stack: Stack::new(svc),
        }
    }

    pub async fn login(&self) -> TokenPair {
        self.auth.issue("user1", admin()).await.unwrap()
    }
}

/// The inner service: says who it saw, or what the layer left in its place.
async fn echo(req: Request<String>) -> Result<Response<String>, Infallible> {
    let ext = req.extensions();
    let body = match (ext.get::<Arc<Claims<Role>>>(), ext.get::<AuthRejection>()) {
        (Some(c), None) => {
            let sid = c.sid.map(|s| s.to_string()).unwrap_or_default();
            format!("claims sub={} role={} sid={sid}", c.sub, c.custom.role)
        }
        (None, Some(r)) => format!("rejection {}", r.error().error_code().unwrap_or("none")),
        (None, None) => "anonymous".to_owned(),
        (Some(_), Some(_)) => "both".to_owned(),
    };
    Ok(Response::new(body))
}
