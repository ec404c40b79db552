//! How the refresh token travels between client and server: in the request and response
//! bodies ([`RefreshTransport::Body`], the default), or in an `HttpOnly` cookie with a CSRF
//! header ([`RefreshTransport::cookie()`], `docs/protocol.md` §5), given to
//! [`transport`](crate::RefreshAuthBuilder::transport).

use std::str::FromStr;
use std::time::Duration;

use cookie::{Cookie, SameSite};
use http::header::SET_COOKIE;
use http::{HeaderMap, HeaderName, HeaderValue};

use crate::credentials::single_cookie;
use crate::error::{AuthError, ConfigError, invalid_request};

/// How the refresh token travels between client and server.
///
/// ```
/// use tower_refresh_auth::transport::{CookieTransport, RefreshTransport};
/// use tower_refresh_auth::{NoClaims, RefreshAuth};
///
/// let auth = RefreshAuth::<NoClaims>::builder()
///     .hs256(b"an example secret of at least 32 bytes".to_vec())
///     .transport(CookieTransport::new().name("rt").csrf_header("X-CSRF"))
///     .build()?;
/// # let _ = auth;
///
/// // Parsed from `body` or `cookie` (the examples' `REFRESH_TRANSPORT`).
/// let transport: RefreshTransport = "cookie".parse()?;
/// assert!(transport.is_cookie());
///
/// // A CSRF header a browser sends by itself proves nothing: refused when built.
/// let err = RefreshAuth::<NoClaims>::builder()
///     .hs256(b"an example secret of at least 32 bytes".to_vec())
///     .transport(CookieTransport::new().csrf_header("Origin"))
///     .build()
///     .unwrap_err();
/// assert!(err.to_string().contains("sent by browsers"));
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum RefreshTransport {
    /// In the JSON (or form) body of the login, refresh and logout requests and responses.
    /// The client stores it; script on the page can read it (see SECURITY.md).
    #[default]
    Body,
    /// In an `HttpOnly; Secure; SameSite=Strict` cookie scoped to the refresh and logout
    /// paths; requests that carry it must also carry the CSRF header.
    Cookie(CookieTransport),
}

impl RefreshTransport {
    /// Cookie mode with the default [`CookieTransport`].
    #[must_use]
    pub fn cookie() -> Self {
        Self::Cookie(CookieTransport::new())
    }

    /// Whether the refresh token travels in a cookie.
    #[must_use]
    pub fn is_cookie(&self) -> bool {
        matches!(self, Self::Cookie(_))
    }

    /// The transport as the layer runs it; cookies are scoped to `paths` (refresh, logout)
    /// and live `max_age`.
    pub(crate) fn check(
        self,
        paths: [&str; 2],
        max_age: Duration,
    ) -> Result<Transport, ConfigError> {
        match self {
            Self::Body => Ok(Transport::Body),
            Self::Cookie(cookie) => cookie.check(paths, max_age).map(Transport::Cookie),
        }
    }
}

impl From<CookieTransport> for RefreshTransport {
    fn from(cookie: CookieTransport) -> Self {
        Self::Cookie(cookie)
    }
}

/// The text was neither `body` nor `cookie`.
#[derive(Debug, Clone, thiserror::Error)]
#[error("unknown refresh transport {0:?}: expected `body` or `cookie`")]
pub struct ParseTransportError(String);

impl FromStr for RefreshTransport {
    type Err = ParseTransportError;

    /// `body`, or `cookie` with the default [`CookieTransport`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "body" => Ok(Self::Body),
            "cookie" => Ok(Self::cookie()),
            _ => Err(ParseTransportError(s.to_owned())),
        }
    }
}

/// Cookie mode's settings: the cookie's name, whether it is `Secure`, and the CSRF header
/// every request that sets or clears it must carry. Checked when the layer is built.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "give it to `RefreshAuthBuilder::transport`"]
pub struct CookieTransport {
    name: String,
    secure: bool,
    csrf_header: String,
}

impl Default for CookieTransport {
    fn default() -> Self {
        Self::new()
    }
}

impl CookieTransport {
    /// The defaults: a `Secure` cookie named `refresh_token`, and `X-Requested-With` as the
    /// CSRF header.
    pub fn new() -> Self {
        Self {
            name: "refresh_token".into(),
            secure: true,
            csrf_header: "x-requested-with".into(),
        }
    }

    /// The refresh cookie's name. Default `refresh_token`; letters, digits, `-` and `_`.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Whether the refresh cookie is marked `Secure`. Default `true`.
    ///
    /// # Warning
    ///
    /// Without `Secure` the refresh token can travel over plain HTTP. Browsers accept
    /// `Secure` cookies from `http://localhost`, so turning this off is rarely needed.
    pub fn secure(mut self, secure: bool) -> Self {
        self.secure = secure;
        self
    }

    /// The header every cookie-mode refresh and logout must carry (CSRF defence): a
    /// cross-site form cannot send a custom header without a CORS preflight. Default
    /// `X-Requested-With`. A header that browsers send on simple cross-site requests, or set
    /// themselves (`Content-Type`, `Origin`, `Sec-…`), is refused when the layer is built.
    pub fn csrf_header(mut self, name: impl Into<String>) -> Self {
        self.csrf_header = name.into();
        self
    }

    fn check(self, paths: [&str; 2], max_age: Duration) -> Result<CookieSettings, ConfigError> {
        check_cookie_name("cookie", &self.name)?;
        if is_sent_by_browsers(&self.csrf_header) {
            return Err(ConfigError::CsrfHeaderSentByBrowsers(self.csrf_header));
        }
        let csrf_header = HeaderName::try_from(self.csrf_header.as_str()).map_err(|_| {
            ConfigError::InvalidName {
                what: "CSRF header",
                name: self.csrf_header.clone(),
            }
        })?;
        Ok(CookieSettings {
            name: self.name,
            secure: self.secure,
            csrf_header,
            paths: paths.map(str::to_owned),
            max_age,
        })
    }
}

/// Refuses a cookie name that is not a token of letters, digits, `-` and `_`.
pub(crate) fn check_cookie_name(what: &'static str, name: &str) -> Result<(), ConfigError> {
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(ConfigError::InvalidName {
            what,
            name: name.to_owned(),
        });
    }
    Ok(())
}

/// Whether browsers send `name` on simple cross-site requests, or set it themselves: such a
/// header proves nothing about where a request came from.
fn is_sent_by_browsers(name: &str) -> bool {
    const SAFELISTED: &[&str] = &[
        "accept",
        "accept-language",
        "content-language",
        "content-type",
        "range",
    ];
    const FORBIDDEN: &[&str] = &[
        "accept-charset",
        "accept-encoding",
        "access-control-request-headers",
        "access-control-request-method",
        "connection",
        "content-length",
        "cookie",
        "cookie2",
        "date",
        "dnt",
        "expect",
        "host",
        "keep-alive",
        "origin",
        "priority",
        "referer",
        "set-cookie",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "user-agent",
        "via",
    ];
    let name = name.trim().to_ascii_lowercase();
    SAFELISTED.contains(&name.as_str())
        || FORBIDDEN.contains(&name.as_str())
        || name.starts_with("proxy-")
        || name.starts_with("sec-")
}

/// The transport as built: cookie mode carries its settings.
#[derive(Debug, Clone)]
pub(crate) enum Transport {
    Body,
    Cookie(CookieSettings),
}

/// Cookie mode, as built.
#[derive(Debug, Clone)]
pub(crate) struct CookieSettings {
    pub(crate) name: String,
    pub(crate) secure: bool,
    pub(crate) csrf_header: HeaderName,
    /// The refresh and logout paths: one cookie each, so the token goes nowhere else.
    pub(crate) paths: [String; 2],
    /// The cookie's `Max-Age`: the refresh-token TTL.
    pub(crate) max_age: Duration,
}

impl CookieSettings {
    /// The refresh token of a cookie-mode request to `/token` or `/logout`, if it carries one.
    ///
    /// Every such request sets or clears the cookie, so every one must carry the CSRF header,
    /// with or without a cookie: `SameSite=Strict` keeps the cookie off cross-site requests,
    /// and a cross-site form cannot send a custom header without a CORS preflight. Without
    /// the header, a cross-site `POST /logout` would clear the victim's cookie.
    ///
    /// # Errors
    ///
    /// [`AuthError::MissingCsrfHeader`] without the header; `invalid_request` when the cookie
    /// was sent more than once.
    pub(crate) fn refresh_token<'a>(
        &self,
        headers: &'a HeaderMap,
    ) -> Result<Option<&'a str>, AuthError> {
        if !headers.contains_key(&self.csrf_header) {
            return Err(AuthError::MissingCsrfHeader(self.csrf_header.clone()));
        }
        single_cookie(headers, &self.name)
            .map_err(|()| invalid_request("the refresh cookie was sent more than once"))
    }

    /// Appends the `Set-Cookie` headers that hand the browser `token`.
    pub(crate) fn set(&self, headers: &mut HeaderMap, token: &str) {
        self.write(headers, Some(token));
    }

    /// Appends the `Set-Cookie` headers that make the browser forget the token.
    pub(crate) fn clear(&self, headers: &mut HeaderMap) {
        self.write(headers, None);
    }

    fn write(&self, headers: &mut HeaderMap, token: Option<&str>) {
        for path in &self.paths {
            let mut cookie = Cookie::build((self.name.as_str(), token.unwrap_or("")))
                .http_only(true)
                .secure(self.secure)
                .same_site(SameSite::Strict)
                .path(path.as_str())
                .build();
            match token {
                Some(_) => cookie.set_max_age(cookie::time::Duration::seconds(
                    i64::try_from(self.max_age.as_secs()).unwrap_or(i64::MAX),
                )),
                None => cookie.make_removal(),
            }
            if let Ok(value) = HeaderValue::try_from(cookie.to_string()) {
                headers.append(SET_COOKIE, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transports_parse_from_text() {
        assert_eq!(
            "body".parse::<RefreshTransport>().unwrap(),
            RefreshTransport::Body
        );
        assert_eq!(
            " Cookie ".parse::<RefreshTransport>().unwrap(),
            RefreshTransport::cookie()
        );
        assert!("header".parse::<RefreshTransport>().is_err());
    }

    #[test]
    fn one_cookie_per_path_and_a_removal_for_each() {
        let settings = CookieSettings {
            name: "rt".into(),
            secure: true,
            csrf_header: HeaderName::from_static("x-requested-with"),
            paths: ["/token".into(), "/logout".into()],
            max_age: Duration::from_secs(60),
        };
        let mut headers = HeaderMap::new();
        settings.set(&mut headers, "abc");
        let set: Vec<_> = headers.get_all(SET_COOKIE).iter().collect();
        assert_eq!(set.len(), 2);
        for (value, path) in set.iter().zip(["/token", "/logout"]) {
            let value = value.to_str().unwrap();
            assert!(value.starts_with("rt=abc;"), "{value}");
            assert!(value.contains("HttpOnly") && value.contains("Secure"));
            assert!(value.contains("SameSite=Strict") && value.contains("Max-Age=60"));
            assert!(value.contains(&format!("Path={path}")), "{value}");
        }
        let mut headers = HeaderMap::new();
        settings.clear(&mut headers);
        for value in headers.get_all(SET_COOKIE) {
            assert!(value.to_str().unwrap().contains("Max-Age=0"));
        }
    }
}
