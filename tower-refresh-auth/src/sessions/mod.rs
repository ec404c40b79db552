//! Sessions, the component: starting one at a login, refreshing, logging out, revoking,
//! listing and checking them — the lifecycle, decided here once ([`lifecycle`]; a store only
//! does the atomic operations) — the pure rotation policy beside it ([`rotation`]),
//! re-authentication ([`reauthentication`]), and the revocation feed's record of every
//! revocation ([`revoking`]).
//!
//! The public types of a session (its id, its record, its metadata) are in
//! [`crate::session`]; this module is what acts on them.

mod lifecycle;
mod reauthentication;
mod revoking;
mod rotation;
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
