//! The [`Guarding`] settings of [`RefreshAuthBuilder`]: the whole group at once
//! ([`guarding`](RefreshAuthBuilder::guarding)), or one setting at a time with the shortcuts
//! below, each setting it in the group. The group is checked in [`build`](RefreshAuthBuilder::build).

use std::time::Duration;

use super::RefreshAuthBuilder;
use crate::error::{AuthError, ErrorBody};
use crate::guarding::Guarding;

impl<C> RefreshAuthBuilder<C> {
    /// How requests are guarded ([`Guarding`]: the realm, error bodies, the access-token
    /// cookie, public paths, optional mode, leeway, the verified-token cache), checked when
    /// built. Replaces every guard setting given before, by this or by the shortcuts below.
    pub fn guarding(mut self, guarding: Guarding) -> Self {
        self.guarding = guarding;
        self
    }

    /// Clock-skew tolerance when checking `exp`, `nbf` and `iat`. Default zero: the layer
    /// issues and verifies its own tokens.
    ///
    /// # Warning
    ///
    /// An expired token is accepted for this long after its `exp`.
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.guarding = self.guarding.leeway(leeway);
        self
    }

    /// Optional mode: no path is refused for lack of a token. A request with a valid token
    /// gets [`Claims`](crate::Claims) in its extensions; any other gets an
    /// [`AuthRejection`](crate::AuthRejection) there instead, and the handler decides.
    pub fn optional(mut self) -> Self {
        self.guarding = self.guarding.optional();
        self
    }

    /// A path served without a token (exact match), such as `/login`. Claims are still
    /// attached when a valid token comes along.
    pub fn public_path(mut self, path: impl Into<String>) -> Self {
        self.guarding = self.guarding.public_path(path);
        self
    }

    /// Every path starting with `prefix` is served without a token, such as `/static/`.
    pub fn public_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.guarding = self.guarding.public_prefix(prefix);
        self
    }

    /// Also reads the access token from this cookie. A request carrying a token in both the
    /// header and the cookie is refused (RFC 6750 §2).
    pub fn access_token_cookie(mut self, name: impl Into<String>) -> Self {
        self.guarding = self.guarding.access_token_cookie(name);
        self
    }

    /// Caches up to `capacity` verified access tokens, so a token seen before skips its
    /// signature check. Off by default.
    ///
    /// An entry is made only for a token that verified, holds the whole token (found by a
    /// 128-bit keyed hash of its signature's tail, then compared in full), and never outlives
    /// the token's `exp`. Revoking a session through this
    /// `RefreshAuth` drops its entries; with [session checking](Self::check_sessions) the store
    /// is still asked on every request, so a logout on another instance is seen too.
    ///
    /// # Warning
    ///
    /// The trade-off: memory (a few hundred bytes per cached token, its claims and its bytes)
    /// for CPU. It pays off with
    /// asymmetric keys (an ES256 or RS256 verification costs 20–50 µs, a cache hit well under
    /// one) and less with HS256. A removed verifying key stops accepting new tokens at once,
    /// but tokens cached before its removal stay accepted until they expire — which is at
    /// most one access-token lifetime.
    pub fn verified_token_cache(mut self, capacity: usize) -> Self {
        self.guarding = self.guarding.verified_token_cache(capacity);
        self
    }

    /// The realm of the `WWW-Authenticate` challenge. Default `api`.
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.guarding = self.guarding.realm(realm);
        self
    }

    /// Renders the body of every error response of the layer — refused requests on guarded
    /// paths, `/token` and `/logout` errors, and [`AuthRejection`](crate::AuthRejection)s
    /// rendered by extractors — in the application's own format.
    ///
    /// The layer still sets the status, `WWW-Authenticate` (RFC 6750 §3), `Cache-Control:
    /// no-store`, `Allow` and `Retry-After` from the [`AuthError`]; the function gives only
    /// the body and its content type. gRPC refusals carry no body and are not passed to it.
    ///
    /// ```
    /// use tower_refresh_auth::{AuthError, error::ErrorBody, NoClaims, RefreshAuth};
    ///
    /// let auth = RefreshAuth::<NoClaims>::builder()
    ///     .hs256(b"an example secret of at least 32 bytes".to_vec())
    ///     .error_body(|err: &AuthError| {
    ///         ErrorBody::json(&serde_json::json!({
    ///             "status": err.status().as_u16(),
    ///             "code": err.error_code().unwrap_or("unauthorized"),
    ///             "message": err.description(),
    ///         }))
    ///     })
    ///     .build()
    ///     .unwrap();
    /// let res = auth.rejection(AuthError::InvalidGrant).into_response();
    /// assert_eq!(res.status(), 400);
    /// assert_eq!(
    ///     res.body().as_ref(),
    ///     br#"{"code":"invalid_grant","message":"the refresh token is invalid, expired or revoked","status":400}"#
    /// );
    /// ```
    pub fn error_body<F>(mut self, render: F) -> Self
    where
        F: Fn(&AuthError) -> ErrorBody + Send + Sync + 'static,
    {
        self.guarding = self.guarding.error_body(render);
        self
    }
}
