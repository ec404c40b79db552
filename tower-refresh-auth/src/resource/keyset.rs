//! A JWK Set as a resource server reads it: every key's algorithm comes from the key (its
//! `alg`, or the issuer's allowed algorithms matched to its `kty` and `crv`), never from a
//! token, and a key that could be misused is left out.

use std::borrow::Cow;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, PublicKeyUse};
use serde::Deserialize;
use serde_json::Value;

use crate::keys::{Algorithm, VerifyingKey};
use crate::token::access::{KeyStatus, Verifier, validation};

/// The most keys one set may hold; a larger set is refused (a key set is a handful of keys;
/// thousands would make every unknown-`kid` lookup a scan an attacker chose the length of).
pub(crate) const MAX_KEYS: usize = 100;

/// The shortest RSA modulus accepted (RFC 7518 §3.3).
const MIN_RSA_BITS: usize = 2048;

/// What an issuer's tokens must meet besides the signature: its `iss`, one of its audiences,
/// and the algorithms it may sign with.
#[derive(Debug, Clone)]
pub(crate) struct Rules {
    pub(crate) iss: Option<String>,
    pub(crate) audiences: Vec<String>,
    pub(crate) algorithms: Vec<Algorithm>,
}

/// `{"keys": [...]}`, each key read on its own so one key of a type we do not know does not
/// hide the others (RFC 7517 §5).
#[derive(Deserialize)]
struct Document {
    keys: Vec<Value>,
}

/// The verifiers of every usable key of a JWK Set document.
///
/// A key is left out when it is for encryption (`use: "enc"`), symmetric (`kty: "oct"`: a
/// published secret is no secret, and an HMAC "signed" with a public key is the classic
/// algorithm confusion), of an algorithm the issuer does not allow or its key type cannot
/// make, an RSA key under 2048 bits, or its `kid` repeats an earlier key's.
///
/// # Errors
///
/// A document that is not a JWK Set, holds more than [`MAX_KEYS`] keys, or holds no usable
/// key.
pub(crate) fn parse(document: &[u8], rules: &Rules) -> Result<Vec<Verifier>, Cow<'static, str>> {
    let document: Document = serde_json::from_slice(document)
        .map_err(|_| Cow::Borrowed("not a JWK Set (a JSON object with a `keys` array)"))?;
    if document.keys.len() > MAX_KEYS {
        return Err(format!("more than {MAX_KEYS} keys").into());
    }
    let mut verifiers: Vec<Verifier> = Vec::with_capacity(document.keys.len());
    for key in document.keys {
        let Ok(jwk) = serde_json::from_value::<Jwk>(key) else {
            continue;
        };
        let Some(verifier) = verifier(&jwk, rules) else {
            continue;
        };
        if verifiers.iter().any(|v| v.key.kid == verifier.key.kid) {
            // Two keys under one kid: which one a token means cannot be told.
            verifiers.retain(|v| v.key.kid != verifier.key.kid);
            continue;
        }
        verifiers.push(verifier);
    }
    if verifiers.is_empty() {
        return Err("no key the issuer's rules accept".into());
    }
    Ok(verifiers)
}

/// The verifier of one JWK, if it is usable under `rules`.
pub(crate) fn verifier(jwk: &Jwk, rules: &Rules) -> Option<Verifier> {
    if matches!(
        jwk.common.public_key_use,
        Some(PublicKeyUse::Encryption | PublicKeyUse::Other(_))
    ) {
        return None;
    }
    let algorithms = algorithms(jwk, &rules.algorithms);
    let first = *algorithms.first()?;
    if let AlgorithmParameters::RSA(rsa) = &jwk.algorithm {
        let bits = URL_SAFE_NO_PAD
            .decode(rsa.n.trim_start_matches('A'))
            .ok()?
            .len()
            * 8;
        if bits < MIN_RSA_BITS {
            return None;
        }
    }
    let decoding = DecodingKey::from_jwk(jwk).ok()?;
    let key = VerifyingKey {
        alg: first,
        kid: jwk.common.key_id.clone().unwrap_or_default(),
        decoding,
        hmac_secret: None,
    };
    Some(Verifier::new(
        key,
        KeyStatus::Kept,
        validation(&algorithms, rules.iss.as_deref(), &rules.audiences),
    ))
}

/// The algorithms a token signed by `jwk` may use: its own `alg` when it names one, else
/// every algorithm of `allowed` its key type and curve can make. Never a symmetric one.
fn algorithms(jwk: &Jwk, allowed: &[Algorithm]) -> Vec<Algorithm> {
    let made_for: &[Algorithm] = match &jwk.algorithm {
        AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
            EllipticCurve::P256 => &[Algorithm::ES256],
            EllipticCurve::P384 => &[Algorithm::ES384],
            _ => &[],
        },
        AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => {
            &[Algorithm::EdDSA]
        }
        AlgorithmParameters::RSA(_) => &[
            Algorithm::RS256,
            Algorithm::RS384,
            Algorithm::RS512,
            Algorithm::PS256,
            Algorithm::PS384,
            Algorithm::PS512,
        ],
        // `oct` (a shared secret) and anything else: never.
        _ => &[],
    };
    let named = match &jwk.common.key_algorithm {
        None => None,
        Some(alg) => match serde_json::to_value(alg)
            .ok()
            .as_ref()
            .and_then(Value::as_str)
            .and_then(|name| name.parse::<Algorithm>().ok())
        {
            Some(alg) => Some(alg),
            // An `alg` we cannot sign with (`RSA-OAEP`, …): not a signing key.
            None => return Vec::new(),
        },
    };
    made_for
        .iter()
        .copied()
        .filter(|alg| !alg.is_symmetric() && allowed.contains(alg))
        .filter(|alg| named.is_none_or(|named| named == *alg))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> Rules {
        Rules {
            iss: None,
            audiences: Vec::new(),
            algorithms: vec![Algorithm::ES256, Algorithm::EdDSA, Algorithm::RS256],
        }
    }

    const P256: &str = r#"{"kty":"EC","crv":"P-256","kid":"ec","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#;
    const ED25519: &str = r#"{"kty":"OKP","crv":"Ed25519","kid":"ed","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#;

    fn doc(keys: &[&str]) -> Vec<u8> {
        format!(r#"{{"keys":[{}]}}"#, keys.join(",")).into_bytes()
    }

    #[test]
    fn the_algorithm_comes_from_the_key_type() {
        let set = parse(&doc(&[P256, ED25519]), &rules()).unwrap();
        assert_eq!(set.len(), 2);
        assert_eq!(set[0].key.alg, Algorithm::ES256);
        assert_eq!(set[1].key.alg, Algorithm::EdDSA);
        assert_eq!(
            set[0].validation.algorithms,
            [jsonwebtoken::Algorithm::ES256]
        );
    }

    #[test]
    fn symmetric_encryption_and_disallowed_keys_are_left_out() {
        let oct = r#"{"kty":"oct","kid":"hs","alg":"HS256","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"}"#;
        let enc = P256.replace(r#""kid":"ec""#, r#""kid":"enc","use":"enc""#);
        let wrong_alg = P256.replace(r#""kid":"ec""#, r#""kid":"x","alg":"ES384""#);
        let oaep = P256.replace(r#""kid":"ec""#, r#""kid":"y","alg":"RSA-OAEP""#);
        let err = parse(&doc(&[oct, &enc, &wrong_alg, &oaep]), &rules()).unwrap_err();
        assert!(err.contains("no key"), "{err}");
        let only_eddsa = Rules {
            algorithms: vec![Algorithm::EdDSA],
            ..rules()
        };
        let set = parse(&doc(&[P256, ED25519]), &only_eddsa).unwrap();
        assert_eq!(set.len(), 1);
        assert_eq!(set[0].key.kid, "ed");
    }

    #[test]
    fn a_repeated_kid_drops_both_keys() {
        let twin = ED25519.replace(r#""kid":"ed""#, r#""kid":"ec""#);
        let set = parse(&doc(&[P256, &twin, ED25519]), &rules()).unwrap();
        assert_eq!(set.len(), 1);
        assert_eq!(set[0].key.kid, "ed");
    }

    #[test]
    fn unknown_key_types_do_not_hide_the_others() {
        let odd = r#"{"kty":"XYZ","kid":"odd"}"#;
        let set = parse(&doc(&[odd, P256]), &rules()).unwrap();
        assert_eq!(set.len(), 1);
    }

    #[test]
    fn malformed_and_huge_documents_are_refused() {
        assert!(parse(b"[]", &rules()).is_err());
        assert!(parse(b"{\"keys\":3}", &rules()).is_err());
        assert!(parse(b"\xff", &rules()).is_err());
        let many: Vec<String> = (0..=MAX_KEYS)
            .map(|i| P256.replace(r#""kid":"ec""#, &format!(r#""kid":"k{i}""#)))
            .collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        assert!(
            parse(&doc(&many), &rules())
                .unwrap_err()
                .contains("more than")
        );
    }
}
