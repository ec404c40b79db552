//! Sender-constrained sessions: DPoP (RFC 9449), `docs/protocol.md` §10.
//!
//! With [`DpopMode::Optional`] or [`DpopMode::Required`] given to the builder as [`Dpop`]
//! settings ([`dpop`](crate::RefreshAuthBuilder::dpop)), a client proves on every call that it holds a
//! private key, by signing a short JWT — the *proof* — sent in the `DPoP` header:
//!
//! - a login (the application's [`issue_with`](crate::RefreshAuth::issue_with), given the
//!   request's proof through [`SessionMetadata::with_dpop`](crate::session::SessionMetadata::with_dpop))
//!   or a refresh carrying a valid proof **binds** the session to the key's RFC 7638
//!   thumbprint; its access tokens carry `cnf: {"jkt": …}` and the token responses say
//!   `DPoP`;
//! - every later refresh of a bound session needs a proof by the same key, else `400
//!   invalid_dpop_proof` — and the session is *not* revoked, so a thief holding a copied
//!   refresh token cannot log its owner out;
//! - a protected request with a bound token must send `Authorization: DPoP <token>` and a
//!   proof of that key for this method and URL, with `ath` the token's hash; a bound token
//!   sent as `Bearer` is refused;
//! - every proof's `jti` is remembered in the store for the acceptance window, so a proof is
//!   good once, on every instance sharing the store.
//!
//! ```
//! use tower_refresh_auth::dpop::{Dpop, DpopMode};
//! use tower_refresh_auth::{NoClaims, RefreshAuth};
//!
//! let auth = RefreshAuth::<NoClaims>::builder()
//!     .hs256(b"an example secret of at least 32 bytes".to_vec())
//!     // the URL clients reach this service at: `htu` is compared with it
//!     .dpop(Dpop::required().origin("https://api.example.com"))
//!     .build()?;
//! # let _ = auth;
//!
//! // A DPoP mode without a way to know the public URL is refused when built.
//! let err = RefreshAuth::<NoClaims>::builder()
//!     .hs256(b"an example secret of at least 32 bytes".to_vec())
//!     .dpop(DpopMode::Optional)
//!     .build()
//!     .unwrap_err();
//! assert!(err.to_string().contains(".origin(\"https://api.example.com\")"));
//! # Ok::<_, tower_refresh_auth::ConfigError>(())
//! ```
//!
//! Proofs are checked as RFC 9449 §4.3 says: one `DPoP` header, at most
//! [`MAX_PROOF_LEN`] bytes before anything is parsed, `typ: dpop+jwt`, an `alg` of the
//! allow-list (ES256, ES384, EdDSA; never `none` or an HMAC), a `jwk` header holding a
//! public key only (a private `d` is refused), the signature under that key (by
//! `jsonwebtoken`), `htm`, `htu` (scheme, host, port and path, normalised; no query or
//! fragment), `iat` within the window (default ±60 s), `ath` on protected requests, an
//! unused `jti`, and — when [server nonces](Dpop::nonces) are on —
//! a current `nonce`.

mod htu;
mod nonce;
mod policy;
mod proof;
mod settings;

use std::fmt;
use std::str::FromStr;

pub(crate) use self::htu::Origin;
pub(crate) use self::nonce::Nonces;
pub(crate) use self::policy::{DpopPolicy, Presentation, Target, spend_proof, verify_presented};
pub(crate) use self::proof::{Expected, ProofError, ProofRules, SUPPORTED, Verified};
pub use self::settings::Dpop;
pub use crate::session::DpopProof;
pub use crate::store::ReplayKey;
pub use crate::token::Confirmation;

/// Whether the layer takes DPoP proofs, and whether it insists on them (`docs/protocol.md`
/// §10). Parsed from `off`, `optional` and `required` (the examples' `DPOP` variable).
///
/// ```
/// use tower_refresh_auth::dpop::DpopMode;
///
/// assert_eq!("required".parse::<DpopMode>().unwrap(), DpopMode::Required);
/// assert_eq!(DpopMode::default(), DpopMode::Off);
/// assert!("sometimes".parse::<DpopMode>().is_err());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum DpopMode {
    /// No DPoP: `Authorization: DPoP` is not a scheme the layer knows, proofs are ignored,
    /// and a token bound by another configuration is refused.
    #[default]
    Off,
    /// Bearer and DPoP side by side: a login or refresh with a proof binds its session, one
    /// without stays a bearer session. Challenges name both schemes.
    Optional,
    /// Every login and refresh must carry a proof (`400 invalid_dpop_proof` otherwise), so
    /// every session is bound; protected requests must use the DPoP scheme.
    Required,
}

impl DpopMode {
    /// Whether proofs are taken at all.
    pub const fn is_on(self) -> bool {
        !matches!(self, Self::Off)
    }
}

/// The text was not `off`, `optional` or `required`.
#[derive(Debug, Clone, thiserror::Error)]
#[error("not a DPoP mode: expected `off`, `optional` or `required`")]
pub struct ParseDpopModeError(());

impl FromStr for DpopMode {
    type Err = ParseDpopModeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "off" | "" => Ok(Self::Off),
            "optional" => Ok(Self::Optional),
            "required" => Ok(Self::Required),
            _ => Err(ParseDpopModeError(())),
        }
    }
}

impl fmt::Display for DpopMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Off => "off",
            Self::Optional => "optional",
            Self::Required => "required",
        })
    }
}

/// The longest `DPoP` header accepted; a longer one is refused before any parsing. A proof
/// with a P-256 key is about 550 bytes, with an Ed25519 key about 450.
pub const MAX_PROOF_LEN: usize = 4 * 1024;

/// DPoP as one built layer does it; absent with [`DpopMode::Off`].
#[derive(Debug)]
pub(crate) struct DpopSettings {
    pub(crate) mode: DpopMode,
    pub(crate) rules: ProofRules,
}
