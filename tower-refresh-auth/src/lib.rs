//! Refresh-token authentication as tower middleware.
//!
//! Add one [`RefreshAuthLayer`] to the router you already have and get:
//!
//! - verification of JWT bearer access tokens (RFC 9068) on every guarded request, with the
//!   verified [`Claims`] handed to handlers through the request extensions and RFC 6750
//!   errors on failure;
//! - `POST /token`, which trades a refresh token for a new pair, with rotation, reuse
//!   detection and a grace window for concurrent refreshes (RFC 6749 §6, RFC 9700 §4.14.2);
//! - `POST /logout`, which revokes the session (RFC 7009);
//! - when enabled, `GET /sessions`, `DELETE /sessions/{id}` and `DELETE /sessions`: the
//!   caller's own sessions, listed and ended
//!   ([`sessions_route`](RefreshAuthBuilder::sessions_route));
//! - when enabled, `GET /.well-known/jwks.json`, the public keys that verify access tokens
//!   (RFC 7517), for gateways and services in other languages;
//! - `auth_time` (and the application's `acr`/`amr`) in every access token, unchanged by
//!   refreshes; [step-up requirements](step_up::StepUp) that refuse an old login with RFC 9470's
//!   challenge, and [re-authentication](RefreshAuth::reauthenticate) without a new session;
//! - a pluggable [`RefreshStore`](store::RefreshStore), in memory by default.
//!
//! # Quickstart
//!
//! ```
//! use std::convert::Infallible;
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! use http::{Request, Response, StatusCode};
//! use serde::{Deserialize, Serialize};
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//! use tower_refresh_auth::{Claims, RefreshAuth};
//!
//! #[derive(Clone, Debug, Serialize, Deserialize)]
//! struct Role {
//!     role: String,
//! }
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let auth = RefreshAuth::<Role>::builder()
//!     .hs256(std::env::var("JWT_SECRET").unwrap_or_else(|_| "an example secret of at least 32 bytes".into()))
//!     .access_ttl(Duration::from_secs(60))
//!     .refresh_ttl(Duration::from_secs(7 * 24 * 3600))
//!     .public_path("/login")
//!     .build()?; // weak configuration is refused here, with a message saying how to fix it
//!
//! let app = ServiceBuilder::new()
//!     .layer(auth.layer())
//!     .service(service_fn(|req: Request<String>| async move {
//!         let greeting = match req.extensions().get::<Arc<Claims<Role>>>() {
//!             Some(claims) => format!("hello {}, {}", claims.sub, claims.custom.role),
//!             None => "hello stranger".to_owned(),
//!         };
//!         Ok::<_, Infallible>(Response::new(greeting))
//!     }));
//!
//! // In the application's login handler, once the password has been checked:
//! let pair = auth.issue("user1", Role { role: "admin".into() }).await?;
//!
//! let req = Request::get("/api/dashboard")
//!     .header("authorization", format!("Bearer {}", pair.access_token))
//!     .body(String::new())?;
//! let res = app.clone().oneshot(req).await?;
//! assert_eq!(res.status(), StatusCode::OK);
//!
//! // The layer answers POST /token itself: rotation hands out a new pair.
//! let req = Request::post("/token")
//!     .header("content-type", "application/json")
//!     .body(format!(r#"{{"refreshToken":"{}"}}"#, pair.refresh_token))?;
//! assert_eq!(app.oneshot(req).await?.status(), StatusCode::OK);
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! # What is guarded
//!
//! By default every path but the refresh and logout routes requires a valid token. Paths
//! named with [`public_path`](RefreshAuthBuilder::public_path) or
//! [`public_prefix`](RefreshAuthBuilder::public_prefix) — and every path in
//! [`optional`](RefreshAuthBuilder::optional) mode — are served either way: with
//! [`Claims`] in the extensions when a valid token came along, with an [`AuthRejection`]
//! otherwise, for the handler (or an adapter's extractor) to decide.
//!
//! # Rotation
//!
//! A refresh token is opaque: a session id, a counter and a MAC under a server key (see
//! [`token::refresh_token`]). The store keeps one record per session, never a token.
//!
//! - Every successful refresh spends the presented token and returns its successor; the
//!   session's expiry slides forward by the refresh TTL, up to the optional absolute
//!   [`session_lifetime`](RefreshAuthBuilder::session_lifetime).
//! - A spent token presented again **inside** the grace window (default 10 s) returns the same
//!   successor, so two tabs refreshing at once both stay logged in.
//! - A spent token presented **after** the grace window revokes the whole session and logs a
//!   `tracing` warning naming the session (never the token).
//! - The swap is a compare-and-swap in the store: N concurrent refreshes of one token never
//!   yield two live successors.
//!
//! # Keys
//!
//! Access tokens are signed with an HMAC secret ([`hs256`](RefreshAuthBuilder::hs256)) or an
//! asymmetric key read from a file ([`keys::SigningKey::from_file`]: ES256, ES384, EdDSA or
//! RS256, in PEM or DER, PKCS#8, SEC1 or PKCS#1). With an asymmetric key the layer can publish
//! its public keys ([`jwks`](RefreshAuthBuilder::jwks)), and a [`KeyRing`](keyring::KeyRing)
//! ([`RefreshAuth::keys`]) rotates the signing key and the refresh-token MAC secret while the
//! layer serves — without a lock on the request path, and without logging anyone out.
//!
//! # Errors
//!
//! Configuration is checked once, by [`RefreshAuthBuilder::build`], and refused with a
//! [`ConfigError`]. Per request, an [`AuthError`] knows its status and RFC error code, and
//! becomes a response in one place. A store failure is `503` with `Retry-After`, never
//! `invalid_grant`: the client keeps its tokens and retries.
//!
//! # Metrics and security events
//!
//! With a [`metrics`](https://docs.rs/metrics) recorder installed, the layer counts
//! verifications, refreshes (a grace replay apart from a reuse), logouts, sessions started and
//! revoked, and times every store call: the names and labels are in
//! [docs/protocol.md §9][protocol]. Without a recorder the cost is one no-op counter call per
//! request. [`on_security_event`](RefreshAuthBuilder::on_security_event) hands the
//! application every [`SecurityEvent`] — a reuse, a grace replay, a revocation — with the
//! session id and subject, never a token.
//!
//! Every refusal's body can be rendered in the application's own format with
//! [`error_body`](RefreshAuthBuilder::error_body); the status and the `WWW-Authenticate`
//! challenge stay as the RFCs require.
//!
//! # Other services
//!
//! A service that only verifies tokens issued elsewhere — by this crate in another service, or
//! by any issuer that publishes a JWK Set — uses a [`resource::ResourceServer`]: no store, no
//! refresh secret, no routes; the same [`Claims`], refusals, cache, metrics and extractors.
//!
//! # Frameworks that are not tower-based
//!
//! What the layer does with a request is one function, [`RefreshAuth::decide`]: one of its
//! own routes (answered by [`RefreshAuth::answer`]), a verdict on the token, or a store check
//! still to run. The tower service and the poem adapter are each a short `match` over it; an
//! adapter for another framework is too: everything it needs is in [`adapter`].
//!
//! # gRPC
//!
//! In front of a tonic (or any gRPC) server, a refused call is answered the way gRPC clients
//! expect: a trailers-only response with `grpc-status: 16` (Unauthenticated) and the RFC 6750
//! challenge in the `www-authenticate` metadata, instead of a JSON body. A request counts as
//! a gRPC call when its content type is `application/grpc` or `application/grpc+…`.
//!
//! # Features
//!
//! - `memory-store` (default): [`store::MemoryStore`].
//! - `redis`: `store::RedisStore`, sessions in Redis.
//! - `postgres`: `store::PostgresStore`, sessions in a PostgreSQL table.
//! - `sqlite`: `store::SqliteStore`, sessions in an SQLite file.
//! - `openapi`: `RefreshAuth::openapi`, the one OpenAPI description of the layer's routes,
//!   made from the built configuration (the axum adapter's `openapi` feature reads it as a
//!   `utoipa` document, the poem adapter's merges it into a `poem-openapi` one).
//! - `remote-jwks`: a [`resource::ResourceServer`] that fetches its keys from a JWKS URL or an
//!   issuer's metadata (reqwest, rustls on aws-lc-rs, tokio). Without it a resource server
//!   verifies with static keys, and the crate gains no dependency.
//!
//! # See also
//!
//! - The wire contract — every status, header and body the layer sends, section by section:
//!   [docs/protocol.md][protocol].
//! - Framework adapters: [`tower-refresh-auth-axum`](https://docs.rs/tower-refresh-auth-axum)
//!   (extractors, responses, `RouterExt` for axum 0.8) and
//!   [`tower-refresh-auth-poem`](https://docs.rs/tower-refresh-auth-poem) (a native poem 3
//!   middleware with the same answers).
//! - Examples, each a crate to run: the dashboard servers on [axum][axum-dashboard] and
//!   [poem][poem-dashboard], a bare [hyper][hyper-example] service, and a [tonic][grpc-example]
//!   gRPC server.
//! - [SECURITY.md][security]: the threat model, and what each setting concedes.
//!
//! [protocol]: https://github.com/tower-refresh-auth/tower-refresh-auth/blob/main/docs/protocol.md
//! [axum-dashboard]: https://github.com/tower-refresh-auth/tower-refresh-auth/tree/main/examples/axum-dashboard
//! [poem-dashboard]: https://github.com/tower-refresh-auth/tower-refresh-auth/tree/main/examples/poem-dashboard
//! [hyper-example]: https://github.com/tower-refresh-auth/tower-refresh-auth/tree/main/examples/hyper
//! [grpc-example]: https://github.com/tower-refresh-auth/tower-refresh-auth/tree/main/examples/grpc
//! [security]: https://github.com/tower-refresh-auth/tower-refresh-auth/blob/main/SECURITY.md
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]

// Every public method of `RefreshAuth`, delegating to the components below.
mod authority;
// The tower face: `call` is a short match over a decision.
mod body;
pub mod future;
mod layer;
mod service;
// What a request is (for every framework), and the routes the layer answers itself.
pub mod adapter;
mod routes;
// The authority: its builder, its key ring, and what it is composed of.
mod builder;
#[cfg(feature = "key-rotation")]
#[cfg_attr(docsrs, doc(cfg(feature = "key-rotation")))]
pub mod fleet;
pub mod keyring;
mod shared;
// Verifying a request's access token: the one path.
mod verification;
// What the authority reports: security events to the application, metrics to a recorder.
pub mod events;
mod telemetry;
// Configuration read per request: the HTTP face's settings, guarded paths, the refresh
// token's transport.
mod face;
mod guard;
pub mod guarding;
pub mod introspection;
pub mod transport;
// Tokens: reading them from requests, minting and verifying them, their keys.
mod credentials;
mod crypto_backend;
pub mod dpop;
pub mod keys;
pub mod token;

/// The access-token fast path's differential oracle, for the fuzz targets (`cargo fuzz`
/// builds with `--cfg fuzzing`). Not part of the API.
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::token::fast::differential::{Oracle, Outcome};
}
// Sessions: their lifecycle and policy, their types, where they live; how fresh their
// authentication is.
pub mod session;
mod sessions;
pub mod step_up;
pub mod store;
// Leaves everyone may use.
pub mod clock;
pub mod error;
mod grpc;
#[cfg(feature = "openapi")]
#[cfg_attr(docsrs, doc(cfg(feature = "openapi")))]
pub mod openapi;
mod rejection;
pub mod resource;
mod response;
pub mod revocation;
pub mod watch;

pub use self::body::ResponseBody;
pub use self::builder::RefreshAuthBuilder;
pub use self::error::{AuthError, ConfigError};
pub use self::events::SecurityEvent;
pub use self::keys::Algorithm;
pub use self::layer::RefreshAuthLayer;
pub use self::rejection::AuthRejection;
pub use self::revocation::SessionChecking;
pub use self::service::RefreshAuthService;
pub use self::shared::RefreshAuth;
pub use self::token::{Claims, NoClaims, TokenPair};
