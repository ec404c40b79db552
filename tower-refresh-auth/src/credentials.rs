//! Reading a bearer token from a request (RFC 6750 §2).

use http::HeaderMap;
use http::header::{AUTHORIZATION, COOKIE};

use crate::error::{AuthError, malformed};

/// The access token a request carries: from its one `Authorization: Bearer` header, or from
/// the access-token cookie when one is configured — never both.
///
/// - no credentials, or another scheme (`Basic …`) → [`AuthError::MissingCredentials`]
///   (RFC 6750 §3.1: no error code for a client unaware of bearer auth);
/// - two `Authorization` headers, `Bearer` with no token, a token outside the `b64token`
///   grammar, a token sent two ways at once → [`AuthError::MalformedCredentials`].
///
/// Without an access-token cookie, the header's token comes back with its `b64token` grammar
/// not yet checked ([`Presented::Unchecked`]): a verified-token cache hit does not need it,
/// and [`Presented::text`] makes it, with the same refusal, before anything else reads the
/// token. With a cookie every check is made here, in the order [`presented`] makes them.
pub(crate) fn access_token<'a>(
    headers: &'a HeaderMap,
    cookie_name: Option<&str>,
) -> Result<Presented<'a>, AuthError> {
    if cookie_name.is_some() {
        return presented(headers, cookie_name, false).map(|(_, token)| Presented::Text(token));
    }
    match bearer(headers, false)? {
        Some((_, token)) => Ok(Presented::Unchecked(token)),
        None => Err(AuthError::MissingCredentials),
    }
}

/// An access token as a request presents it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Presented<'a> {
    /// Read as text: its grammar checked, or a token the application hands in
    /// ([`RefreshAuth::verify`](crate::RefreshAuth::verify)).
    Text(&'a str),
    /// An `Authorization` header's token whose `b64token` grammar is still to be checked.
    ///
    /// Only a token that verified is ever cached, and a token that verifies is base64url
    /// segments, so a cache hit on these bytes proves the grammar; anything else reads the
    /// token with [`Presented::text`], which checks it first.
    Unchecked(&'a [u8]),
}

impl<'a> Presented<'a> {
    /// The token's bytes, for the verified-token cache's lookup.
    pub(crate) fn as_bytes(self) -> &'a [u8] {
        match self {
            Self::Text(token) => token.as_bytes(),
            Self::Unchecked(token) => token,
        }
    }

    /// The token as text, its `b64token` grammar checked if it was not yet.
    ///
    /// # Errors
    ///
    /// [`AuthError::MalformedCredentials`] for a token outside the grammar.
    pub(crate) fn text(self) -> Result<&'a str, AuthError> {
        match self {
            Self::Text(token) => Ok(token),
            Self::Unchecked(token) => checked(token),
        }
    }
}

/// How an access token was presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scheme {
    /// `Authorization: Bearer`, or the access-token cookie (RFC 6750).
    Bearer,
    /// `Authorization: DPoP` (RFC 9449 §7.1), only when `dpop` is on.
    Dpop,
}

/// The access token a request carries and how, as [`access_token`]; with `dpop` on, the
/// `DPoP` scheme is read too (its token has the same `token68` grammar).
pub(crate) fn presented<'a>(
    headers: &'a HeaderMap,
    cookie_name: Option<&str>,
    dpop: bool,
) -> Result<(Scheme, &'a str), AuthError> {
    let from_header = authorization(headers, dpop)?;
    let from_cookie = match cookie_name {
        Some(name) => cookie(headers, name)?,
        None => None,
    };
    match (from_header, from_cookie) {
        (Some(token), None) => Ok(token),
        (None, Some(token)) => Ok((Scheme::Bearer, token)),
        (Some(_), Some(_)) => Err(malformed("the token was sent in more than one way")),
        (None, None) => Err(AuthError::MissingCredentials),
    }
}

fn authorization(headers: &HeaderMap, dpop: bool) -> Result<Option<(Scheme, &str)>, AuthError> {
    match bearer(headers, dpop)? {
        Some((scheme, token)) => checked(token).map(|token| Some((scheme, token))),
        None => Ok(None),
    }
}

/// The `Authorization` header's scheme and token, every check but the token's grammar made.
fn bearer(headers: &HeaderMap, dpop: bool) -> Result<Option<(Scheme, &[u8])>, AuthError> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(malformed("more than one Authorization header"));
    }
    // Worked on as bytes: one pass over the token checks its grammar, which implies ASCII.
    let value = value.as_bytes();
    // RFC 7235 §2.1: `credentials = auth-scheme [ 1*SP token68 ]`, scheme case-insensitive.
    // The scheme also ends at a tab, which tchar excludes: `Bearer<TAB>token` is a bearer
    // attempt with a separator the grammar forbids, so it is malformed, not absent.
    let (scheme, rest) = match value.iter().position(|&b| b == b' ' || b == b'\t') {
        Some(i) => (&value[..i], &value[i..]),
        None => (value, &[][..]),
    };
    let scheme = if scheme.eq_ignore_ascii_case(b"bearer") {
        Scheme::Bearer
    } else if dpop && scheme.eq_ignore_ascii_case(b"dpop") {
        Scheme::Dpop
    } else {
        return Ok(None);
    };
    let start = rest.iter().position(|&b| b != b' ').unwrap_or(rest.len());
    let token = &rest[start..];
    if token.is_empty() {
        return Err(malformed("the Authorization credentials have no token"));
    }
    Ok(Some((scheme, token)))
}

/// An `Authorization` header's token as text, once its `b64token` grammar is checked.
fn checked(token: &[u8]) -> Result<&str, AuthError> {
    if !is_b64token(token) {
        return Err(malformed("the bearer token is not a b64token"));
    }
    // A b64token is ASCII, so this cannot fail.
    std::str::from_utf8(token).map_err(|_| malformed("the bearer token is not a b64token"))
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, AuthError> {
    let mut found = None;
    for (k, v) in cookie_pairs(headers) {
        if k == name.as_bytes() {
            if found.is_some() {
                return Err(malformed("the access-token cookie was sent twice"));
            }
            if !is_b64token(v) {
                return Err(malformed("the access-token cookie is not a b64token"));
            }
            // A b64token is ASCII, so this cannot fail.
            found = Some(
                std::str::from_utf8(v)
                    .map_err(|_| malformed("the access-token cookie is not a b64token"))?,
            );
        }
    }
    Ok(found)
}

/// The one value of cookie `name`, from every `Cookie` header (HTTP/2 may split them); `None`
/// if absent, empty or not UTF-8.
///
/// # Errors
///
/// `Err(())` when the cookie was sent more than once (two cookies of one name on different
/// paths or domains): which one is ours cannot be told, so neither is used.
pub(crate) fn single_cookie<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, ()> {
    let mut values = cookie_pairs(headers).filter(|(k, _)| *k == name.as_bytes());
    let first = values.next();
    if values.next().is_some() {
        return Err(());
    }
    Ok(first
        .and_then(|(_, v)| std::str::from_utf8(v).ok())
        .filter(|v| !v.is_empty()))
}

/// Every `name=value` pair of every `Cookie` header, as bytes: a cookie with non-ASCII bytes
/// set by another application on the same site must not hide ours (RFC 6265 §5.4 leaves
/// cookie values opaque, and browsers send such bytes as they are).
fn cookie_pairs(headers: &HeaderMap) -> impl Iterator<Item = (&[u8], &[u8])> {
    headers
        .get_all(COOKIE)
        .iter()
        .flat_map(|v| v.as_bytes().split(|&b| b == b';'))
        .filter_map(|pair| {
            let pair = pair.trim_ascii();
            let eq = pair.iter().position(|&b| b == b'=')?;
            Some((&pair[..eq], &pair[eq + 1..]))
        })
}

/// RFC 6750 §2.1: `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
pub(crate) fn is_b64token(s: &[u8]) -> bool {
    let body_len = s.len() - s.iter().rev().take_while(|&&b| b == b'=').count();
    // Every byte is looked up, with no early exit: a loop without a branch per byte, which
    // the compiler unrolls. Under callgrind the whole header parse of a 270-byte token went
    // from 2.5k instructions (with `all`) to 1.5k.
    body_len > 0
        && s[..body_len]
            .iter()
            .fold(true, |ok, &b| ok & B64TOKEN[usize::from(b)])
}

/// The bytes allowed in a b64token before its padding, as a lookup table.
const B64TOKEN: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] =
            c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~' | b'+' | b'/');
        b += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(auth: &[&[u8]]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in auth {
            h.append(AUTHORIZATION, HeaderValue::from_bytes(v).unwrap());
        }
        h
    }

    /// The token as the layer reads it on a miss of the cache: grammar checked.
    fn access_token<'a>(h: &'a HeaderMap, cookie: Option<&str>) -> Result<&'a str, AuthError> {
        super::access_token(h, cookie).and_then(Presented::text)
    }

    fn kind(r: Result<&str, AuthError>) -> &'static str {
        match r {
            Ok(_) => "ok",
            Err(AuthError::MissingCredentials) => "missing",
            Err(AuthError::MalformedCredentials(_)) => "malformed",
            Err(_) => "other",
        }
    }

    #[test]
    fn the_grammar() {
        let cases: &[(&[u8], &str)] = &[
            (b"Bearer abc.def.ghi", "ok"),
            (b"bearer abc", "ok"),
            (b"BEARER abc==", "ok"),
            (b"Bearer  abc", "ok"), // 1*SP
            (b"Bearer", "malformed"),
            (b"Bearer ", "malformed"),
            (b"Bearer a b", "malformed"),
            (b"Bearer a\tb", "malformed"),
            (b"Bearer \tabc", "malformed"),
            (b"Bearer\tabc", "malformed"),
            (b"bearer\t\tabc", "malformed"),
            (b"Bearer abc!", "malformed"),
            (b"Bearer =abc", "malformed"),
            (b"Bearer \xff\xfe", "malformed"),
            (b"Basic dXNlcjpwYXNz", "missing"),
            (b"Bearerabc", "missing"),
        ];
        for (value, want) in cases {
            let h = headers(&[value]);
            assert_eq!(
                kind(access_token(&h, None)),
                *want,
                "{:?}",
                String::from_utf8_lossy(value)
            );
        }
    }

    #[test]
    fn a_cookie_sent_twice_is_refused_across_headers_too() {
        let mut h = HeaderMap::new();
        h.append(COOKIE, HeaderValue::from_static("rt=a; theme=dark"));
        assert_eq!(single_cookie(&h, "rt"), Ok(Some("a")));
        h.append(COOKIE, HeaderValue::from_static("rt=b"));
        assert_eq!(single_cookie(&h, "rt"), Err(()));
        h.insert(COOKIE, HeaderValue::from_static("rt=; x=1"));
        assert_eq!(single_cookie(&h, "rt"), Ok(None));
    }

    #[test]
    fn the_dpop_scheme_is_read_only_when_on() {
        let h = headers(&[b"DPoP abc.def.ghi"]);
        assert_eq!(kind(access_token(&h, None)), "missing");
        assert_eq!(
            presented(&h, None, true).unwrap(),
            (Scheme::Dpop, "abc.def.ghi")
        );
        let h = headers(&[b"dpop "]);
        assert!(matches!(
            presented(&h, None, true),
            Err(AuthError::MalformedCredentials(_))
        ));
        let h = headers(&[b"Bearer abc"]);
        assert_eq!(presented(&h, None, true).unwrap(), (Scheme::Bearer, "abc"));
    }

    #[test]
    fn two_headers_are_malformed() {
        let h = headers(&[b"Bearer a", b"Bearer b"]);
        assert_eq!(kind(access_token(&h, None)), "malformed");
    }

    #[test]
    fn cookie_source() {
        let mut h = HeaderMap::new();
        h.insert(
            COOKIE,
            HeaderValue::from_static("theme=dark; at=abc.def.ghi"),
        );
        assert_eq!(access_token(&h, Some("at")).unwrap(), "abc.def.ghi");
        assert_eq!(kind(access_token(&h, None)), "missing");
        h.insert(
            AUTHORIZATION,
            HeaderValue::from_static("Bearer abc.def.ghi"),
        );
        assert_eq!(kind(access_token(&h, Some("at"))), "malformed");
    }

    #[test]
    fn a_non_ascii_sibling_cookie_does_not_hide_ours() {
        let mut h = HeaderMap::new();
        h.insert(
            COOKIE,
            HeaderValue::from_bytes(b"name=caf\xc3\xa9; raw=\xff\xfe; at=abc.def.ghi").unwrap(),
        );
        assert_eq!(access_token(&h, Some("at")).unwrap(), "abc.def.ghi");
        assert_eq!(single_cookie(&h, "name"), Ok(Some("café")));
        assert_eq!(single_cookie(&h, "raw"), Ok(None));
        assert_eq!(single_cookie(&h, "at"), Ok(Some("abc.def.ghi")));
        assert_eq!(single_cookie(&h, "none"), Ok(None));
        h.insert(COOKIE, HeaderValue::from_bytes(b"at=\xc3\xa9").unwrap());
        assert_eq!(kind(access_token(&h, Some("at"))), "malformed");
    }
}
