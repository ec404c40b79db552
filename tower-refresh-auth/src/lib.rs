//! Refresh-token authentication as tower middleware.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]

mod auth;
mod body;
pub mod clock;
mod config;
mod credentials;
mod endpoint;
pub mod error;
pub mod future;
pub mod keys;
mod layer;
mod response;
mod service;
pub mod store;
pub mod token;

pub use self::auth::RefreshAuth;
pub use self::body::ResponseBody;
pub use self::config::{ParseTransportError, RefreshAuthBuilder, RefreshTransport};
pub use self::error::{AuthError, ConfigError};
pub use self::layer::RefreshAuthLayer;
pub use self::response::AuthRejection;
pub use self::service::RefreshAuthService;
pub use self::token::{Claims, NoClaims, TokenPair};
pub use jsonwebtoken::Algorithm;
