//! Sessions, the component: starting one at a login, refreshing, logging out, revoking,
//! listing and checking them — decided here once (a store only does the atomic operations):
//! the refresh and its rotation policy ([`refresh`]), its DPoP binding ([`binding`]), the
//! rest of the lifecycle ([`lifecycle`]), listing and the per-subject limit ([`listing`]),
//! re-authentication ([`reauthentication`]), and the revocation feed's record of every
//! revocation ([`revoking`]).
//!
//! The public types of a session (its id, its record, its metadata) are in
//! [`crate::session`]; this module is what acts on them.
//!
//! # Reading a request
//!
//! Each file below is called from one before it, and none calls back into one before it
//! (`tests/layout.rs` holds the code to the refresh's line, and checks that no two modules
//! call each other).
//!
//! a refresh reads: routes/mod.rs → routes/token.rs → sessions/refresh.rs → token/refresh_token.rs → token/access.rs
//!
//! That is the route's dispatch, the route (the request's token in, the pair's response
//! out), the refresh with its rotation policy, the refresh token's MAC and the record's seal,
//! and the new access token's signature. With DPoP on, a refresh also reads
//! sessions/binding.rs → dpop/policy.rs (and the route adds the server's nonce); a reuse,
//! sessions/revoking.rs. Beside the path, the
//! leaves every component uses: the route reads its body with `routes/request.rs` and its
//! cookie with `transport.rs`, the store is a trait (`store/`), and `telemetry.rs` counts.
//!
//! a guarded request reads: service.rs → adapter.rs → verification.rs → dpop/policy.rs → credentials.rs → token/access.rs
//!
//! That is the tower service's `match`, the decision (`Shared::decide`), the one
//! verification path (the token, then — only when asked — the store), the token's scheme and,
//! with DPoP on, its proof (`dpop/proof.rs`), the header or cookie it is read from, and its
//! signature and claims: under an HMAC key through `token/fast.rs`, and through
//! `token/cache.rs` when the verified-token cache is on. No step calls back into one before
//! it; the claims come back typed, with no closure.

mod binding;
mod lifecycle;
mod listing;
mod reauthentication;
mod refresh;
mod revoking;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use crate::clock::Clock;
use crate::dpop::DpopPolicy;
use crate::error::AuthError;
use crate::events::Events;
use crate::revocation::SessionCheck;
use crate::store::{RefreshStore, SubjectIndex};
use crate::token::access::AccessTokens;
use crate::token::refresh_token::SessionKeys;

/// The target of the sessions' log lines and spans: the one they had before the lifecycle
/// moved out of `rotation.rs`, so that filters written for it keep working.
const TARGET: &str = "tower_refresh_auth::rotation";

/// The sessions of one built layer: where they live, the keys that mint their refresh tokens
/// and seal their records, their lifetimes, and the components a refresh calls on (the
/// access tokens it signs, the DPoP policy a binding follows).
#[derive(Debug)]
pub(crate) struct Sessions {
    pub(crate) store: Arc<dyn RefreshStore>,
    pub(crate) clock: Arc<dyn Clock>,
    /// The refresh-token MAC keys and the record seal keys.
    pub(crate) keys: SessionKeys,
    pub(crate) access: Arc<AccessTokens>,
    pub(crate) dpop: Arc<DpopPolicy>,
    /// How far each refresh slides the session's expiry.
    pub(crate) refresh_ttl: Duration,
    /// How long a spent refresh token still gets its successor.
    pub(crate) grace: Duration,
    /// The absolute limit of a session, if any.
    pub(crate) session_lifetime: Option<Duration>,
    /// The limit of live sessions per subject; `None` when the store keeps no subject index
    /// and the application set none.
    pub(crate) max_sessions: Option<usize>,
    /// What a guarded request's session is checked against: nothing, the store, or the
    /// revocation feed's local set.
    pub(crate) check_sessions: SessionCheck,
    pub(crate) events: Events,
}

impl Sessions {
    /// The store's [`SubjectIndex`]. The builder refuses a configuration whose routes need one
    /// the store lacks, so this fails only for a library call the application makes itself.
    pub(crate) fn subject_index(&self) -> Result<&dyn SubjectIndex, AuthError> {
        self.store
            .subject_index()
            .ok_or(AuthError::MissingCapability("SubjectIndex"))
    }
}
