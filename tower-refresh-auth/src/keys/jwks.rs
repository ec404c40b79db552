//! [`Jwks`]: publishing the verifying keys, as one checked setting.

use std::time::Duration;

use http::HeaderValue;

use crate::error::ConfigError;

/// Where the JWKS is served unless told otherwise.
pub(crate) const DEFAULT_PATH: &str = "/.well-known/jwks.json";

/// How long caches keep the JWKS unless told otherwise (when the key overlap is longer).
const DEFAULT_MAX_AGE: Duration = Duration::from_secs(600);

/// Publishing the public keys at a JWKS route (RFC 7517; `docs/protocol.md` §7), given to
/// [`RefreshAuthBuilder::jwks`](crate::RefreshAuthBuilder::jwks), so gateways, other
/// services and other languages verify access tokens without a shared secret.
///
/// Needs an asymmetric signing key ([`SigningKey::from_file`](super::SigningKey::from_file)):
/// with an HMAC key the build fails. The route is public. It lists the current signing key
/// and every key that still verifies (keys retired by a [`KeyRing`](crate::keyring::KeyRing)
/// rotation until removed, keys published ahead), with `Cache-Control: public, max-age=N`.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use http::Request;
/// use tower::{Layer, ServiceExt};
/// use tower_refresh_auth::keys::{Jwks, SigningKey};
/// use tower_refresh_auth::{NoClaims, RefreshAuth};
///
/// let auth = RefreshAuth::<NoClaims>::builder()
///     .signing_key(SigningKey::from_file(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/keys/es256.pem"))?)
///     .refresh_secret(b"a refresh-token secret of 32+ bytes".to_vec())
///     .jwks(Jwks::new())
///     .build()?;
/// let app = auth.layer().layer(tower::service_fn(|_req: Request<String>| async {
///     Ok::<_, std::convert::Infallible>(http::Response::new(String::new()))
/// }));
///
/// let res = app.oneshot(Request::get("/.well-known/jwks.json").body(String::new())?).await?;
/// assert_eq!(res.status(), 200);
/// assert_eq!(res.headers()["cache-control"], "public, max-age=60");
/// let body = http_body_util::BodyExt::collect(res.into_body()).await?.to_bytes();
/// let jwks: serde_json::Value = serde_json::from_slice(&body)?;
/// assert_eq!(jwks["keys"][0]["kty"], "EC");
/// assert_eq!(jwks["keys"][0]["kid"], auth.keys().signing_kid());
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "give it to `RefreshAuthBuilder::jwks`"]
pub struct Jwks {
    path: String,
    max_age: Option<Duration>,
}

impl Default for Jwks {
    fn default() -> Self {
        Self::new()
    }
}

impl Jwks {
    /// The route at `GET /.well-known/jwks.json`, cached for the default max-age.
    pub fn new() -> Self {
        Self {
            path: DEFAULT_PATH.into(),
            max_age: None,
        }
    }

    /// Serves the route at `path` instead (it must start with `/` and differ from the
    /// layer's other routes).
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }

    /// How long caches may keep the JWKS (`Cache-Control: public, max-age=N`). Default: the
    /// [key overlap](crate::RefreshAuthBuilder::key_overlap), capped at 10 minutes; it may not
    /// be longer than the overlap, so a cache never holds a key set that lacks a key still
    /// signing.
    ///
    /// A new key is seen by every verifier at most this long after it is published: in a
    /// fleet, publish a key this long before it signs (see [`KeyRing`](crate::keyring::KeyRing)).
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = Some(max_age);
        self
    }

    /// The route's path.
    #[must_use]
    pub fn route_path(&self) -> &str {
        &self.path
    }

    /// The route's path and `Cache-Control` value, given the key overlap; the path is checked
    /// with the other routes'.
    pub(crate) fn check(self, overlap: Duration) -> Result<(String, HeaderValue), ConfigError> {
        let max_age = self.effective_max_age(overlap);
        if max_age > overlap {
            return Err(ConfigError::JwksMaxAgeTooLong { max_age, overlap });
        }
        let cache_control = HeaderValue::try_from(format!("public, max-age={}", max_age.as_secs()))
            .unwrap_or(HeaderValue::from_static("no-cache"));
        Ok((self.path, cache_control))
    }

    /// The max-age the route serves with this key overlap.
    pub(crate) fn effective_max_age(&self, overlap: Duration) -> Duration {
        self.max_age.unwrap_or(overlap.min(DEFAULT_MAX_AGE))
    }

    /// The max-age as given, for the check that no duration overflows a clock.
    pub(crate) fn given_max_age(&self) -> Option<Duration> {
        self.max_age
    }
}
