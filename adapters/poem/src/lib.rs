//! [poem] 3 support for [`tower_refresh_auth`]: a native middleware, extractors for the
//! verified claims, and responses for token pairs and errors.
//!
//! poem is not tower-based, so [`RefreshAuthMiddleware`] is a short `match` over the same
//! decision the tower layer makes — [`RefreshAuth::decide`], then [`RefreshAuth::answer`]
//! for `POST /token` and `POST /logout` — and answers with byte-identical statuses, headers
//! and bodies:
//!
//! - [`AuthClaims`] reads the [`Claims`](tower_refresh_auth::Claims) the middleware
//!   verified; [`OptionalAuthClaims`] is the form for routes where a token is optional;
//!   [`SharedClaims`] reads them without copying (an `Arc`);
//! - [`StepUpClaims`] reads them only when the login meets the endpoint's
//!   [`StepUp`](tower_refresh_auth::step_up::StepUp) requirement — "authenticated within five
//!   minutes", "with `acr` X" — and otherwise refuses with the RFC 9470 challenge
//!   (`insufficient_user_authentication`, `max_age`, `acr_values`); after the user confirms
//!   who they are, [`RefreshAuth::reauthenticate`](tower_refresh_auth::RefreshAuth::reauthenticate)
//!   raises `auth_time` and returns a new pair for the same session;
//! - [`TokenResponse`] answers a login with the token pair (and the refresh cookie in cookie
//!   mode); [`ErrorResponse`] turns the core's errors into their wire responses, and
//!   [`ErrorResponse::invalid_credentials`] answers a refused login;
//! - with the `openapi` feature, `openapi::merge` adds the layer's routes — the core's one
//!   description, `RefreshAuth::openapi` — to the application's `poem-openapi` document,
//!   and `openapi::spec_endpoint` serves it.
//!
//! # Example
//!
//! ```
//! use poem::{EndpointExt, Route, get, handler, post, web::Data};
//! use tower_refresh_auth::{NoClaims, RefreshAuth};
//! use tower_refresh_auth_poem::{AuthClaims, ErrorResponse, RefreshAuthMiddleware, TokenResponse};
//!
//! #[handler]
//! async fn login(auth: Data<&RefreshAuth>) -> Result<TokenResponse, ErrorResponse> {
//!     // … check the user's credentials first …
//!     let pair = auth.issue("user1", NoClaims {}).await?;
//!     Ok(TokenResponse::new(&auth, &pair))
//! }
//!
//! #[handler]
//! fn me(AuthClaims(claims): AuthClaims) -> String {
//!     format!("hello, {}", claims.sub)
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let auth = RefreshAuth::<NoClaims>::builder()
//!     .hs256(b"an example secret of at least 32 bytes".to_vec())
//!     .public_path("/login")
//!     .build()?;
//!
//! let app = Route::new()
//!     .at("/login", post(login))
//!     .at("/me", get(me))
//!     .data(auth.clone())
//!     .with(RefreshAuthMiddleware::new(auth));
//!
//! # tokio::runtime::Runtime::new()?.block_on(async {
//! let client = poem::test::TestClient::new(app);
//! // Without a token, `/me` is refused: 401 with a `WWW-Authenticate` challenge.
//! client.get("/me").send().await.assert_status(poem::http::StatusCode::UNAUTHORIZED);
//! // The login route is public; `/token` and `/logout` are answered by the middleware.
//! client.post("/login").send().await.assert_status_is_ok();
//! # });
//! # Ok(())
//! # }
//! ```
//!
//! [`RefreshAuth::decide`]: tower_refresh_auth::RefreshAuth::decide
//! [`RefreshAuth::answer`]: tower_refresh_auth::RefreshAuth::answer
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]

mod extract;
mod metadata;
mod middleware;
#[cfg(feature = "openapi")]
#[cfg_attr(docsrs, doc(cfg(feature = "openapi")))]
pub mod openapi;
mod resource;
mod response;
mod step_up;

pub use self::extract::{AuthClaims, ClaimsRejection, OptionalAuthClaims, SharedClaims};
pub use self::metadata::{DpopLogin, LoginMetadata};
pub use self::middleware::{RefreshAuthEndpoint, RefreshAuthMiddleware};
pub use self::resource::{ResourceServerEndpoint, ResourceServerMiddleware};
pub use self::response::{ErrorResponse, TokenResponse};
pub use self::step_up::StepUpClaims;
