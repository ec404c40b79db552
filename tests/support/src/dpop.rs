//! A DPoP client for tests: a fresh key pair and the proofs it signs (RFC 9449 §4), made
//! independently of the layer's verifier (the signature by jsonwebtoken's signer, the JWK
//! from jsonwebtoken's conversion, the thumbprint computed here from RFC 7638's text).

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// A client's DPoP key: it signs proofs, and never leaves the test.
pub struct DpopKey {
    key: EncodingKey,
    alg: Algorithm,
    jwk: Value,
}

impl std::fmt::Debug for DpopKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DpopKey")
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl DpopKey {
    /// A fresh P-256 key (ES256), as a browser's WebCrypto makes.
    pub fn es256() -> Self {
        let der = jwt_simple::algorithms::ES256KeyPair::generate()
            .to_der()
            .unwrap();
        Self::from_key(EncodingKey::from_ec_der(&der), Algorithm::ES256)
    }

    /// A fresh Ed25519 key (EdDSA).
    pub fn ed25519() -> Self {
        let der = jwt_simple::algorithms::Ed25519KeyPair::generate().to_der();
        Self::from_key(EncodingKey::from_ed_der(&der), Algorithm::EdDSA)
    }

    fn from_key(key: EncodingKey, alg: Algorithm) -> Self {
        let jwk = Jwk::from_encoding_key(&key, alg).unwrap();
        let mut jwk = serde_json::to_value(jwk).unwrap();
        // A client's proof carries the key only.
        jwk.as_object_mut().unwrap().remove("alg");
        Self { key, alg, jwk }
    }

    /// The public key as the `jwk` header carries it.
    pub fn jwk(&self) -> &Value {
        &self.jwk
    }

    /// The RFC 7638 SHA-256 thumbprint, computed from the required members in
    /// lexicographic order, as RFC 7638 §3 says.
    pub fn thumbprint(&self) -> String {
        let j = &self.jwk;
        let canonical = match j["kty"].as_str().unwrap() {
            "EC" => format!(
                r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
                j["crv"].as_str().unwrap(),
                j["x"].as_str().unwrap(),
                j["y"].as_str().unwrap()
            ),
            _ => format!(
                r#"{{"crv":"{}","kty":"OKP","x":"{}"}}"#,
                j["crv"].as_str().unwrap(),
                j["x"].as_str().unwrap()
            ),
        };
        URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
    }

    /// The header of a proof by this key.
    pub fn header(&self) -> Value {
        json!({ "typ": "dpop+jwt", "alg": alg_name(self.alg), "jwk": self.jwk })
    }

    /// The claims of a fresh proof for `method` and `htu` now, with `ath` for
    /// `access_token` when given.
    pub fn claims(&self, method: &str, htu: &str, access_token: Option<&str>) -> Value {
        let mut claims = json!({
            "jti": URL_SAFE_NO_PAD.encode(rand_bytes()),
            "htm": method,
            "htu": htu,
            "iat": now_secs(),
        });
        if let Some(token) = access_token {
            claims["ath"] = json!(ath(token));
        }
        claims
    }

    /// A fresh proof for `method` and `htu`, bound to `access_token` when given.
    pub fn proof(&self, method: &str, htu: &str, access_token: Option<&str>) -> String {
        self.sign(&self.header(), &self.claims(method, htu, access_token))
    }

    /// `header` and `claims`, raw bytes (JSON or not), base64url-encoded and signed by this
    /// key: for a fuzzer that writes the proof's parts itself.
    pub fn sign_raw(&self, header: &[u8], claims: &[u8]) -> String {
        let message = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(claims)
        );
        let signature =
            jsonwebtoken::crypto::sign(message.as_bytes(), &self.key, self.alg).unwrap();
        format!("{message}.{signature}")
    }

    /// `header` and `claims` signed by this key (whatever they say).
    pub fn sign(&self, header: &Value, claims: &Value) -> String {
        let message = format!("{}.{}", b64_json(header), b64_json(claims));
        let signature =
            jsonwebtoken::crypto::sign(message.as_bytes(), &self.key, self.alg).unwrap();
        format!("{message}.{signature}")
    }
}

/// `header.claims.` with no signature (`alg: none`), or with an HMAC under `secret`.
pub fn unsigned_or_hmac(header: &Value, claims: &Value, secret: Option<&[u8]>) -> String {
    let message = format!("{}.{}", b64_json(header), b64_json(claims));
    match secret {
        None => format!("{message}."),
        Some(secret) => {
            let key = EncodingKey::from_secret(secret).unwrap();
            let signature =
                jsonwebtoken::crypto::sign(message.as_bytes(), &key, Algorithm::HS256).unwrap();
            format!("{message}.{signature}")
        }
    }
}

/// base64url(SHA-256(token)): the `ath` of a proof for `token`.
pub fn ath(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()))
}

/// Seconds since the Unix epoch.
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn b64_json(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
}

fn rand_bytes() -> [u8; 16] {
    rand::random()
}

fn alg_name(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::ES256 => "ES256",
        Algorithm::EdDSA => "EdDSA",
        _ => "unsupported",
    }
}
