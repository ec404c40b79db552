//! The two error types: [`ConfigError`] when the layer is built, [`AuthError`] per request.
//!
//! A request error knows its HTTP status, its RFC error code and whether it carries a
//! `WWW-Authenticate` challenge, and is turned into a response in one place
//! ([`AuthRejection::into_response`](crate::AuthRejection::into_response)).
//!
//! Each error type has its own file; their rendering as responses is in one place, the
//! layer's renderer (`response.rs`), with the application's [`ErrorBody`].

mod auth;
mod body;
mod config;
mod dpop;
mod key_file;
mod key_ring;
mod step_up;

pub use self::auth::AuthError;
pub(crate) use self::auth::{invalid_request, invalid_token, malformed};
pub use self::body::ErrorBody;
pub use self::config::ConfigError;
pub use self::dpop::{DpopCode, DpopError};
pub use self::key_file::KeyFileProblem;
pub use self::key_ring::KeyRingError;
pub use self::step_up::StepUpError;
