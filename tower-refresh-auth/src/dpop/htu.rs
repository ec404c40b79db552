//! Which URL a request was made to, for the proof's `htu` (RFC 9449 §4.3 step 9): compared
//! after syntax- and scheme-based normalisation (RFC 3986 §6.2.2, §6.2.3) — scheme and host
//! case, the default port, dot segments, an empty path — and without query and fragment.
//!
//! A server behind a proxy does not see the URL its clients used, so where the layer's
//! public URL comes from is configured: a fixed origin
//! ([`Dpop::origin`](super::Dpop::origin)), or the request's own `Host`
//! (or HTTP/2 `:authority`) with a configured scheme
//! ([`Dpop::origin_from_host`](super::Dpop::origin_from_host)).

use http::header::HOST;
use http::{HeaderMap, Uri};
use url::Url;

use crate::error::ConfigError;

/// Where the public URL of a request comes from.
#[derive(Debug, Clone)]
pub(crate) enum Origin {
    /// A fixed `scheme://host[:port][/base]`, normalised when built.
    Fixed {
        /// `scheme://host[:port]`, as `url` serialises it.
        origin: String,
        /// A path the service is mounted under, without a trailing `/` (often empty).
        base: String,
    },
    /// The request's authority, with this scheme.
    Host {
        /// `http` or `https`.
        scheme: &'static str,
    },
}

impl Origin {
    /// A fixed origin from the service's public base URL.
    ///
    /// # Errors
    ///
    /// Not an `http(s)` URL, or one with a query, a fragment or credentials.
    pub(crate) fn fixed(base_url: &str) -> Result<Self, ConfigError> {
        let bad = || ConfigError::InvalidDpopOrigin(base_url.to_owned());
        let url = Url::parse(base_url).map_err(|_| bad())?;
        if !matches!(url.scheme(), "http" | "https")
            || url.host_str().is_none()
            || url.query().is_some()
            || url.fragment().is_some()
            || !url.username().is_empty()
            || url.password().is_some()
        {
            return Err(bad());
        }
        Ok(Self::Fixed {
            origin: url.origin().ascii_serialization(),
            base: url.path().trim_end_matches('/').to_owned(),
        })
    }

    /// The request's authority with `scheme` (`http` or `https`).
    ///
    /// # Errors
    ///
    /// Another scheme.
    pub(crate) fn from_host(scheme: &str) -> Result<Self, ConfigError> {
        match scheme.to_ascii_lowercase().as_str() {
            "http" => Ok(Self::Host { scheme: "http" }),
            "https" => Ok(Self::Host { scheme: "https" }),
            _ => Err(ConfigError::InvalidDpopOrigin(scheme.to_owned())),
        }
    }

    /// Whether `htu` names the URL of the request for `uri` with `headers`.
    ///
    /// # Errors
    ///
    /// Why not, for the client.
    pub(crate) fn matches(
        &self,
        htu: &str,
        uri: &Uri,
        headers: &HeaderMap,
    ) -> Result<(), &'static str> {
        const OTHER: &str = "the DPoP proof is for another URL (htu)";
        let claimed = Url::parse(htu).map_err(|_| "the DPoP proof's htu is not a URL")?;
        let actual = match self {
            Self::Fixed { origin, base } => format!("{origin}{base}{}", uri.path()),
            Self::Host { scheme } => {
                let authority = match uri.authority() {
                    Some(authority) => authority.as_str(),
                    None => one_host(headers).ok_or("the request has no single Host header")?,
                };
                format!("{scheme}://{authority}{}", uri.path())
            }
        };
        let actual = Url::parse(&actual).map_err(|_| OTHER)?;
        let same = claimed.scheme() == actual.scheme()
            && claimed.host_str() == actual.host_str()
            && claimed.port_or_known_default() == actual.port_or_known_default()
            && claimed.path() == actual.path()
            && claimed.username().is_empty()
            && claimed.password().is_none();
        if same { Ok(()) } else { Err(OTHER) }
    }
}

/// The request's one `Host` header, as text.
fn one_host(headers: &HeaderMap) -> Option<&str> {
    let mut values = headers.get_all(HOST).iter();
    let first = values.next()?;
    if values.next().is_some() {
        return None;
    }
    first
        .to_str()
        .ok()
        .filter(|h| !h.is_empty() && !h.contains(['/', '?', '#', '@']))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(origin: &Origin, htu: &str, uri: &str, host: Option<&str>) -> bool {
        let uri: Uri = uri.parse().unwrap();
        let mut headers = HeaderMap::new();
        if let Some(host) = host {
            headers.insert(HOST, host.parse().unwrap());
        }
        origin.matches(htu, &uri, &headers).is_ok()
    }

    #[test]
    fn normalised_forms_match_and_others_do_not() {
        let o = Origin::fixed("https://API.example.com:443/").unwrap();
        for htu in [
            "https://api.example.com/token",
            "HTTPS://Api.Example.COM:443/token",
            "https://api.example.com/a/../token",
            "https://api.example.com/token?x=1#frag",
        ] {
            assert!(check(&o, htu, "/token", None), "{htu}");
        }
        for htu in [
            "http://api.example.com/token",
            "https://api.example.com:8443/token",
            "https://evil.example.com/token",
            "https://api.example.com/token/",
            "https://api.example.com/other",
            "https://user@api.example.com/token",
            "/token",
            "not a url",
        ] {
            assert!(!check(&o, htu, "/token", None), "{htu}");
        }
    }

    #[test]
    fn a_base_path_is_prefixed() {
        let o = Origin::fixed("https://example.com/api/").unwrap();
        assert!(check(&o, "https://example.com/api/token", "/token", None));
        assert!(!check(&o, "https://example.com/token", "/token", None));
    }

    #[test]
    fn the_host_header_with_a_scheme() {
        let o = Origin::from_host("http").unwrap();
        assert!(check(
            &o,
            "http://127.0.0.1:3000/x",
            "/x",
            Some("127.0.0.1:3000")
        ));
        assert!(check(&o, "http://localhost/x", "/x", Some("LOCALHOST:80")));
        assert!(!check(
            &o,
            "https://127.0.0.1:3000/x",
            "/x",
            Some("127.0.0.1:3000")
        ));
        assert!(!check(&o, "http://127.0.0.1:3000/x", "/x", None));
        assert!(!check(&o, "http://a@b/x", "/x", Some("a@b")));
        // An absolute-form request target (or HTTP/2 :authority) wins over Host.
        assert!(check(
            &o,
            "http://b.example/x",
            "http://b.example/x",
            Some("a.example")
        ));
    }

    #[test]
    fn bad_origins_are_refused() {
        for bad in [
            "ftp://x",
            "https://x/?q",
            "https://x/#f",
            "https://u:p@x",
            "x",
            "",
        ] {
            assert!(Origin::fixed(bad).is_err(), "{bad}");
        }
        assert!(Origin::from_host("ws").is_err());
    }
}
