//! [`Shared`]: everything a built [`RefreshAuth`](crate::RefreshAuth) holds, shared by the
//! layer, its services and the adapters behind one `Arc`.
//!
//! The builder fills it once; nothing in it changes afterwards but the key sets, which a
//! [`KeyRing`](crate::KeyRing) swaps whole (see [`AccessTokens`] and [`RefreshKeys`], which
//! also holds the session seal keys).

use std::sync::Arc;
use std::time::Duration;

use http::HeaderValue;

use crate::cache::TokenCache;
use crate::clock::Clock;
use crate::cookie::Transport;
use crate::dpop::DpopSettings;
use crate::error::AuthError;
use crate::events::Events;
use crate::guard::Guard;
use crate::rejection::AuthRejection;
use crate::response::Renderer;
use crate::store::RefreshStore;
use crate::token::access::AccessTokens;
use crate::token::refresh::RefreshKeys;

/// The configuration and state of one authority.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) access: AccessTokens,
    pub(crate) refresh_keys: RefreshKeys,
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
    pub(crate) max_sessions: usize,
    pub(crate) guard: Guard,
    pub(crate) check_sessions: bool,
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
    /// `err` as a refusal this authority renders.
    pub(crate) fn rejection(&self, err: AuthError) -> AuthRejection {
        AuthRejection::new(err, Arc::clone(&self.renderer))
    }
}
