//! The introspection client's credentials: read from HTTP Basic authentication (RFC 7617,
//! with the form-encoding of RFC 6749 §2.3.1) and compared in constant time.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::HeaderMap;
use http::header::AUTHORIZATION;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The credentials a request presents.
#[derive(PartialEq, Eq)]
pub(crate) enum Presented {
    /// None: no guess was made.
    Missing,
    /// Something no client could be authenticated by: another scheme, a garbled value, two
    /// `Authorization` headers.
    Garbled,
    /// A `Basic` client id and secret, form-decoded.
    Basic { id: String, secret: String },
}

impl std::fmt::Debug for Presented {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret.
        match self {
            Self::Missing => f.write_str("Missing"),
            Self::Garbled => f.write_str("Garbled"),
            Self::Basic { .. } => f.write_str("Basic"),
        }
    }
}

impl Presented {
    /// What `headers` carry.
    pub(crate) fn of(headers: &HeaderMap) -> Self {
        let mut values = headers.get_all(AUTHORIZATION).iter();
        match (values.next(), values.next()) {
            (None, _) => Self::Missing,
            (Some(value), None) => value
                .to_str()
                .ok()
                .and_then(basic)
                .map_or(Self::Garbled, |(id, secret)| Self::Basic { id, secret }),
            (Some(_), Some(_)) => Self::Garbled,
        }
    }
}

/// The configured client, kept as digests: a comparison takes the same time whatever the
/// lengths and contents of the presented id and secret.
pub(crate) struct Client {
    id: [u8; 32],
    secret: [u8; 32],
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").finish_non_exhaustive()
    }
}

impl Client {
    pub(crate) fn new(id: &str, secret: &str) -> Self {
        Self {
            id: Sha256::digest(id).into(),
            secret: Sha256::digest(secret).into(),
        }
    }

    /// Whether `presented` are this client's credentials.
    pub(crate) fn accepts(&self, presented: &Presented) -> bool {
        let Presented::Basic { id, secret } = presented else {
            return false;
        };
        let id: [u8; 32] = Sha256::digest(id.as_bytes()).into();
        let secret: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
        // Both compared, whichever is wrong: one answer, one duration.
        bool::from(id.ct_eq(&self.id) & secret.ct_eq(&self.secret))
    }
}

/// The client id and secret of a `Basic` credential: base64 of `id:secret` (RFC 7617 §2),
/// each form-decoded (RFC 6749 §2.3.1). `None` for another scheme or a garbled value.
fn basic(value: &str) -> Option<(String, String)> {
    let (scheme, encoded) = value.trim().split_once(' ')?;
    // RFC 7235 §2.1: the scheme is case-insensitive.
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(encoded.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    // RFC 7617 §2: the user-id cannot contain a colon; the password may.
    let (id, secret) = decoded.split_once(':')?;
    Some((form_decode(id)?, form_decode(secret)?))
}

/// `application/x-www-form-urlencoded` decoding of one value: `+` is a space, `%XX` a byte.
fn form_decode(value: &str) -> Option<String> {
    let spaced = value.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .ok()
        .map(|v| v.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append(AUTHORIZATION, HeaderValue::from_str(v).unwrap());
        }
        headers
    }

    fn basic_of(credentials: &str) -> String {
        format!("Basic {}", STANDARD.encode(credentials))
    }

    fn accepts(client: &Client, values: &[&str]) -> bool {
        client.accepts(&Presented::of(&headers(values)))
    }

    #[test]
    fn credentials_are_read_as_rfc_6749_says() {
        let client = Client::new("gate-way", "s3cr.t~_");
        assert_eq!(Presented::of(&headers(&[])), Presented::Missing);
        assert!(!accepts(&client, &[]));
        let good = basic_of("gate-way:s3cr.t~_");
        assert!(accepts(&client, &[&good]));
        // Form-encoded, as Authlib and most OAuth clients send them.
        let encoded = basic_of("gate%2Dway:s3cr%2Et%7E_");
        assert!(accepts(&client, &[&encoded]));
        let lower = good.replacen("Basic", "bASIC", 1);
        assert!(accepts(&client, &[&lower]));
        for wrong in [
            basic_of("gate-way:s3cr.t~"),
            basic_of("gate-way:s3cr.t~_x"),
            basic_of("other:s3cr.t~_"),
            basic_of("gate-way"),
            "Basic !!!".to_owned(),
            "Bearer abc".to_owned(),
            "Basic".to_owned(),
        ] {
            assert!(!accepts(&client, &[&wrong]), "{wrong}");
        }
        assert_eq!(Presented::of(&headers(&[&good, &good])), Presented::Garbled);
        assert_eq!(Presented::of(&headers(&["Bearer abc"])), Presented::Garbled);
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_headers_never_panic_nor_pass(value in "\\PC{0,80}") {
            let client = Client::new("gateway", "0f3a9c2e7b4d1a6f8e5c3b2a9d7f1e4c");
            if let Ok(value) = HeaderValue::from_str(&value) {
                let mut headers = HeaderMap::new();
                headers.insert(AUTHORIZATION, value);
                proptest::prop_assert!(!client.accepts(&Presented::of(&headers)));
            }
        }
    }
}
