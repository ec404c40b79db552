//! [`RefreshAuth`]: the configured authority — issues, verifies, rotates and revokes.
//!
//! Everything the layer does is a method here, so an adapter for a framework that is not
//! tower-based (poem) calls exactly the same code.

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Response};
use http_body_util::Full;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::cache::TokenCache;
use crate::clock::{Clock, to_millis};
use crate::config::{Guard, RefreshAuthBuilder, Transport};
use crate::credentials;
use crate::endpoint::{self, Endpoint};
use crate::error::AuthError;
use crate::layer::RefreshAuthLayer;
use crate::response::AuthRejection;
use crate::store::{RefreshStore, Rotation, Session, SessionId};
use crate::token::access::AccessTokens;
use crate::token::refresh::RefreshKeys;
use crate::token::{Claims, NoClaims, TokenPair};

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
    pub(crate) inner: Arc<Inner>,
    _claims: PhantomData<fn() -> C>,
}

impl<C> Clone for RefreshAuth<C> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
            _claims: PhantomData,
        }
    }
}

impl<C> std::fmt::Debug for RefreshAuth<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefreshAuth")
            .field("inner", &self.inner)
            .finish()
    }
}

/// Everything a built `RefreshAuth` holds; shared by the layer, its services and adapters.
#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) access: AccessTokens,
    pub(crate) refresh_keys: RefreshKeys,
    pub(crate) store: Arc<dyn RefreshStore>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) refresh_ttl: Duration,
    pub(crate) grace: Duration,
    pub(crate) session_lifetime: Option<Duration>,
    pub(crate) guard: Guard,
    pub(crate) check_sessions: bool,
    pub(crate) refresh_path: String,
    pub(crate) logout_path: String,
    pub(crate) body_limit: usize,
    pub(crate) transport: Transport,
    pub(crate) access_cookie: Option<String>,
    pub(crate) realm: Arc<str>,
    pub(crate) cache: Option<TokenCache>,
}

impl<C> RefreshAuth<C> {
    pub(crate) fn from_inner(inner: Inner) -> Self {
        Self {
            inner: Arc::new(inner),
            _claims: PhantomData,
        }
    }

    /// A builder with the defaults of the wire contract: access tokens for 1 minute, refresh
    /// tokens for 7 days, a 10 second reuse grace window, `POST /token` and `POST /logout`,
    /// every path guarded, tokens in the request body, the in-memory store.
    pub fn builder() -> RefreshAuthBuilder<C> {
        RefreshAuthBuilder::new()
    }

    /// The tower layer: verifies bearer tokens and answers the refresh and logout routes.
    pub fn layer(&self) -> RefreshAuthLayer<C> {
        RefreshAuthLayer::new(self.clone())
    }

    /// Refreshes a pair: spends `refresh_token` and returns its successor with a new access
    /// token (rotation and reuse detection as in the [crate docs](crate#rotation)).
    ///
    /// # Errors
    ///
    /// [`AuthError::InvalidGrant`] for any token that cannot be refreshed, whatever the reason;
    /// [`AuthError::Store`] when the store failed (the session is untouched: retry).
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenPair, AuthError> {
        self.inner.refresh(refresh_token).await
    }

    /// Logs out: revokes the whole session `refresh_token` belongs to, if it is a genuine
    /// token of a session (spent or not). Anything else is ignored, so the answer is no oracle
    /// (RFC 7009 §2.2).
    ///
    /// # Errors
    ///
    /// [`AuthError::Store`] when the store failed: the logout did not happen.
    pub async fn logout(&self, refresh_token: &str) -> Result<(), AuthError> {
        self.inner.logout(refresh_token).await
    }

    /// Revokes one session: its refresh tokens stop working at once, its access tokens when
    /// they expire (or at once, with [session checking](RefreshAuthBuilder::check_sessions)).
    /// Returns whether the session existed.
    pub async fn revoke_session(&self, session: &SessionId) -> Result<bool, AuthError> {
        self.inner.revoke(session).await
    }

    /// Revokes every session of `subject`: "log out everywhere". Returns how many.
    pub async fn revoke_subject(&self, subject: &str) -> Result<u64, AuthError> {
        let n = self.inner.store.revoke_subject(subject).await?;
        if let Some(cache) = &self.inner.cache {
            cache.forget_subject(subject);
        }
        tracing::info!(sessions = n, "revoked every session of a subject");
        Ok(n)
    }

    /// The response for a login: the pair as JSON (`accessToken`, `refreshToken`,
    /// `tokenType`, `expiresIn`) with `Cache-Control: no-store`; in cookie mode the refresh
    /// token goes into the `Set-Cookie` headers instead of the body.
    pub fn token_response(&self, pair: &TokenPair) -> Response<Full<Bytes>> {
        endpoint::pair_response(&self.inner, pair, endpoint::Format::Json)
    }

    /// Wraps an error as an [`AuthRejection`] carrying this layer's realm, to render it.
    pub fn rejection(&self, error: AuthError) -> AuthRejection {
        AuthRejection::new(error, Arc::clone(&self.inner.realm))
    }

    /// Whether `path` is the refresh or the logout route.
    pub fn is_endpoint(&self, path: &str) -> bool {
        self.inner.endpoint(path).is_some()
    }

    /// Answers a request to the refresh or logout route exactly as the layer does; `None` when
    /// `req` is for another path. For adapters of frameworks that are not tower-based.
    pub async fn handle_endpoint<B>(&self, req: Request<B>) -> Option<Response<Full<Bytes>>>
    where
        B: http_body::Body,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let which = self.inner.endpoint(req.uri().path())?;
        Some(endpoint::handle(&self.inner, which, req).await)
    }

    /// Whether `path` is public: reachable without a token (the refresh and logout routes, the
    /// configured public paths, or every path in optional mode).
    pub fn is_public(&self, path: &str) -> bool {
        self.inner.guard.is_public(path)
    }

    /// Whether the access token of a verified request must also belong to a live session.
    pub fn checks_sessions(&self) -> bool {
        self.inner.check_sessions
    }
}

impl<C> RefreshAuth<C>
where
    C: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
{
    /// Starts a session for `subject` and returns its first pair: call this from the login
    /// handler once the credentials have been checked.
    ///
    /// # Errors
    ///
    /// [`AuthError::Claims`] if `claims` does not serialize to a JSON object or sets a
    /// registered claim (`sub`, `exp`, …); [`AuthError::Store`] if the store failed.
    pub async fn issue(
        &self,
        subject: impl Into<String>,
        claims: C,
    ) -> Result<TokenPair, AuthError> {
        let subject = subject.into();
        let custom = AccessTokens::custom_claims(&claims)?;
        let inner = &self.inner;
        let now = inner.clock.now();
        let id = SessionId::random();
        // Signed before the session is stored, so a claims error stores nothing.
        let access_token = inner.access.sign(&subject, &id, &custom, now)?;
        let session = Session {
            id,
            claims: Value::Object(custom).to_string(),
            subject,
            counter: 0,
            created_at: now,
            rotated_at: now,
            expires_at: now + inner.refresh_ttl,
            absolute_expires_at: inner.session_lifetime.map(|l| now + l),
        };
        inner.store.create(&session).await?;
        tracing::debug!(session = %id, "session started");
        Ok(TokenPair {
            access_token,
            refresh_token: inner.refresh_keys.mint(&id, 0),
            expires_in: inner.access.ttl_secs(),
            session_id: id,
        })
    }

    /// Verifies an access token's signature, algorithm, type, issuer, audience and expiry.
    /// Does not consult the store; see [`authenticate`](Self::authenticate).
    pub fn verify(&self, token: &str) -> Result<Claims<C>, AuthError>
    where
        C: Clone + Send + Sync + 'static,
    {
        let now = self.inner.clock.now();
        let Some(cache) = &self.inner.cache else {
            return self.inner.access.verify(token, now);
        };
        let now_ms = to_millis(now);
        let key = cache.key(token);
        if let Some(claims) = cache.get::<Claims<C>>(key, now_ms) {
            return Ok(claims);
        }
        let claims: Claims<C> = self.inner.access.verify(token, now)?;
        let deadline = self.inner.access.deadline_ms(claims.exp);
        cache.insert(
            key,
            claims.clone(),
            deadline,
            claims.sid,
            &claims.sub,
            now_ms,
        );
        Ok(claims)
    }

    /// Authenticates a request by its headers, as the layer does on a guarded path: reads the
    /// bearer token (and the access-token cookie, if configured), verifies it, and with
    /// session checking on, asks the store whether its session is still live.
    ///
    /// # Errors
    ///
    /// [`AuthError::MissingCredentials`] when the request carries no token at all; otherwise
    /// the error the layer would answer with.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Claims<C>, AuthError> {
        let claims = self.authenticate_sync(headers)?;
        if self.inner.check_sessions {
            self.inner.check_session(&claims.sid).await?;
        }
        Ok(claims)
    }

    /// Reads and verifies the token without the session check: the layer's hot path.
    pub(crate) fn authenticate_sync(&self, headers: &HeaderMap) -> Result<Claims<C>, AuthError> {
        let token = credentials::access_token(headers, self.inner.access_cookie.as_deref())?;
        self.verify(token)
    }
}

impl Inner {
    pub(crate) fn endpoint(&self, path: &str) -> Option<Endpoint> {
        if path == self.refresh_path {
            Some(Endpoint::Refresh)
        } else if path == self.logout_path {
            Some(Endpoint::Logout)
        } else {
            None
        }
    }

    /// With session checking on: the session must still be live.
    pub(crate) async fn check_session(&self, id: &SessionId) -> Result<(), AuthError> {
        match self.store.load(id, self.clock.now()).await? {
            Some(_) => Ok(()),
            None => Err(crate::error::invalid_token("the session has been revoked")),
        }
    }

    /// Rotation with reuse detection (RFC 9700 §4.14.2). The whole policy lives here, once;
    /// the store only does the compare-and-swap.
    pub(crate) async fn refresh(&self, token: &str) -> Result<TokenPair, AuthError> {
        // A forged or garbled token costs a MAC, never a store round trip.
        let presented = self
            .refresh_keys
            .verify(token)
            .ok_or(AuthError::InvalidGrant)?;
        let now = self.clock.now();
        let id = presented.session;
        let session = match self
            .store
            .rotate(&id, presented.counter, now, now + self.refresh_ttl)
            .await?
        {
            Rotation::Rotated(session) => session,
            // The token was spent a moment ago by a concurrent refresh (another tab): inside
            // the grace window it gets the very same successor, derived again.
            Rotation::Conflict(session)
                if session.counter == presented.counter.wrapping_add(1)
                    && now
                        .duration_since(session.rotated_at)
                        .map_or(true, |since| since <= self.grace) =>
            {
                tracing::debug!(session = %id, "spent refresh token replayed inside the grace window");
                session
            }
            Rotation::Conflict(session) if session.counter > presented.counter => {
                // A spent token after the grace window: someone holds a copy. Revoke the
                // whole family; the legitimate user logs in again.
                self.revoke(&id).await?;
                tracing::warn!(
                    session = %id,
                    presented = presented.counter,
                    current = session.counter,
                    "refresh token reuse detected; session revoked"
                );
                return Err(AuthError::InvalidGrant);
            }
            Rotation::Conflict(_) | Rotation::NotFound => return Err(AuthError::InvalidGrant),
        };
        let custom: Map<String, Value> = serde_json::from_str(&session.claims)
            .map_err(|e| AuthError::Store(crate::store::StoreError::Corrupt(e.to_string())))?;
        let access_token = self.access.sign(&session.subject, &id, &custom, now)?;
        Ok(TokenPair {
            access_token,
            refresh_token: self.refresh_keys.mint(&id, session.counter),
            expires_in: self.access.ttl_secs(),
            session_id: id,
        })
    }

    /// Deletes a session from the store and its tokens from the verified-token cache.
    pub(crate) async fn revoke(&self, id: &SessionId) -> Result<bool, AuthError> {
        let existed = self.store.revoke(id).await?;
        if let Some(cache) = &self.cache {
            cache.forget_session(id);
        }
        Ok(existed)
    }

    pub(crate) async fn logout(&self, token: &str) -> Result<(), AuthError> {
        if let Some(presented) = self.refresh_keys.verify(token)
            && self.revoke(&presented.session).await?
        {
            tracing::debug!(session = %presented.session, "session logged out");
        }
        Ok(())
    }
}
