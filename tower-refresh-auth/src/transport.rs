//! How the refresh token travels between client and server: in the request and response
//! bodies ([`RefreshTransport::Body`], the default), or in an `HttpOnly` cookie with a CSRF
//! header (`docs/protocol.md` §5), chosen with
//! [`transport`](crate::RefreshAuthBuilder::transport).

use std::str::FromStr;
use std::time::Duration;

use cookie::{Cookie, SameSite};
use http::header::SET_COOKIE;
use http::{HeaderMap, HeaderName, HeaderValue};

use crate::credentials::single_cookie;
use crate::error::{AuthError, invalid_request};

/// How the refresh token travels between client and server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum RefreshTransport {
    /// In the JSON (or form) body of the login, refresh and logout requests and responses.
    /// The client stores it; script on the page can read it (see SECURITY.md).
    #[default]
    Body,
    /// In an `HttpOnly; Secure; SameSite=Strict` cookie scoped to the refresh and logout
    /// paths; requests that carry it must also carry the CSRF header.
    Cookie,
}

/// The text was neither `body` nor `cookie`.
#[derive(Debug, Clone, thiserror::Error)]
#[error("unknown refresh transport {0:?}: expected `body` or `cookie`")]
pub struct ParseTransportError(String);

impl FromStr for RefreshTransport {
    type Err = ParseTransportError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "body" => Ok(Self::Body),
            "cookie" => Ok(Self::Cookie),
            _ => Err(ParseTransportError(s.to_owned())),
        }
    }
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
            RefreshTransport::Cookie
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
