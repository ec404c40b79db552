//! [`RefreshAuth`], the handle an application holds, and [`Shared`], what it shares behind
//! one `Arc` with its layer, services and the adapters: the components it is composed of
//! (access tokens, sessions, the DPoP policy, introspection) and the HTTP face's settings
//! ([`Http`], one group owned by the face).
//!
//! The builder fills it once; nothing in it changes afterwards but the key sets, which a
//! [`KeyRing`](crate::keyring::KeyRing) swaps whole (see [`AccessTokens`] and
//! [`SessionKeys`](crate::token::refresh_token::SessionKeys), which also holds the session
//! seal keys). `RefreshAuth`'s methods are all in one file, `authority.rs`, each delegating
//! to the component that does the work.

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::Clock;
use crate::dpop::DpopPolicy;
use crate::error::AuthError;
use crate::face::Http;
use crate::introspection::Introspector;
use crate::rejection::AuthRejection;
use crate::sessions::Sessions;
use crate::token::NoClaims;
use crate::token::access::AccessTokens;

/// The configured refresh-token authority: build one with [`RefreshAuth::builder`], install
/// its [`layer`](Self::layer), and call [`issue`](Self::issue) from the login handler.
///
/// Cheap to clone (one `Arc`); every clone shares keys, store and settings.
///
/// `C` is the type of the application's own claims, copied into every access token of a
/// session; [`NoClaims`] when there are none.
///
/// ```
/// use std::time::Duration;
/// use tower_refresh_auth::{NoClaims, RefreshAuth};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let auth = RefreshAuth::<NoClaims>::builder()
///     .hs256(b"an example secret of at least 32 bytes".to_vec())
///     .access_ttl(Duration::from_secs(60))
///     .build()?;
///
/// let pair = auth.issue("user1", NoClaims {}).await?;
/// let claims = auth.verify(&pair.access_token)?;
/// assert_eq!(claims.sub, "user1");
///
/// let renewed = auth.refresh(&pair.refresh_token).await?;
/// assert_ne!(renewed.refresh_token, pair.refresh_token);
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub struct RefreshAuth<C = NoClaims> {
    pub(crate) shared: Arc<Shared>,
    _claims: PhantomData<fn() -> C>,
}

impl<C> Clone for RefreshAuth<C> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
            _claims: PhantomData,
        }
    }
}

impl<C> std::fmt::Debug for RefreshAuth<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefreshAuth")
            .field("shared", &self.shared)
            .finish()
    }
}

impl<C> RefreshAuth<C> {
    pub(crate) fn from_shared(shared: Shared) -> Self {
        Self {
            shared: Arc::new(shared),
            _claims: PhantomData,
        }
    }
}

/// The configuration and state of one authority: the components it is composed of, and the
/// settings of its HTTP face ([`Http`]), grouped.
#[derive(Debug)]
pub(crate) struct Shared {
    /// Access tokens: keys, signing, verifying, the verified-token cache.
    pub(crate) access: Arc<AccessTokens>,
    /// Sessions: their lifecycle, their store, their keys.
    pub(crate) sessions: Sessions,
    /// DPoP (`docs/protocol.md` §10): proofs granted, spent and verified.
    pub(crate) dpop: Arc<DpopPolicy>,
    pub(crate) clock: Arc<dyn Clock>,
    /// How long a retired access-token key keeps verifying (and stays published).
    pub(crate) key_overlap: Duration,
    /// Token introspection (`docs/protocol.md` §14); `None` when off.
    pub(crate) introspection: Option<Introspector>,
    /// The HTTP face's settings: paths, transport, cookies, body limit, renderer.
    pub(crate) http: Http,
}

impl Shared {
    /// `err` as a refusal this authority renders.
    pub(crate) fn rejection(&self, err: AuthError) -> AuthRejection {
        AuthRejection::new(err, Arc::clone(&self.http.renderer))
    }
}
