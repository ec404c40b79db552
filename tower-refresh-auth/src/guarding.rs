//! [`Guarding`]: how a layer guards a request — the realm of its challenges, the body of its
//! refusals, where the access token may come from, which paths need none, the clock skew
//! tolerated and the verified-token cache. One group of settings, checked once, that both the
//! issuing layer ([`RefreshAuthBuilder::guarding`](crate::RefreshAuthBuilder::guarding)) and a
//! resource server
//! ([`ResourceServerBuilder::guarding`](crate::resource::ResourceServerBuilder::guarding))
//! take.

use std::sync::Arc;
use std::time::Duration;

use crate::clock::MAX_DURATION;
use crate::error::{AuthError, ConfigError, ErrorBody};
use crate::guard::Public;
use crate::response::{DEFAULT_REALM, ErrorBodyFn, Renderer};
use crate::transport::check_cookie_name;

/// How a layer guards requests, checked when the layer is built: a bad realm, cookie name or
/// public path is refused with a [`ConfigError`] that says how to fix it.
///
/// Give it whole to [`RefreshAuthBuilder::guarding`](crate::RefreshAuthBuilder::guarding) or
/// [`ResourceServerBuilder::guarding`](crate::resource::ResourceServerBuilder::guarding); each
/// builder also has a shortcut per setting (`.realm(…)`, `.public_path(…)`, …) that sets it
/// here.
///
/// ```
/// use std::time::Duration;
/// use tower_refresh_auth::guarding::Guarding;
/// use tower_refresh_auth::{NoClaims, RefreshAuth};
///
/// let guarding = Guarding::new()
///     .realm("dashboard")
///     .access_token_cookie("access")
///     .public_path("/login")
///     .public_prefix("/static/")
///     .leeway(Duration::from_secs(5))
///     .verified_token_cache(10_000);
/// let auth = RefreshAuth::<NoClaims>::builder()
///     .hs256(b"an example secret of at least 32 bytes".to_vec())
///     .guarding(guarding)
///     .build()?;
/// # let _ = auth;
///
/// // Refused when built, saying how to fix it.
/// let err = RefreshAuth::<NoClaims>::builder()
///     .hs256(b"an example secret of at least 32 bytes".to_vec())
///     .guarding(Guarding::new().public_path("login"))
///     .build()
///     .unwrap_err();
/// assert!(err.to_string().contains("must start with '/'"));
/// # Ok::<_, tower_refresh_auth::ConfigError>(())
/// ```
#[derive(Clone)]
#[must_use = "give it to `RefreshAuthBuilder::guarding` or `ResourceServerBuilder::guarding`"]
pub struct Guarding {
    realm: String,
    error_body: Option<Arc<ErrorBodyFn>>,
    cache_capacity: usize,
    access_cookie: Option<String>,
    public: Public,
    leeway: Duration,
}

impl Default for Guarding {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Guarding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guarding")
            .field("realm", &self.realm)
            .field("custom_error_body", &self.error_body.is_some())
            .field("verified_token_cache", &self.cache_capacity)
            .field("access_token_cookie", &self.access_cookie)
            .field("public", &self.public)
            .field("leeway", &self.leeway)
            .finish()
    }
}

impl Guarding {
    /// The defaults: realm `api`, the protocol's error bodies, the token from the
    /// `Authorization` header only, every path guarded, no leeway, no cache.
    pub fn new() -> Self {
        Self {
            realm: DEFAULT_REALM.into(),
            error_body: None,
            cache_capacity: 0,
            access_cookie: None,
            public: Public::default(),
            leeway: Duration::ZERO,
        }
    }

    /// The realm of the `WWW-Authenticate` challenge. Default `api`; it may not contain `"`,
    /// `\` or control characters.
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = realm.into();
        self
    }

    /// Renders the body of every error response in the application's own format; the layer
    /// keeps the status and the RFC 6750 headers. See
    /// [`RefreshAuthBuilder::error_body`](crate::RefreshAuthBuilder::error_body).
    pub fn error_body<F>(mut self, render: F) -> Self
    where
        F: Fn(&AuthError) -> ErrorBody + Send + Sync + 'static,
    {
        self.error_body = Some(Arc::new(render));
        self
    }

    /// Caches up to `capacity` verified access tokens, so a token seen before skips its
    /// signature check. `0` (the default) is off. See
    /// [`RefreshAuthBuilder::verified_token_cache`](crate::RefreshAuthBuilder::verified_token_cache)
    /// for the trade-off.
    pub fn verified_token_cache(mut self, capacity: usize) -> Self {
        self.cache_capacity = capacity;
        self
    }

    /// Also reads the access token from the cookie `name` (letters, digits, `-` and `_`). A
    /// request carrying a token in both the header and the cookie is refused (RFC 6750 §2).
    pub fn access_token_cookie(mut self, name: impl Into<String>) -> Self {
        self.access_cookie = Some(name.into());
        self
    }

    /// A path served without a token (exact match, starting with `/`), such as `/login`.
    /// Claims are still attached when a valid token comes along; a refusal is put in the
    /// request's extensions instead.
    pub fn public_path(mut self, path: impl Into<String>) -> Self {
        self.public.paths.push(path.into());
        self
    }

    /// Every path starting with `prefix` (itself starting with `/`) is served without a
    /// token, such as `/static/`.
    pub fn public_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.public.prefixes.push(prefix.into());
        self
    }

    /// Optional mode: no path is refused for lack of a token. A request with a valid token
    /// gets [`Claims`](crate::Claims) in its extensions; any other gets an
    /// [`AuthRejection`](crate::AuthRejection) there instead, and the handler decides.
    pub fn optional(mut self) -> Self {
        self.public.optional = true;
        self
    }

    /// Clock-skew tolerance when checking `exp`, `nbf` and `iat`. Default zero; at most ten
    /// years.
    ///
    /// # Warning
    ///
    /// An expired token is accepted for this long after its `exp`.
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Checks every setting: the realm, the cookie's name, the public paths, the leeway.
    pub(crate) fn check(self) -> Result<Guarded, ConfigError> {
        if self.leeway > MAX_DURATION {
            return Err(ConfigError::DurationTooLong {
                setting: "leeway",
                max: MAX_DURATION,
            });
        }
        self.public.check()?;
        let renderer = Renderer::checked(self.realm, self.error_body)?;
        if let Some(name) = &self.access_cookie {
            check_cookie_name("access-token cookie", name)?;
        }
        Ok(Guarded {
            renderer,
            access_cookie: self.access_cookie,
            cache_capacity: (self.cache_capacity > 0).then_some(self.cache_capacity),
            public: self.public,
            leeway: self.leeway,
        })
    }
}

/// The [`Guarding`] settings that passed their check, as both layers read them.
#[derive(Debug)]
pub(crate) struct Guarded {
    /// The realm and the application's error bodies (DPoP challenges are added by the
    /// builder that knows them).
    pub(crate) renderer: Renderer,
    /// The cookie the access token may also come in.
    pub(crate) access_cookie: Option<String>,
    /// The verified-token cache's capacity; `None` when off.
    pub(crate) cache_capacity: Option<usize>,
    /// The paths served without a token.
    pub(crate) public: Public,
    /// The clock skew tolerated.
    pub(crate) leeway: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_setting_is_checked() {
        for (guarding, needle) in [
            (Guarding::new().realm("a\"b"), "realm"),
            (
                Guarding::new().access_token_cookie("a b"),
                "access-token cookie",
            ),
            (Guarding::new().public_path("login"), "\"login\""),
            (Guarding::new().public_prefix("static/"), "\"static/\""),
            (
                Guarding::new().leeway(MAX_DURATION + Duration::from_secs(1)),
                "`leeway`",
            ),
        ] {
            let err = guarding.check().expect_err("refused");
            assert!(err.to_string().contains(needle), "{needle}: {err}");
        }
    }

    #[test]
    fn the_checked_settings_are_those_given() {
        let checked = Guarding::new()
            .realm("app")
            .access_token_cookie("access")
            .public_path("/login")
            .public_prefix("/static/")
            .leeway(Duration::from_secs(3))
            .verified_token_cache(10)
            .check()
            .expect("valid");
        assert_eq!(&*checked.renderer.realm, "app");
        assert_eq!(checked.access_cookie.as_deref(), Some("access"));
        assert_eq!(checked.cache_capacity, Some(10));
        assert!(checked.public.is_public("/login") && checked.public.is_public("/static/x"));
        assert!(!checked.public.is_public("/api"));
        assert_eq!(checked.leeway, Duration::from_secs(3));
        let off = Guarding::new()
            .verified_token_cache(0)
            .check()
            .expect("valid");
        assert_eq!(off.cache_capacity, None);
        assert!(!off.public.optional);
        assert!(
            Guarding::new()
                .optional()
                .check()
                .expect("valid")
                .public
                .is_public("/api")
        );
    }
}
