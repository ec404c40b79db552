//! Which paths are the layer's own routes, and which it serves without a token.

use url::Url;

use crate::error::ConfigError;

/// One of the routes the layer answers itself, without calling the inner service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Endpoint {
    /// `POST /token` (by default): trades a refresh token for a new pair (RFC 6749 §6).
    Refresh,
    /// `POST /logout` (by default): revokes the session of a refresh token (RFC 7009).
    Logout,
    /// `GET /sessions`, `DELETE /sessions/{id}` and `DELETE /sessions` (by default, when
    /// enabled with [`sessions_route`](crate::RefreshAuthBuilder::sessions_route)): the
    /// caller's own sessions, listed and ended (`docs/protocol.md` §8). Guarded by the
    /// access token.
    Sessions,
    /// `GET /.well-known/jwks.json` (by default, when enabled with
    /// [`jwks`](crate::RefreshAuthBuilder::jwks)): the public keys that verify
    /// access tokens (RFC 7517). Public: no token needed.
    Jwks,
    /// `GET /.well-known/oauth-authorization-server` (RFC 8414), served with the JWKS route
    /// when an [`issuer`](crate::RefreshAuthBuilder::issuer) URL is configured: the issuer's
    /// metadata, so a resource server needs only the issuer URL (`docs/protocol.md` §12).
    /// Public: no token needed.
    Metadata,
    /// `POST /introspect` (by default, when enabled with
    /// [`introspection`](crate::RefreshAuthBuilder::introspection)): token introspection
    /// (RFC 7662) for the configured client, which authenticates with HTTP Basic instead of
    /// an access token (`docs/protocol.md` §14).
    Introspection,
}

/// The sessions route's path unless another is given.
pub(crate) const DEFAULT_SESSIONS_PATH: &str = "/sessions";

/// RFC 8414 §3: the well-known URI suffix.
const WELL_KNOWN: &str = "/.well-known/oauth-authorization-server";

/// The path the metadata of `issuer` is served at: the well-known segment, then the issuer's
/// own path (RFC 8414 §3.1). `None` when the issuer is not an `http(s)` URL without query or
/// fragment (RFC 8414 §2), so there is no metadata to serve.
fn metadata_path(issuer: &str) -> Option<String> {
    let url = Url::parse(issuer).ok()?;
    if !matches!(url.scheme(), "https" | "http")
        || url.query().is_some()
        || url.fragment().is_some()
    {
        return None;
    }
    Some(format!("{WELL_KNOWN}{}", url.path().trim_end_matches('/')))
}

/// The paths of the layer's routes and the paths it does not guard.
#[derive(Debug, Clone)]
pub(crate) struct Guard {
    pub(crate) refresh_path: String,
    pub(crate) logout_path: String,
    /// The sessions routes' base path, when they are on.
    pub(crate) sessions_path: Option<String>,
    /// The JWKS route, when it is on.
    pub(crate) jwks_path: Option<String>,
    /// The RFC 8414 metadata route, when the JWKS route is on and the issuer is a URL.
    pub(crate) metadata_path: Option<String>,
    /// The introspection route (RFC 7662), when it is on.
    pub(crate) introspection_path: Option<String>,
    /// The paths served without a token.
    pub(crate) public: Public,
}

/// The paths a layer serves without a token: every path in optional mode, else the public
/// paths (exact) and prefixes. Part of the [`Guarding`](crate::guarding::Guarding) settings.
#[derive(Debug, Clone, Default)]
pub(crate) struct Public {
    /// Optional mode: no path needs a token.
    pub(crate) optional: bool,
    pub(crate) paths: Vec<String>,
    pub(crate) prefixes: Vec<String>,
}

impl Public {
    /// Whether a request for `path` goes on without a valid token (with the rejection in its
    /// extensions instead of claims).
    pub(crate) fn is_public(&self, path: &str) -> bool {
        self.optional
            || self.paths.iter().any(|p| p == path)
            || self.prefixes.iter().any(|p| path.starts_with(p.as_str()))
    }

    /// Refuses a public path or prefix that does not start with `/`.
    pub(crate) fn check(&self) -> Result<(), ConfigError> {
        match self
            .paths
            .iter()
            .chain(&self.prefixes)
            .find(|p| !p.starts_with('/'))
        {
            Some(path) => Err(ConfigError::InvalidPath(path.clone())),
            None => Ok(()),
        }
    }
}

impl Default for Guard {
    fn default() -> Self {
        Self {
            refresh_path: "/token".into(),
            logout_path: "/logout".into(),
            sessions_path: None,
            jwks_path: None,
            metadata_path: None,
            introspection_path: None,
            public: Public::default(),
        }
    }
}

impl Guard {
    /// The layer's own route at `path`, if any.
    pub(crate) fn route(&self, path: &str) -> Option<Endpoint> {
        if path == self.refresh_path {
            Some(Endpoint::Refresh)
        } else if path == self.logout_path {
            Some(Endpoint::Logout)
        } else if self.jwks_path.as_deref() == Some(path) {
            Some(Endpoint::Jwks)
        } else if self.metadata_path.as_deref() == Some(path) {
            Some(Endpoint::Metadata)
        } else if self.introspection_path.as_deref() == Some(path) {
            Some(Endpoint::Introspection)
        } else if self.sessions_path.as_deref().is_some_and(|base| {
            path == base
                || path
                    .strip_prefix(base)
                    .is_some_and(|rest| rest.starts_with('/'))
        }) {
            Some(Endpoint::Sessions)
        } else {
            None
        }
    }

    /// With the JWKS route on and `issuer` an `http(s)` URL, also serves the issuer's RFC 8414
    /// metadata, at the well-known path with the issuer's own path after it (RFC 8414 §3.1).
    pub(crate) fn with_metadata(mut self, issuer: Option<&str>) -> Self {
        self.metadata_path = self.jwks_path.as_ref().and(issuer).and_then(metadata_path);
        self
    }

    /// Whether a request for `path` goes on without a valid token (with the rejection in its
    /// extensions instead of claims).
    pub(crate) fn is_public(&self, path: &str) -> bool {
        self.public.is_public(path)
    }

    /// The paths the refresh cookie is scoped to, one cookie each.
    pub(crate) fn cookie_paths(&self) -> [&str; 2] {
        [&self.refresh_path, &self.logout_path]
    }

    /// Refuses route paths that do not start with `/`, and routes that share a path (the
    /// public paths are checked with the [`Guarding`](crate::guarding::Guarding) settings).
    pub(crate) fn check(&self) -> Result<(), ConfigError> {
        for path in [&self.refresh_path, &self.logout_path]
            .into_iter()
            .chain(&self.jwks_path)
        {
            if !path.starts_with('/') {
                return Err(ConfigError::InvalidPath(path.clone()));
            }
        }
        if self.refresh_path == self.logout_path {
            return Err(ConfigError::InvalidPath(self.logout_path.clone()));
        }
        if let Some(sessions) = &self.sessions_path
            && (!sessions.starts_with('/')
                || sessions.ends_with('/')
                || *sessions == self.refresh_path
                || *sessions == self.logout_path
                || self.jwks_path.as_ref() == Some(sessions))
        {
            return Err(ConfigError::InvalidPath(sessions.clone()));
        }
        if let Some(jwks) = &self.jwks_path
            && (*jwks == self.refresh_path || *jwks == self.logout_path)
        {
            return Err(ConfigError::InvalidPath(jwks.clone()));
        }
        if let Some(introspection) = &self.introspection_path
            && (!introspection.starts_with('/')
                || [&self.refresh_path, &self.logout_path].contains(&introspection)
                || [&self.jwks_path, &self.sessions_path]
                    .iter()
                    .any(|p| p.as_ref() == Some(introspection)))
        {
            return Err(ConfigError::InvalidPath(introspection.clone()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::DEFAULT_JWKS_PATH;

    #[test]
    fn public_paths_match_exactly_and_prefixes_by_prefix() {
        let guard = Guard {
            public: Public {
                paths: vec!["/login".into()],
                prefixes: vec!["/static/".into()],
                ..Public::default()
            },
            ..Guard::default()
        };
        assert!(guard.is_public("/login"));
        assert!(!guard.is_public("/login/x"));
        assert!(guard.is_public("/static/app.css"));
        assert!(!guard.is_public("/api/dashboard"));
    }

    #[test]
    fn the_routes_are_found_by_exact_path() {
        let guard = Guard::default();
        assert_eq!(guard.route("/token"), Some(Endpoint::Refresh));
        assert_eq!(guard.route("/logout"), Some(Endpoint::Logout));
        assert_eq!(guard.route("/token/"), None);
        assert_eq!(guard.route("/api"), None);
        assert_eq!(guard.route(DEFAULT_JWKS_PATH), None);
        let guard = Guard {
            jwks_path: Some(DEFAULT_JWKS_PATH.into()),
            ..Guard::default()
        };
        assert_eq!(guard.route("/.well-known/jwks.json"), Some(Endpoint::Jwks));
        assert_eq!(guard.route(DEFAULT_SESSIONS_PATH), None, "off by default");
        let guard = Guard {
            sessions_path: Some(DEFAULT_SESSIONS_PATH.into()),
            ..Guard::default()
        };
        assert_eq!(guard.route("/sessions"), Some(Endpoint::Sessions));
        assert_eq!(guard.route("/sessions/abc"), Some(Endpoint::Sessions));
        assert_eq!(guard.route("/sessionsx"), None);
    }

    #[test]
    fn the_path_follows_rfc_8414() {
        assert_eq!(
            metadata_path("https://login.example.com").as_deref(),
            Some("/.well-known/oauth-authorization-server")
        );
        assert_eq!(
            metadata_path("https://login.example.com/").as_deref(),
            Some("/.well-known/oauth-authorization-server")
        );
        assert_eq!(
            metadata_path("https://login.example.com/tenant1").as_deref(),
            Some("/.well-known/oauth-authorization-server/tenant1")
        );
        assert_eq!(metadata_path("my-service"), None);
        assert_eq!(metadata_path("https://login.example.com/?q=1"), None);
        assert_eq!(metadata_path("urn:example:issuer"), None);
    }
}
