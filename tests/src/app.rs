//! One application instance: the layer over a trivial service, on a given store, with
//! helpers that speak the wire contract (docs/protocol.md §1, §3, §4).
//!
//! Several instances built with the same secret over one shared store stand for several
//! servers behind a load balancer.

use std::ops::Deref;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tower::{ServiceBuilder, service_fn};
use tower_refresh_auth::clock::Clock;
use tower_refresh_auth::store::RefreshStore;
use tower_refresh_auth::{RefreshAuth, TokenPair};
use tower_refresh_auth_test_support::{Reply, Stack, subject_echo};

/// The HS256 secret every instance shares.
pub const SECRET: &[u8] = b"the cross-instance test secret, 32+ bytes";

/// The application's own claims.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Role {
    /// The user's role.
    pub role: String,
}

/// An application instance; it sends requests through its layer as a [`Stack`].
#[derive(Debug, Clone)]
pub struct App {
    /// Its layer's handle: issues pairs (the login handler's job).
    pub auth: RefreshAuth<Role>,
    stack: Stack,
}

impl Deref for App {
    type Target = Stack;

    fn deref(&self) -> &Stack {
        &self.stack
    }
}

impl App {
    /// An instance on `store`, with the shared secret, the given `clock` and a `grace`
    /// window; its guarded route is everything but `/token` and `/logout`, answered with the
    /// token's subject.
    pub fn new(store: impl RefreshStore, clock: impl Clock, grace: Duration) -> Self {
        let auth = RefreshAuth::<Role>::builder()
            .hs256(SECRET.to_vec())
            .access_ttl(Duration::from_secs(60))
            .refresh_ttl(Duration::from_secs(3600))
            .reuse_grace(grace)
            .store(store)
            .clock(clock)
            .build()
            .expect("a valid configuration");
        let svc = ServiceBuilder::new()
            .layer(auth.layer())
            .service(service_fn(subject_echo::<Role>));
        Self {
            auth,
            stack: Stack::new(svc),
        }
    }

    /// Logs `user` in: the pair the login handler would hand out.
    pub async fn login(&self, user: &str) -> TokenPair {
        self.auth
            .issue(
                user,
                Role {
                    role: "admin".into(),
                },
            )
            .await
            .expect("issue a pair")
    }

    /// `GET /api/dashboard` with a bearer token.
    pub async fn dashboard(&self, access_token: &str) -> Reply {
        self.get("/api/dashboard", Some(access_token)).await
    }
}

/// docs/protocol.md §3–§4 across two instances `a` and `b` sharing one store (and secret).
///
/// Logs in on A, refreshes on B, replays the spent token on A inside the grace window (B's
/// successor comes back), logs out on B, and checks A refuses every token of the session.
pub async fn sessions_move_between_instances(a: &App, b: &App) {
    let login = a.login("user1").await;

    let on_b = b.refresh(&login.refresh_token).await;
    assert_eq!(on_b.status, 200, "refresh on B: {:?}", on_b.body);
    let successor = on_b.refresh_token();
    assert_ne!(successor, login.refresh_token);

    // The other tab, talking to A with the token B just spent: same successor (§3 grace).
    let replay_on_a = a.refresh(&login.refresh_token).await;
    assert_eq!(
        replay_on_a.status, 200,
        "replay on A: {:?}",
        replay_on_a.body
    );
    assert_eq!(
        replay_on_a.refresh_token(),
        successor,
        "B's successor, not a new one"
    );

    // Access tokens from either instance verify on the other.
    let access = on_b.access_token();
    assert_eq!(a.dashboard(&access).await.status, 200);
    assert_eq!(b.dashboard(&login.access_token).await.status, 200);

    // Logout on B revokes the session everywhere (§4).
    assert_eq!(b.logout(&successor).await.status, 204);
    a.refresh(&successor)
        .await
        .assert_error(400, "invalid_grant");
    a.refresh(&login.refresh_token)
        .await
        .assert_error(400, "invalid_grant");
    b.refresh(&successor)
        .await
        .assert_error(400, "invalid_grant");
}
