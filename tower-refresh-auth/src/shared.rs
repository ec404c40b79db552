//! [`Shared`]: everything a built [`RefreshAuth`](crate::RefreshAuth) holds, shared by the
//! layer, its services and the adapters behind one `Arc`.
//!
//! The builder fills it once; nothing in it changes afterwards but the key sets, which a
//! [`KeyRing`](crate::keyring::KeyRing) swaps whole (see [`AccessTokens`] and [`SessionKeys`], which
//! also holds the session seal keys).

use std::sync::Arc;
use std::time::Duration;

use http::HeaderValue;

use crate::cache::TokenCache;
use crate::clock::Clock;
use crate::dpop::DpopSettings;
use crate::error::AuthError;
use crate::events::Events;
use crate::guard::Guard;
use crate::rejection::AuthRejection;
use crate::response::Renderer;
use crate::revocation::SessionCheck;
use crate::store::{DpopStore, RefreshStore, SubjectIndex};
use crate::token::access::AccessTokens;
use crate::token::refresh::SessionKeys;
use crate::transport::Transport;

/// The configuration and state of one authority.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) access: AccessTokens,
    pub(crate) refresh_keys: SessionKeys,
    /// How long a retired access-token key keeps verifying (and stays published).
    pub(crate) key_overlap: Duration,
    /// `public, max-age=N` for the JWKS route.
    pub(crate) jwks_cache_control: HeaderValue,
    pub(crate) store: Arc<dyn RefreshStore>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) refresh_ttl: Duration,
    pub(crate) grace: Duration,
    pub(crate) session_lifetime: Option<Duration>,
    /// The most live sessions one subject keeps: a login past it ends the oldest.
    /// The limit of live sessions per subject; `None` when the store keeps no subject index
    /// and the application set none.
    pub(crate) max_sessions: Option<usize>,
    pub(crate) guard: Guard,
    pub(crate) check_sessions: SessionCheck,
    pub(crate) body_limit: usize,
    pub(crate) transport: Transport,
    pub(crate) access_cookie: Option<String>,
    pub(crate) renderer: Arc<Renderer>,
    pub(crate) cache: Option<TokenCache>,
    pub(crate) events: Events,
    /// DPoP (`docs/protocol.md` §10); `None` when off.
    pub(crate) dpop: Option<DpopSettings>,
}

impl Shared {
    /// The store's [`SubjectIndex`]. The builder refuses a configuration whose routes need one
    /// the store lacks, so this fails only for a library call the application makes itself.
    pub(crate) fn subject_index(&self) -> Result<&dyn SubjectIndex, AuthError> {
        self.store
            .subject_index()
            .ok_or(AuthError::MissingCapability("SubjectIndex"))
    }

    /// The store's [`DpopStore`]; the builder refuses DPoP with a store that lacks it.
    pub(crate) fn dpop_store(&self) -> Result<&dyn DpopStore, AuthError> {
        self.store
            .dpop()
            .ok_or(AuthError::MissingCapability("DpopStore"))
    }

    /// `err` as a refusal this authority renders.
    pub(crate) fn rejection(&self, err: AuthError) -> AuthRejection {
        AuthRejection::new(err, Arc::clone(&self.renderer))
    }
}
