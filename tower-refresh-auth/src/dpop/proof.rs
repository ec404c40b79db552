//! Checking one DPoP proof (RFC 9449 §4.3), cheapest checks first: the size, the header,
//! the claims against the request, and only then the signature and the thumbprint.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{HeaderMap, Method, Uri};
use jsonwebtoken::jwk::{Jwk, ThumbprintHash};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::MAX_PROOF_LEN;
use super::htu::Origin;
use super::nonce::Nonces;
use crate::store::ReplayKey;

/// The proof's media type (RFC 9449 §4.2).
const TYP: &str = "dpop+jwt";

/// The longest `jti` accepted. Clients send 16 to 32 random bytes, base64url.
const MAX_JTI_LEN: usize = 256;

/// JWK members that only a private (or symmetric) key has (RFC 7518 §6.2.2, §6.3.2, §6.4.1):
/// a proof carrying one is refused (RFC 9449 §4.3 step 7: "MUST NOT contain a private key").
const PRIVATE_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// Why a proof was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ProofError {
    /// Not a valid proof for this request; the reason, safe to show a client.
    Invalid(&'static str),
    /// Server nonces are on and the proof has none, or a stale one (RFC 9449 §8).
    UseNonce,
}

/// What a proof must match: the request it came with.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Expected<'a> {
    pub(crate) method: &'a Method,
    pub(crate) uri: &'a Uri,
    pub(crate) headers: &'a HeaderMap,
    /// On a protected request, the access token the proof's `ath` must hash.
    pub(crate) access_token: Option<&'a str>,
}

/// A proof that passed every check but the replay check, which needs the store.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Verified {
    /// The key's RFC 7638 SHA-256 thumbprint.
    pub(crate) jkt: String,
    /// What the store remembers the proof by.
    pub(crate) replay: ReplayKey,
    /// Until when the proof would be accepted: how long its `jti` must be remembered.
    pub(crate) expires_at: SystemTime,
}

/// How proofs are checked; fixed when the layer is built.
#[derive(Debug)]
pub(crate) struct ProofRules {
    /// The accepted algorithms, in the order the challenge lists them.
    pub(crate) algs: Vec<Algorithm>,
    /// How far `iat` may be from the server's clock, either way.
    pub(crate) window: Duration,
    pub(crate) origin: Origin,
    pub(crate) nonces: Option<std::sync::Arc<Nonces>>,
}

#[derive(Deserialize)]
struct RawHeader {
    typ: Option<String>,
    alg: String,
    jwk: Option<Map<String, Value>>,
    crit: Option<Value>,
}

#[derive(Deserialize)]
struct RawClaims {
    jti: String,
    htm: String,
    htu: String,
    iat: serde_json::Number,
    ath: Option<String>,
    nonce: Option<String>,
}

impl ProofRules {
    /// The one `DPoP` header of a request, if it has one.
    ///
    /// # Errors
    ///
    /// Two `DPoP` headers (RFC 9449 §4.3 step 1), or one that is not text.
    pub(crate) fn header(headers: &HeaderMap) -> Result<Option<&str>, ProofError> {
        let mut values = headers.get_all("dpop").iter();
        let Some(value) = values.next() else {
            return Ok(None);
        };
        if values.next().is_some() {
            return Err(ProofError::Invalid("more than one DPoP header"));
        }
        if value.len() > MAX_PROOF_LEN {
            return Err(ProofError::Invalid("the DPoP proof is too long"));
        }
        value
            .to_str()
            .map(Some)
            .map_err(|_| ProofError::Invalid("the DPoP proof is not a JWT"))
    }

    /// Checks `proof` against `expected` at `now`: everything RFC 9449 §4.3 asks but whether
    /// its `jti` was seen before, which the caller asks the store with
    /// [`Verified::replay`].
    pub(crate) fn verify(
        &self,
        proof: &str,
        expected: &Expected<'_>,
        now: SystemTime,
    ) -> Result<Verified, ProofError> {
        use ProofError::Invalid;
        if proof.len() > MAX_PROOF_LEN {
            return Err(Invalid("the DPoP proof is too long"));
        }
        let mut parts = proof.split('.');
        let (Some(header_b64), Some(claims_b64), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(Invalid("the DPoP proof is not a JWT"));
        };
        let header: RawHeader = decode_json(header_b64)?;
        match header.typ.as_deref() {
            Some(typ) if typ.eq_ignore_ascii_case(TYP) => {}
            _ => return Err(Invalid("the DPoP proof's typ is not dpop+jwt")),
        }
        // Only names of the allow-list are parsed: `none` and every HMAC are refused here.
        // RFC 9864 names EdDSA over Ed25519 `Ed25519`; clients send either (panva's `dpop`
        // sends the new name).
        let alg = self
            .algs
            .iter()
            .copied()
            .find(|a| {
                alg_name(*a) == header.alg || (*a == Algorithm::EdDSA && header.alg == "Ed25519")
            })
            .ok_or(Invalid("the DPoP proof's algorithm is not accepted"))?;
        if header.crit.is_some() {
            return Err(Invalid("the DPoP proof has critical header extensions"));
        }
        let jwk = header
            .jwk
            .ok_or(Invalid("the DPoP proof has no jwk header"))?;
        if PRIVATE_MEMBERS.iter().any(|m| jwk.contains_key(*m)) {
            return Err(Invalid("the DPoP proof's jwk holds a private key"));
        }
        let (kty, crv) = key_type(alg);
        let member = |name: &str| jwk.get(name).and_then(Value::as_str);
        if member("kty") != Some(kty) || member("crv") != Some(crv) {
            return Err(Invalid("the DPoP proof's jwk does not fit its algorithm"));
        }

        let claims: RawClaims = decode_json(claims_b64)?;
        if claims.jti.is_empty() || claims.jti.len() > MAX_JTI_LEN {
            return Err(Invalid("the DPoP proof's jti is empty or too long"));
        }
        if claims.htm != expected.method.as_str() {
            return Err(Invalid("the DPoP proof is for another method (htm)"));
        }
        self.origin
            .matches(&claims.htu, expected.uri, expected.headers)
            .map_err(Invalid)?;
        let iat = numeric_date(&claims.iat).ok_or(Invalid("the DPoP proof's iat is not a time"))?;
        let now_secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let window = self.window.as_secs();
        if iat > now_secs.saturating_add(window) || iat.saturating_add(window) < now_secs {
            return Err(Invalid(
                "the DPoP proof's iat is outside the accepted window",
            ));
        }
        if let Some(token) = expected.access_token {
            let ath = URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()));
            if claims.ath.as_deref() != Some(ath.as_str()) {
                return Err(Invalid(
                    "the DPoP proof's ath is not the access token's hash",
                ));
            }
        }
        if let Some(nonces) = &self.nonces
            && !claims
                .nonce
                .as_deref()
                .is_some_and(|n| nonces.check(n, now))
        {
            return Err(ProofError::UseNonce);
        }

        let jwk: Jwk = serde_json::from_value(Value::Object(jwk))
            .map_err(|_| Invalid("the DPoP proof's jwk is not a usable key"))?;
        let key = DecodingKey::from_jwk(&jwk)
            .map_err(|_| Invalid("the DPoP proof's jwk is not a usable key"))?;
        let message_len = header_b64.len() + 1 + claims_b64.len();
        let message = &proof.as_bytes()[..message_len];
        match jsonwebtoken::crypto::verify(signature, message, &key, alg) {
            Ok(true) => {}
            _ => return Err(Invalid("the DPoP proof's signature does not verify")),
        }
        let jkt = jwk
            .thumbprint(ThumbprintHash::SHA256)
            .map_err(|_| Invalid("the DPoP proof's jwk is not a usable key"))?;
        let replay = ReplayKey::new(&jkt, &claims.jti);
        // Remembered until the last second the proof would be accepted, and one more.
        let expires_at =
            UNIX_EPOCH + Duration::from_secs(iat.saturating_add(window).saturating_add(1));
        Ok(Verified {
            jkt,
            replay,
            expires_at,
        })
    }

    /// The `algs` parameter of the challenge: `ES256 EdDSA`.
    /// The algorithms proofs may use, by their JWS names (the metadata's
    /// `dpop_signing_alg_values_supported`).
    pub(crate) fn alg_names(&self) -> Vec<&'static str> {
        self.algs.iter().map(|a| alg_name(*a)).collect()
    }

    pub(crate) fn algs_param(&self) -> String {
        self.algs
            .iter()
            .map(|a| alg_name(*a))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// The algorithms proofs may use: asymmetric, and supported by jsonwebtoken's JWK keys.
pub(crate) const SUPPORTED: &[Algorithm] = &[Algorithm::ES256, Algorithm::ES384, Algorithm::EdDSA];

/// The JWA name of a supported algorithm.
pub(crate) fn alg_name(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::ES256 => "ES256",
        Algorithm::ES384 => "ES384",
        Algorithm::EdDSA => "EdDSA",
        _ => "",
    }
}

/// The `kty` and `crv` a key for `alg` has.
fn key_type(alg: Algorithm) -> (&'static str, &'static str) {
    match alg {
        Algorithm::ES384 => ("EC", "P-384"),
        Algorithm::EdDSA => ("OKP", "Ed25519"),
        _ => ("EC", "P-256"),
    }
}

/// A JSON object from base64url without padding.
fn decode_json<T: serde::de::DeserializeOwned>(part: &str) -> Result<T, ProofError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| ProofError::Invalid("the DPoP proof is not a JWT"))?;
    serde_json::from_slice(&bytes).map_err(|_| ProofError::Invalid("the DPoP proof is malformed"))
}

/// A NumericDate as whole seconds (RFC 7519 §2 allows fractions): `None` if negative or not
/// finite.
fn numeric_date(n: &serde_json::Number) -> Option<u64> {
    if let Some(secs) = n.as_u64() {
        return Some(secs);
    }
    let f = n.as_f64()?;
    // `as` saturates; the range check keeps a negative or absurd time out.
    (f.is_finite() && (0.0..1e12).contains(&f)).then_some(f as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use tower_refresh_auth_test_support::dpop::DpopKey;

    const AT: u64 = 1_800_000_000;

    fn rules() -> ProofRules {
        ProofRules {
            algs: vec![Algorithm::ES256, Algorithm::EdDSA],
            window: Duration::from_secs(60),
            origin: Origin::fixed("https://api.example.com").unwrap(),
            nonces: None,
        }
    }

    fn check(proof: &str) -> Result<Verified, ProofError> {
        let (method, uri, headers) = (Method::POST, Uri::from_static("/token"), HeaderMap::new());
        let expected = Expected {
            method: &method,
            uri: &uri,
            headers: &headers,
            access_token: None,
        };
        rules().verify(proof, &expected, UNIX_EPOCH + Duration::from_secs(AT))
    }

    fn signed(key: &DpopKey, edit: impl FnOnce(&mut Value, &mut Value)) -> String {
        let mut header = key.header();
        let mut claims = key.claims("POST", "https://api.example.com/token", None);
        claims["iat"] = json!(AT);
        edit(&mut header, &mut claims);
        key.sign(&header, &claims)
    }

    #[test]
    fn a_good_proof_gives_the_thumbprint_and_when_to_forget_it() {
        let key = DpopKey::es256();
        let verified = check(&signed(&key, |_, _| {})).unwrap();
        assert_eq!(verified.jkt, key.thumbprint());
        assert_eq!(
            verified.expires_at,
            UNIX_EPOCH + Duration::from_secs(AT + 61)
        );
        // EdDSA under either of its names (RFC 8037, RFC 9864).
        let ed = DpopKey::ed25519();
        assert_eq!(check(&signed(&ed, |_, _| {})).unwrap().jkt, ed.thumbprint());
        let renamed = signed(&ed, |h, _| h["alg"] = json!("Ed25519"));
        assert_eq!(check(&renamed).unwrap().jkt, ed.thumbprint());
    }

    /// A change to a proof's header and claims.
    type Edit = fn(&mut Value, &mut Value);

    #[test]
    fn each_check_has_its_reason() {
        let key = DpopKey::es256();
        let cases: [(&str, Edit); 6] = [
            ("private key", |h, _| h["jwk"]["d"] = json!("AAAA")),
            ("algorithm is not accepted", |h, _| {
                h["alg"] = json!("ES512")
            }),
            ("typ", |h, _| h["typ"] = json!("at+jwt")),
            ("htm", |_, c| c["htm"] = json!("PUT")),
            ("iat", |_, c| c["iat"] = json!(AT - 61)),
            ("jti", |_, c| c["jti"] = json!("")),
        ];
        for (why, edit) in cases {
            match check(&signed(&key, edit)) {
                Err(ProofError::Invalid(reason)) => {
                    assert!(reason.contains(why), "{why}: {reason}")
                }
                other => panic!("{why}: {other:?}"),
            }
        }
    }

    #[test]
    fn fractional_and_absurd_times() {
        let n = |v: Value| match v {
            Value::Number(n) => numeric_date(&n),
            _ => None,
        };
        assert_eq!(n(json!(1.9)), Some(1));
        assert_eq!(n(json!(-1)), None);
        assert_eq!(n(json!(1e300)), None);
    }
}
