//! Every public method of [`RefreshAuth`], each delegating in a line or two to the component
//! that does the work: the sessions (issue, refresh, logout, revoke, list, re-authenticate),
//! the DPoP policy, the access tokens, the HTTP face (the [decision](crate::adapter), the
//! routes, the [layer](RefreshAuthLayer)), the [`KeyRing`] and the
//! [builder](RefreshAuthBuilder).
//!
//! Nothing below imports this file: it is the top of the crate's one-way graph.

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, Uri};
use serde::Serialize;
use serde::de::DeserializeOwned;
#[cfg(feature = "openapi")]
use serde_json::Value;

use crate::adapter::{Decision, Endpoint};
use crate::builder::RefreshAuthBuilder;
use crate::credentials::Presented;
use crate::dpop::{DpopMode, DpopProof};
use crate::error::AuthError;
use crate::events::RevocationReason;
use crate::keyring::KeyRing;
use crate::layer::RefreshAuthLayer;
use crate::rejection::AuthRejection;
use crate::revocation::FeedStatus;
use crate::routes::token::{PairShape, pair_response};
use crate::session::{
    Authentication, Login, PageCursor, SessionId, SessionInfo, SessionInfoPage, SessionMetadata,
};
use crate::shared::RefreshAuth;
use crate::step_up::StepUp;
use crate::token::access::{AccessTokens, VerifyAccess};
use crate::token::{Claims, TokenPair};
use crate::watch::SessionWatch;

impl<C> RefreshAuth<C> {
    /// A builder with the defaults of the protocol document: access tokens for 1 minute,
    /// refresh tokens for 7 days, a 10 second reuse grace window, `POST /token` and
    /// `POST /logout`, every path guarded, tokens in the request body, the in-memory store.
    pub fn builder() -> RefreshAuthBuilder<C> {
        RefreshAuthBuilder::new()
    }

    /// The tower layer: verifies bearer tokens and answers the refresh and logout routes.
    pub fn layer(&self) -> RefreshAuthLayer<C> {
        RefreshAuthLayer::new(self.clone())
    }

    /// The handle that rotates this authority's keys at run time; see [`KeyRing`].
    pub fn keys(&self) -> KeyRing {
        KeyRing::new(std::sync::Arc::clone(&self.shared))
    }

    /// Answers a request for one of the layer's routes exactly as the layer does (every error
    /// rendered as its response). For adapters of frameworks that are not tower-based.
    pub async fn answer<B>(&self, route: Endpoint, req: Request<B>) -> Response<Bytes>
    where
        B: http_body::Body,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        crate::routes::answer(&self.shared, route, req).await
    }

    /// Refreshes a pair: spends `refresh_token` and returns its successor with a new access
    /// token (rotation and reuse detection as in the [crate docs](crate#rotation)).
    ///
    /// # Errors
    ///
    /// [`AuthError::InvalidGrant`] for any token that cannot be refreshed, whatever the reason;
    /// [`AuthError::Store`] when the store failed (the session is untouched: retry).
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenPair, AuthError> {
        self.shared.sessions.refresh(refresh_token, None).await
    }

    /// [`refresh`](Self::refresh) with the request's DPoP proof (from
    /// [`verify_dpop`](Self::verify_dpop)), as `POST /token` does: a bound session needs a
    /// proof by its key, an unbound one is bound to the proof's key (`docs/protocol.md` §10).
    ///
    /// # Errors
    ///
    /// As [`refresh`](Self::refresh), and [`AuthError::Dpop`] (`400 invalid_dpop_proof`)
    /// when the session is bound to another key, required mode and no proof, or the proof
    /// was spent before; the session is then left as it was. The proof is spent here, once
    /// the refresh token has verified and its session is known.
    pub async fn refresh_with_proof(
        &self,
        refresh_token: &str,
        proof: Option<&DpopProof>,
    ) -> Result<TokenPair, AuthError> {
        let verified = proof.map(Into::into);
        (self
            .shared
            .sessions
            .refresh(refresh_token, verified.as_ref()))
        .await
    }

    /// The request's DPoP proof, verified for a login or refresh at `method` and `uri` (no
    /// `ath`): hand it to [`issue_with`](Self::issue_with) through
    /// [`Login::with_dpop`] to bind the new session to the key. `None` with DPoP
    /// off, or optional and no proof. The adapters' `DpopLogin` extractors call this.
    ///
    /// Its `jti` is **not** spent here: [`issue_with`](Self::issue_with) spends it once the
    /// application has checked the credentials and starts the session (and
    /// [`refresh_with_proof`](Self::refresh_with_proof) once the refresh token verified), so
    /// a request with a wrong password, or with nothing but a proof, takes no room in the
    /// store's replay memory. A replayed proof is refused there.
    ///
    /// # Errors
    ///
    /// [`AuthError::Dpop`] (`400 invalid_dpop_proof`) for an invalid proof, or none in
    /// required mode; `use_dpop_nonce` with server nonces on.
    pub async fn verify_dpop(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
    ) -> Result<Option<DpopProof>, AuthError> {
        let verified = self.shared.dpop.grant_proof(method, uri, headers).await?;
        Ok(verified.map(Into::into))
    }

    /// The [`Login`] of a login request, for [`issue_with`](Self::issue_with): its user
    /// agent ([`SessionMetadata::from_headers`]) and, with DPoP on, its verified proof
    /// ([`verify_dpop`](Self::verify_dpop)), so the session is bound to the client's key. The
    /// adapters' `DpopLogin` extractors call this.
    ///
    /// ```
    /// use tower_refresh_auth::dpop::Dpop;
    /// use tower_refresh_auth::{NoClaims, RefreshAuth};
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let auth = RefreshAuth::<NoClaims>::builder()
    ///     .hs256(b"an example secret of at least 32 bytes".to_vec())
    ///     .dpop(Dpop::required().origin("https://app.example.com"))
    ///     .build()?;
    /// // A login request without a proof: refused with `400 invalid_dpop_proof`.
    /// let req = http::Request::post("/login").body(())?;
    /// let err = auth.login_metadata(req.method(), req.uri(), req.headers()).await.unwrap_err();
    /// assert_eq!(err.error_code(), Some("invalid_dpop_proof"));
    /// # Ok::<_, Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    ///
    /// As [`verify_dpop`](Self::verify_dpop).
    pub async fn login_metadata(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
    ) -> Result<Login, AuthError> {
        let proof = self.verify_dpop(method, uri, headers).await?;
        Ok(SessionMetadata::from_headers(headers).with_dpop(proof))
    }

    /// The layer's DPoP mode.
    pub fn dpop_mode(&self) -> DpopMode {
        self.shared.dpop.mode()
    }

    /// Logs out: revokes the whole session `refresh_token` belongs to, if it is a genuine
    /// token of a session (spent or not). Anything else is ignored, so the answer is no oracle
    /// (RFC 7009 §2.2).
    ///
    /// # Errors
    ///
    /// [`AuthError::Store`] when the store failed: the logout did not happen.
    pub async fn logout(&self, refresh_token: &str) -> Result<(), AuthError> {
        self.shared.sessions.logout(refresh_token).await
    }

    /// Revokes one session: its refresh tokens stop working at once, its access tokens when
    /// they expire (or at once, with [session checking](crate::RefreshAuthBuilder::check_sessions)).
    /// Returns whether the session existed.
    ///
    /// # Errors
    ///
    /// [`AuthError::Store`] when the store failed.
    pub async fn revoke_session(&self, session: &SessionId) -> Result<bool, AuthError> {
        let reason = RevocationReason::Session;
        self.shared.sessions.revoke(session, None, reason).await
    }

    /// Revokes every session of `subject`: "log out everywhere". Returns how many.
    ///
    /// # Errors
    ///
    /// [`AuthError::Store`] when the store failed.
    pub async fn revoke_subject(&self, subject: &str) -> Result<u64, AuthError> {
        self.shared.sessions.revoke_subject(subject).await
    }

    /// Every live session of `subject`, newest first (at most the
    /// [limit per subject](crate::RefreshAuthBuilder::max_sessions_per_subject), give or take
    /// logins racing); `GET /sessions` lists them a [page](Self::sessions_page) at a time. A
    /// record that fails its seal is left out (and logged at `error`).
    ///
    /// # Errors
    ///
    /// [`AuthError::Store`] when the store failed.
    pub async fn sessions(&self, subject: &str) -> Result<Vec<SessionInfo>, AuthError> {
        self.shared.sessions.sessions(subject).await
    }

    /// One page of the live sessions of `subject`, newest first: at most `limit` (at least
    /// one), those after `after` (the [`next`](SessionInfoPage::next) of the page before), or
    /// from the newest when `None`. What `GET /sessions` answers with (`docs/protocol.md` §8).
    /// A record that fails its seal is left out (and logged at `error`), so a page may hold
    /// fewer than `limit` with more to come.
    ///
    /// ```
    /// use tower_refresh_auth::{NoClaims, RefreshAuth};
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// # let auth = RefreshAuth::<NoClaims>::builder().hs256(b"an example secret of at least 32 bytes".to_vec()).build()?;
    /// for _ in 0..3 {
    ///     auth.issue("user1", NoClaims {}).await?;
    /// }
    /// let first = auth.sessions_page("user1", 2, None).await?;
    /// assert_eq!(first.sessions.len(), 2);
    /// let rest = auth.sessions_page("user1", 2, first.next.as_ref()).await?;
    /// assert_eq!((rest.sessions.len(), rest.next), (1, None));
    /// # Ok::<_, Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    ///
    /// [`AuthError::Store`] when the store failed.
    pub async fn sessions_page(
        &self,
        subject: &str,
        limit: usize,
        after: Option<&PageCursor>,
    ) -> Result<SessionInfoPage, AuthError> {
        let sessions = &self.shared.sessions;
        sessions.sessions_page(subject, limit, after).await
    }

    /// A [`SessionWatch`] for a long-lived connection opened with `claims` (a WebSocket
    /// upgrade, a gRPC server stream): it resolves when their token expires or, as far as
    /// the layer's [session checking](crate::RefreshAuthBuilder::check_sessions) can tell,
    /// their session or subject is revoked. The handler selects on it beside the connection
    /// and closes the connection when it resolves.
    pub fn watch<T>(&self, claims: &Claims<T>) -> SessionWatch {
        SessionWatch::new(&self.shared, claims)
    }

    /// Where this instance stands in following the store's revocation feed; `None` unless
    /// it was built with [`SessionChecking::Feed`](crate::SessionChecking::Feed).
    pub fn revocation_feed_status(&self) -> Option<FeedStatus> {
        self.shared.sessions.check_sessions.status()
    }

    /// The response for a login: the pair as JSON (`accessToken`, `refreshToken`,
    /// `tokenType`, `expiresIn`) with `Cache-Control: no-store`; in cookie mode the refresh
    /// token goes into the `Set-Cookie` headers instead of the body.
    pub fn token_response(&self, pair: &TokenPair) -> Response<Bytes> {
        pair_response(&self.shared, pair, PairShape::CamelCase)
    }

    /// Wraps an error as an [`AuthRejection`] rendered as this layer renders its errors (its
    /// realm, the application's [error body](crate::RefreshAuthBuilder::error_body)).
    pub fn rejection(&self, error: AuthError) -> AuthRejection {
        self.shared.rejection(error)
    }

    /// Checks a request's verified claims against a [step-up requirement](StepUp) with the
    /// layer's clock: `Ok` when the user authenticated recently enough (and with an accepted
    /// `acr`), else the refusal as this layer renders it — `401`,
    /// `WWW-Authenticate: Bearer … error="insufficient_user_authentication", …, max_age=N`
    /// (RFC 9470 §3), and the JSON body of `docs/protocol.md` §1 or the application's
    /// [error body](crate::RefreshAuthBuilder::error_body). The function for tower services
    /// and tonic; the adapters' `StepUpClaims` extractors call it. A refusal's
    /// [`response_to`](AuthRejection::response_to) answers a gRPC call with `Unauthenticated`
    /// and the challenge in its metadata.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_refresh_auth::step_up::StepUp;
    /// use tower_refresh_auth::{Claims, NoClaims, RefreshAuth};
    ///
    /// // In a handler behind the layer, with the claims from the request extensions:
    /// fn delete_account(auth: &RefreshAuth, claims: &Claims) -> http::Response<bytes::Bytes> {
    ///     if let Err(refusal) = auth.step_up(claims, &StepUp::max_age(Duration::from_secs(300))) {
    ///         return refusal.into_response();
    ///     }
    ///     http::Response::new("deleted".into())
    /// }
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// # let auth = RefreshAuth::<NoClaims>::builder().hs256(b"an example secret of at least 32 bytes".to_vec()).build()?;
    /// # let claims = auth.verify(&auth.issue("user1", NoClaims {}).await?.access_token)?;
    /// assert_eq!(delete_account(&auth, &claims).status(), 200);
    /// # Ok::<_, Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    ///
    /// An [`AuthRejection`] of [`AuthError::InsufficientUserAuthentication`] when the claims
    /// do not meet `requirement`.
    pub fn step_up(&self, claims: &Claims<C>, requirement: &StepUp) -> Result<(), AuthRejection> {
        let now = self.shared.clock.now();
        (requirement.check(claims, now)).map_err(|err| self.shared.rejection(err))
    }

    /// Re-authenticates session `session` after the application checked the user again (a
    /// password prompt, a second factor): raises the session's `auth_time` to now and sets
    /// its `acr`/`amr` to `how`, rotates it as a refresh does, and returns a new pair for the
    /// same session (`docs/protocol.md` §15). The session list still shows one session.
    ///
    /// The refresh token the client held is spent by it: replayed inside the grace window it
    /// gets this same successor, later it counts as a reuse and revokes the session. The
    /// swap is atomic ([`ReauthStore`](crate::store::ReauthStore)): a concurrent refresh is
    /// either before it (and this call rotates from there) or after it.
    ///
    /// Call it from a route the layer guards, with the `sid` of the request's verified
    /// claims, and only once the credentials are checked: it trusts the caller to have done
    /// so.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_refresh_auth::session::Authentication;
    /// use tower_refresh_auth::step_up::StepUp;
    /// use tower_refresh_auth::{NoClaims, RefreshAuth};
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// # let auth = RefreshAuth::<NoClaims>::builder().hs256(b"an example secret of at least 32 bytes".to_vec()).build()?;
    /// let login = auth.issue("user1", NoClaims {}).await?;
    /// let mfa = StepUp::acr_values(["urn:example:mfa"]);
    /// assert!(auth.step_up(&auth.verify(&login.access_token)?, &mfa).is_err());
    ///
    /// // … the user typed a one-time code, and the application checked it …
    /// let how = Authentication::new().acr("urn:example:mfa").amr(["pwd", "otp"]);
    /// let pair = auth.reauthenticate(&login.session_id, how).await?;
    /// assert_eq!(pair.session_id, login.session_id);
    /// assert!(auth.step_up(&auth.verify(&pair.access_token)?, &mfa).is_ok());
    /// assert_eq!(auth.sessions("user1").await?.len(), 1);
    /// # Ok::<_, Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    ///
    /// [`AuthError::InvalidToken`] "the session has been revoked" when no live session has
    /// that id (or its record fails its seal); [`AuthError::Store`] when the store failed, or
    /// the session kept moving under concurrent refreshes (the client may retry);
    /// [`AuthError::MissingCapability`] when the store does not implement
    /// [`ReauthStore`](crate::store::ReauthStore).
    pub async fn reauthenticate(
        &self,
        session: &SessionId,
        how: Authentication,
    ) -> Result<TokenPair, AuthError> {
        self.shared.sessions.reauthenticate(session, how).await
    }

    #[cfg(feature = "openapi")]
    #[cfg_attr(docsrs, doc(cfg(feature = "openapi")))]
    /// This authority's routes as an OpenAPI document (see [the module](crate::openapi)):
    /// `paths`, `components.schemas`, `components.responses` (`RefreshAuthUnauthorized` and
    /// `RefreshAuthBadCredentials`, for the application's protected operations) and
    /// `components.securitySchemes`.
    ///
    /// With a custom [`error_body`](crate::RefreshAuthBuilder::error_body) the error schemas
    /// describe the standard body, not the application's.
    ///
    /// The document follows the configuration:
    ///
    /// ```
    /// use tower_refresh_auth::dpop::Dpop;
    /// use tower_refresh_auth::openapi::DPOP_SECURITY_SCHEME;
    /// use tower_refresh_auth::{NoClaims, RefreshAuth};
    ///
    /// let auth = RefreshAuth::<NoClaims>::builder()
    ///     .hs256(b"an example secret of at least 32 bytes".to_vec())
    ///     .refresh_path("/auth/token")
    ///     .sessions_path("/me/sessions")
    ///     .dpop(Dpop::required().origin("https://api.example.com"))
    ///     .build()?;
    /// let doc = auth.openapi();
    /// assert!(doc["paths"]["/token"].is_null());
    /// let refresh = &doc["paths"]["/auth/token"]["post"];
    /// assert_eq!(refresh["parameters"][0]["name"], "DPoP");
    /// assert_eq!(refresh["parameters"][0]["required"], true);
    /// let list = &doc["paths"]["/me/sessions"]["get"];
    /// assert!(list["security"][0][DPOP_SECURITY_SCHEME].is_array());
    /// assert!(doc["paths"]["/me/sessions/{id}"]["delete"].is_object());
    /// # Ok::<_, tower_refresh_auth::ConfigError>(())
    /// ```
    pub fn openapi(&self) -> Value {
        crate::openapi::document_of(&self.shared)
    }
}

impl<C> RefreshAuth<C>
where
    C: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
{
    /// Decides what a request (its method, URI and headers) is. Synchronous and without a
    /// store call: a session check or a DPoP replay check, when one is needed, is left to
    /// [`StoreCheck::run`](crate::adapter::StoreCheck::run).
    pub fn decide(&self, method: &Method, uri: &Uri, headers: &HeaderMap) -> Decision<C> {
        self.shared.decide(method, uri, headers)
    }

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
        self.issue_with(subject, claims, Login::new()).await
    }

    /// [`issue`](Self::issue), with what the login brings ([`Login`]): the
    /// [metadata](SessionMetadata) recorded with the session — its user agent, a label — for
    /// session listings (never in a token), and, if any, the DPoP proof that binds the session
    /// and how the user authenticated. A [`SessionMetadata`] alone will do.
    ///
    /// ```
    /// use tower_refresh_auth::session::SessionMetadata;
    /// use tower_refresh_auth::{NoClaims, RefreshAuth};
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// # let auth = RefreshAuth::<NoClaims>::builder().hs256(b"an example secret of at least 32 bytes".to_vec()).build()?;
    /// # let mut request = http::Request::new(());
    /// # request.headers_mut().insert("user-agent", "Firefox/140.0".parse()?);
    /// // In the login handler, with the request's headers at hand:
    /// let metadata = SessionMetadata::from_headers(request.headers());
    /// let pair = auth.issue_with("user1", NoClaims {}, metadata).await?;
    ///
    /// let sessions = auth.sessions("user1").await?;
    /// assert_eq!(sessions[0].id, pair.session_id);
    /// assert_eq!(sessions[0].metadata.user_agent(), Some("Firefox/140.0"));
    /// # Ok::<_, Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    ///
    /// As [`issue`](Self::issue); [`AuthError::Dpop`] (`400 invalid_dpop_proof`) when the
    /// login's DPoP proof was spent before (a replayed login request), or required mode
    /// and no proof.
    pub async fn issue_with(
        &self,
        subject: impl Into<String>,
        claims: C,
        login: impl Into<Login>,
    ) -> Result<TokenPair, AuthError> {
        let custom = AccessTokens::custom_claims(&claims)?;
        (self
            .shared
            .sessions
            .issue(subject.into(), custom, login.into()))
        .await
    }

    /// Verifies an access token's signature, algorithm, type, issuer, audience and expiry.
    /// Does not consult the store; see [`authenticate`](Self::authenticate).
    ///
    /// # Errors
    ///
    /// [`AuthError::InvalidToken`] naming why the token was refused.
    pub fn verify(&self, token: &str) -> Result<Claims<C>, AuthError> {
        self.shared
            .access
            .verify_access(Presented::Text(token), self.shared.clock.now())
            .map(Arc::unwrap_or_clone)
    }

    /// Authenticates a request as the layer does on a guarded path: reads the access token
    /// (from the `Authorization` header, and the access-token cookie if configured), verifies
    /// it, and with DPoP on, the scheme and the proof for `method` and `uri` (its `jti` spent
    /// in the store); with session checking on, asks the store whether its session is still
    /// live.
    ///
    /// # Errors
    ///
    /// [`AuthError::MissingCredentials`] when the request carries no token at all; otherwise
    /// the error the layer would answer with.
    pub async fn authenticate(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
    ) -> Result<Claims<C>, AuthError> {
        (self.shared.authenticate(method, uri, headers, true))
            .await
            .map(Arc::unwrap_or_clone)
    }
}
