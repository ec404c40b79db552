//! Token introspection (RFC 7662) for gateways and services that do not verify JWTs
//! themselves: `POST /introspect`, off by default, turned on with
//! [`RefreshAuthBuilder::introspection`](crate::RefreshAuthBuilder::introspection)
//! (`docs/protocol.md` §14).
//!
//! One client is configured — an id and a secret the gateway presents with HTTP Basic
//! authentication (RFC 6749 §2.3.1) — and every request without those credentials is
//! answered `401 invalid_client` with `WWW-Authenticate: Basic`, before its body is read: an
//! unauthenticated caller learns nothing about any token. An authenticated client learns
//! whether an access token is live — it verifies, and its session has not ended (the store
//! is asked) — and, when it is, its `sub`, `exp`, `iat`, `sid`, `token_type`, `iss` and `cnf`.
//! Anything else (expired, revoked, malformed, unknown, a refresh token) is `{"active":
//! false}`, one answer for all.
//!
//! Failed client authentications are bounded: past
//! [`failed_authentications_per_minute`](Introspection::failed_authentications_per_minute)
//! (counted by every instance on its own), requests carrying credentials are answered `429`
//! with `Retry-After` *before* their credentials are compared, until the allowance comes
//! back — so however the guesses are spread, at most that many are ever checked a minute.
//!
//! ```
//! use http_body_util::BodyExt;
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//! use tower_refresh_auth::introspection::Introspection;
//! use tower_refresh_auth::{NoClaims, RefreshAuth};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let auth = RefreshAuth::<NoClaims>::builder()
//!     .hs256(b"an example secret of at least 32 bytes".to_vec())
//!     .introspection(Introspection::client("gateway", "kQ3v9Yc1mZ8rT5wB2nX7pL4sJ6hD0fGa"))
//!     .build()?;
//! let app = ServiceBuilder::new().layer(auth.layer()).service(service_fn(|_| async {
//!     Ok::<_, std::convert::Infallible>(http::Response::new(String::new()))
//! }));
//! let pair = auth.issue("user1", NoClaims {}).await?;
//!
//! // `gateway:kQ3v…` in base64, as any OAuth client library sends it.
//! let basic = "Z2F0ZXdheTprUTN2OVljMW1aOHJUNXdCMm5YN3BMNHNKNmhEMGZHYQ==";
//! let req = http::Request::post("/introspect")
//!     .header("authorization", format!("Basic {basic}"))
//!     .header("content-type", "application/x-www-form-urlencoded")
//!     .body(format!("token={}", pair.access_token))?;
//! let res = app.oneshot(req).await?;
//! assert_eq!(res.status(), 200);
//! let body = res.into_body().collect().await?.to_bytes();
//! let body: serde_json::Value = serde_json::from_slice(&body)?;
//! assert_eq!(body["active"], true);
//! assert_eq!(body["sub"], "user1");
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

mod client;
mod throttle;

use std::num::NonZeroU32;
use std::sync::Arc;

use self::client::Client;
pub(crate) use self::client::Presented;
use self::throttle::Throttle;
use crate::clock::Clock;
use crate::error::ConfigError;

/// The introspection route's path unless another is given.
pub const DEFAULT_INTROSPECTION_PATH: &str = "/introspect";

/// The fewest characters a client secret may have (the message of
/// [`ConfigError::WeakIntrospectionSecret`] says it too).
pub const MIN_SECRET_LEN: usize = 32;

/// The fewest distinct characters a client secret may have: a random secret of
/// [`MIN_SECRET_LEN`] hex digits has about 14, `passwordpassword…` has 7.
const MIN_DISTINCT: usize = 8;

/// Failed client authentications allowed a minute unless another limit is given.
pub const DEFAULT_FAILURES_PER_MINUTE: NonZeroU32 = match NonZeroU32::new(30) {
    Some(n) => n,
    None => panic!("not zero"),
};

/// The introspection route's settings (see [the module](self)): the one client allowed to
/// call it, the route's path, and the bound on failed client authentications. Checked when
/// the layer is built.
///
/// The client id and secret are compared after form-decoding (RFC 6749 §2.3.1), so they may
/// hold only characters that need no encoding: letters, digits, `-`, `.`, `_` and `~`. The
/// secret needs at least [`MIN_SECRET_LEN`] of them, and some variety: make one with
/// `openssl rand -hex 32`.
///
/// ```
/// use tower_refresh_auth::introspection::Introspection;
/// use tower_refresh_auth::{ConfigError, NoClaims, RefreshAuth};
///
/// let weak = RefreshAuth::<NoClaims>::builder()
///     .hs256(b"an example secret of at least 32 bytes".to_vec())
///     .introspection(Introspection::client("gateway", "hunter2"))
///     .build()
///     .unwrap_err();
/// assert!(matches!(weak, ConfigError::WeakIntrospectionSecret { .. }));
/// assert!(weak.to_string().contains("openssl rand -hex 32"));
/// ```
#[derive(Clone)]
#[must_use = "pass it to `RefreshAuthBuilder::introspection`"]
pub struct Introspection {
    path: String,
    client_id: String,
    secret: String,
    failures_per_minute: NonZeroU32,
}

impl std::fmt::Debug for Introspection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret.
        f.debug_struct("Introspection")
            .field("path", &self.path)
            .field("client_id", &self.client_id)
            .field("failures_per_minute", &self.failures_per_minute)
            .finish_non_exhaustive()
    }
}

impl Introspection {
    /// Introspection at [`DEFAULT_INTROSPECTION_PATH`] for the client `id` authenticating
    /// with `secret`.
    ///
    /// # Warning
    ///
    /// Whoever holds the secret can ask which access tokens are live and whose they are:
    /// give it to the gateway only, and keep the route reachable from the gateway's network
    /// only where you can.
    pub fn client(id: impl Into<String>, secret: impl Into<String>) -> Self {
        Self {
            path: DEFAULT_INTROSPECTION_PATH.into(),
            client_id: id.into(),
            secret: secret.into(),
            failures_per_minute: DEFAULT_FAILURES_PER_MINUTE,
        }
    }

    /// The route's path. Default [`DEFAULT_INTROSPECTION_PATH`].
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }

    /// How many failed client authentications one instance checks a minute (default
    /// [`DEFAULT_FAILURES_PER_MINUTE`]); past them, requests with credentials are
    /// answered `429` with `Retry-After` until one comes back (one every minute over the
    /// limit), whoever sends them.
    ///
    /// # Warning
    ///
    /// The bound cuts both ways: while someone keeps sending wrong credentials, the genuine
    /// client is answered `429` too (its answers resume as soon as the failures stop). A
    /// request without credentials does not count.
    pub fn failed_authentications_per_minute(mut self, limit: NonZeroU32) -> Self {
        self.failures_per_minute = limit;
        self
    }

    /// The path, and the checked state the route runs with.
    pub(crate) fn check(
        self,
        clock: Arc<dyn Clock>,
    ) -> Result<(String, Introspector), ConfigError> {
        check_credential("client id", &self.client_id)?;
        check_credential("client secret", &self.secret)?;
        let distinct = {
            let mut chars: Vec<char> = self.secret.chars().collect();
            chars.sort_unstable();
            chars.dedup();
            chars.len()
        };
        if self.secret.len() < MIN_SECRET_LEN || distinct < MIN_DISTINCT {
            return Err(ConfigError::WeakIntrospectionSecret {
                len: self.secret.len(),
            });
        }
        Ok((
            self.path,
            Introspector {
                client: Client::new(&self.client_id, &self.secret),
                throttle: Throttle::new(self.failures_per_minute, clock),
            },
        ))
    }
}

/// Refuses a client id or secret that is empty, or holds a character that would need
/// form-encoding (RFC 6749 §2.3.1, Appendix B).
fn check_credential(what: &'static str, value: &str) -> Result<(), ConfigError> {
    let unreserved = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~');
    if value.is_empty() || !value.chars().all(unreserved) {
        return Err(ConfigError::InvalidIntrospectionClient(what));
    }
    Ok(())
}

/// The introspection route's checked state: its client, and the bound on failures.
#[derive(Debug)]
pub(crate) struct Introspector {
    pub(crate) client: Client,
    pub(crate) throttle: Throttle,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SystemClock;

    fn check(introspection: Introspection) -> Result<(), ConfigError> {
        introspection.check(Arc::new(SystemClock)).map(|_| ())
    }

    #[test]
    fn weak_and_unencodable_credentials_are_refused() {
        let good = "0f3a9c2e7b4d1a6f8e5c3b2a9d7f1e4c";
        assert!(check(Introspection::client("gateway", good)).is_ok());
        assert!(matches!(
            check(Introspection::client("gateway", &good[..31])),
            Err(ConfigError::WeakIntrospectionSecret { len: 31 })
        ));
        assert!(matches!(
            check(Introspection::client(
                "gateway",
                "passwordpasswordpasswordpassword"
            )),
            Err(ConfigError::WeakIntrospectionSecret { .. })
        ));
        assert!(matches!(
            check(Introspection::client("", good)),
            Err(ConfigError::InvalidIntrospectionClient("client id"))
        ));
        assert!(matches!(
            check(Introspection::client("gate:way", good)),
            Err(ConfigError::InvalidIntrospectionClient("client id"))
        ));
        assert!(matches!(
            check(Introspection::client("gateway", format!("{good}+"))),
            Err(ConfigError::InvalidIntrospectionClient("client secret"))
        ));
    }

    #[test]
    fn the_secret_is_never_printed() {
        let debug = format!(
            "{:?}",
            Introspection::client("gateway", "0f3a9c2e7b4d1a6f8e5c3b2a9d7f1e4c")
        );
        assert!(debug.contains("gateway"));
        assert!(!debug.contains("0f3a9c"));
    }
}
