//! Tokens: the claims of an access token, signing and verifying it, the opaque refresh
//! token, and the pair handed to a client.

pub(crate) mod access;
mod claims;
mod pair;
pub mod refresh;

pub(crate) use self::claims::AuthenticationClaims;
pub use self::claims::{Claims, Confirmation, NoClaims};
pub use self::pair::TokenPair;
