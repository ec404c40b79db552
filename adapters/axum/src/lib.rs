//! [axum] 0.8 support for [`tower_refresh_auth`]: extractors for the verified claims,
//! responses for token pairs and errors, and one-line mounting on a [`Router`](axum::Router).
//!
//! The layer does the work — it verifies bearer tokens and answers `POST /token` and
//! `POST /logout` itself; this crate only lets handlers speak axum:
//!
//! - [`AuthClaims`] reads the [`Claims`](tower_refresh_auth::Claims) the layer verified, and
//!   `Option<AuthClaims<C>>` is the form for routes where a token is optional;
//!   [`SharedClaims`] reads them without copying (an `Arc`);
//! - [`TokenResponse`] answers a login with the token pair (and the refresh cookie in cookie
//!   mode); [`ErrorResponse`] turns the core's errors into their wire responses, so `?`
//!   works, and [`ErrorResponse::invalid_credentials`] answers a refused login;
//! - [`StepUpClaims`] reads them only when the login meets the route's
//!   [`StepUp`](tower_refresh_auth::step_up::StepUp) requirement — "authenticated within five
//!   minutes", "with `acr` X" — and otherwise refuses with the RFC 9470 challenge
//!   (`insufficient_user_authentication`, `max_age`, `acr_values`); after the user confirms
//!   who they are, [`RefreshAuth::reauthenticate`](tower_refresh_auth::RefreshAuth::reauthenticate)
//!   raises `auth_time` and returns a new pair for the same session;
//! - [`RouterExt::refresh_auth`] installs the layer on a router, fallback included;
//! - with the `ws` feature, [`ws::close_message`] closes an `axum::extract::ws` WebSocket with
//!   code 1008 when the [`SessionWatch`](tower_refresh_auth::watch::SessionWatch) the handler holds
//!   resolves: the connection ends with its session or its token;
//! - with the `openapi` feature, `openapi::document` describes the layer's routes and its
//!   bearer scheme as a `utoipa` document, to merge into the application's.
//!
//! # Example
//!
//! ```
//! use axum::{Router, extract::State, routing::{get, post}};
//! use tower_refresh_auth::{NoClaims, RefreshAuth};
//! use tower_refresh_auth_axum::{AuthClaims, ErrorResponse, RouterExt, TokenResponse};
//!
//! async fn login(State(auth): State<RefreshAuth>) -> Result<TokenResponse, ErrorResponse> {
//!     // … check the user's credentials first …
//!     let pair = auth.issue("user1", NoClaims {}).await?;
//!     Ok(TokenResponse::new(&auth, &pair))
//! }
//!
//! async fn me(AuthClaims(claims): AuthClaims) -> String {
//!     format!("hello, {}", claims.sub)
//! }
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let auth = RefreshAuth::<NoClaims>::builder()
//!     .hs256(b"an example secret of at least 32 bytes".to_vec())
//!     .public_path("/login")
//!     .build()?;
//!
//! let app: Router = Router::new()
//!     .route("/login", post(login))
//!     .route("/me", get(me))
//!     .with_state(auth.clone())
//!     .refresh_auth(&auth);
//!
//! # use axum::body::Body;
//! # use http::{Request, StatusCode};
//! # use tower::ServiceExt;
//! // Without a token, `/me` is refused by the layer: 401 with a `WWW-Authenticate` challenge.
//! let res = app.clone().oneshot(Request::get("/me").body(Body::empty())?).await?;
//! assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
//!
//! // The login route is public; `/token` and `/logout` are answered by the layer.
//! let res = app.oneshot(Request::post("/login").body(Body::empty())?).await?;
//! assert_eq!(res.status(), StatusCode::OK);
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]

mod extract;
mod metadata;
#[cfg(feature = "openapi")]
#[cfg_attr(docsrs, doc(cfg(feature = "openapi")))]
pub mod openapi;
mod response;
mod router;
mod step_up;
#[cfg(feature = "ws")]
#[cfg_attr(docsrs, doc(cfg(feature = "ws")))]
pub mod ws;

pub use self::extract::{AuthClaims, ClaimsRejection, SharedClaims};
pub use self::metadata::{DpopLogin, LoginMetadata};
pub use self::response::{ErrorResponse, TokenResponse};
pub use self::router::RouterExt;
pub use self::step_up::StepUpClaims;
