//! Tokens: the claims of an access token, signing and verifying it (and the cache of tokens
//! verified before), the opaque refresh token, and the pair handed to a client.

pub(crate) mod access;
pub(crate) mod cache;
mod claims;
pub(crate) mod decoded;
pub(crate) mod fast;
mod keyset;
mod pair;
pub mod refresh_token;

pub(crate) use self::claims::{AuthenticationClaims, no_session};
pub use self::claims::{Claims, Confirmation, NoClaims};
pub use self::pair::TokenPair;
