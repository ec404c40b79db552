//! Signing and verifying keys for access tokens.
//!
//! One [`SigningKey`] signs every new access token; any number of older
//! [`VerifyingKey`]s keep the tokens they signed valid until those expire, so a key can be
//! rotated without logging anyone out (at run time, with [`KeyRing`](crate::keyring::KeyRing)). Each
//! key has a `kid` (key id) that goes into the token header; when none is given one is
//! derived from the key itself, so it is stable across restarts and instances: the RFC 7638
//! thumbprint of an asymmetric key, a domain-separated hash of an HMAC secret.
//!
//! Asymmetric keys load from files with [`SigningKey::from_file`] (PEM or DER; PKCS#8, SEC1 or
//! PKCS#1), which reads the algorithm from the key.
//!
//! ```
//! use tower_refresh_auth::Algorithm;
//! use tower_refresh_auth::keys::{SigningKey, VerifyingKey};
//!
//! let new = SigningKey::hmac(Algorithm::HS256, b"a-new-secret-of-at-least-32-bytes!!".to_vec())
//!     .with_kid("2026-11");
//! let old = VerifyingKey::hmac(Algorithm::HS256, b"the-old-secret-of-at-least-32-bytes".to_vec())
//!     .with_kid("2026-10");
//! assert_eq!(new.kid(), "2026-11");
//! assert_eq!(old.kid(), "2026-10");
//! ```

mod algorithm;
mod file;
mod jwks;

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{Jwk, PublicKeyUse, ThumbprintHash};
use jsonwebtoken::{DecodingKey, EncodingKey};
use sha2::{Digest, Sha256};

pub use self::algorithm::{Algorithm, ParseAlgorithmError};
#[cfg(test)]
pub(crate) use self::jwks::DEFAULT_PATH as DEFAULT_JWKS_PATH;
pub use self::jwks::Jwks;
use crate::error::ConfigError;
pub use crate::error::KeyFileProblem;

/// The key that signs new access tokens, with the public half (or the same secret) that
/// verifies them.
#[derive(Clone)]
pub struct SigningKey {
    pub(crate) encoding: EncodingKey,
    pub(crate) verifying: VerifyingKey,
}

/// A key that only verifies: a previous signing key kept while its tokens are still alive,
/// or the public half of a key held elsewhere.
#[derive(Clone)]
pub struct VerifyingKey {
    pub(crate) alg: Algorithm,
    pub(crate) kid: String,
    pub(crate) decoding: DecodingKey,
    /// The HMAC secret, for HS* keys: checked for length when the layer is built, and the
    /// refresh-token MAC key is derived from it when no refresh secret is configured.
    pub(crate) hmac_secret: Option<Vec<u8>>,
}

impl SigningKey {
    /// An HMAC key (`HS256`, `HS384` or `HS512`).
    ///
    /// The secret must be at least as long as the hash (32, 48 or 64 bytes; RFC 7518 §3.2);
    /// a shorter one is refused when the layer is built. Passing a non-HMAC algorithm is
    /// refused there too.
    pub fn hmac(alg: Algorithm, secret: impl Into<Vec<u8>>) -> Self {
        let secret = secret.into();
        Self {
            encoding: EncodingKey::from_secret(&secret)
                .unwrap_or_else(|_| EncodingKey::from_secret(&unknown_secret()).expect(NON_EMPTY)),
            verifying: VerifyingKey::hmac(alg, secret),
        }
    }

    /// An asymmetric key pair from PEM: RSA (`RS*`, `PS*`; PKCS#1 or PKCS#8), EC
    /// (`ES256`, `ES384`; PKCS#8) or Ed25519 (`EdDSA`; PKCS#8), with its public key
    /// (SubjectPublicKeyInfo PEM).
    ///
    /// [`from_file`](Self::from_file) needs only the private key, reads more formats and
    /// finds the algorithm itself.
    pub fn from_pem(
        alg: Algorithm,
        private_pem: &[u8],
        public_pem: &[u8],
    ) -> Result<Self, ConfigError> {
        crate::crypto_backend::ensure()?;
        let public_alg = alg;
        let invalid = |source| ConfigError::InvalidKey {
            what: "private",
            source,
        };
        let encoding = match alg {
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512 => EncodingKey::from_rsa_pem(private_pem).map_err(invalid)?,
            Algorithm::ES256 | Algorithm::ES384 => {
                EncodingKey::from_ec_pem(private_pem).map_err(invalid)?
            }
            Algorithm::EdDSA => EncodingKey::from_ed_pem(private_pem).map_err(invalid)?,
            _ => {
                return Err(invalid(
                    jsonwebtoken::errors::ErrorKind::InvalidAlgorithm.into(),
                ));
            }
        };
        Ok(Self {
            encoding,
            verifying: VerifyingKey::from_pem(public_alg, public_pem)?,
        })
    }

    /// Sets the `kid` written into every token this key signs.
    pub fn with_kid(mut self, kid: impl Into<String>) -> Self {
        self.verifying.kid = kid.into();
        self
    }

    /// The key's `kid`.
    pub fn kid(&self) -> &str {
        &self.verifying.kid
    }

    /// The key's algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.verifying.alg
    }

    /// The verifying half of this key, to keep as a [`VerifyingKey`] after rotating to a new
    /// signing key.
    pub fn verifying_key(&self) -> VerifyingKey {
        self.verifying.clone()
    }
}

impl VerifyingKey {
    /// An HMAC verifying key; see [`SigningKey::hmac`].
    pub fn hmac(alg: Algorithm, secret: impl Into<Vec<u8>>) -> Self {
        let secret = secret.into();
        Self {
            alg,
            kid: derive_kid(alg, &secret),
            decoding: DecodingKey::from_secret(&secret)
                .unwrap_or_else(|_| DecodingKey::from_secret(&unknown_secret()).expect(NON_EMPTY)),
            hmac_secret: Some(secret),
        }
    }

    /// An asymmetric public key from SubjectPublicKeyInfo PEM (RSA also as PKCS#1).
    pub fn from_pem(alg: Algorithm, public_pem: &[u8]) -> Result<Self, ConfigError> {
        crate::crypto_backend::ensure()?;
        let invalid = |source| ConfigError::InvalidKey {
            what: "public",
            source,
        };
        let decoding = match alg {
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512 => DecodingKey::from_rsa_pem(public_pem).map_err(invalid)?,
            Algorithm::ES256 | Algorithm::ES384 => {
                DecodingKey::from_ec_pem(public_pem).map_err(invalid)?
            }
            Algorithm::EdDSA => DecodingKey::from_ed_pem(public_pem).map_err(invalid)?,
            _ => {
                return Err(invalid(
                    jsonwebtoken::errors::ErrorKind::InvalidAlgorithm.into(),
                ));
            }
        };
        let mut key = Self {
            alg,
            kid: String::new(),
            decoding,
            hmac_secret: None,
        };
        key.kid = public_jwk(&key)
            .and_then(|jwk| jwk.thumbprint(ThumbprintHash::SHA256).ok())
            .ok_or_else(|| invalid(jsonwebtoken::errors::ErrorKind::InvalidKeyFormat.into()))?;
        Ok(key)
    }

    /// Sets the `kid` this key answers to.
    pub fn with_kid(mut self, kid: impl Into<String>) -> Self {
        self.kid = kid.into();
        self
    }

    /// The key's `kid`.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The key's algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// Refuses an HMAC key whose secret is shorter than its hash, or whose algorithm is not
    /// HMAC (RFC 7518 §3.2).
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let min = match self.alg {
            Algorithm::HS256 => 32,
            Algorithm::HS384 => 48,
            Algorithm::HS512 => 64,
            _ if self.hmac_secret.is_some() => {
                return Err(ConfigError::InvalidKey {
                    what: "HMAC",
                    source: jsonwebtoken::errors::ErrorKind::InvalidAlgorithm.into(),
                });
            }
            _ => return Ok(()),
        };
        match &self.hmac_secret {
            Some(secret) if secret.len() < min => Err(ConfigError::WeakSecret {
                alg: self.alg,
                len: secret.len(),
                min,
            }),
            Some(_) => Ok(()),
            None => Err(ConfigError::InvalidKey {
                what: "HMAC",
                source: jsonwebtoken::errors::ErrorKind::InvalidAlgorithm.into(),
            }),
        }
    }
}

/// The public JWK of an asymmetric key (RFC 7517, RFC 7518 §6, RFC 8037 for `OKP`), with its
/// `kid`, `alg` and `use: "sig"`; `None` for an HMAC secret, which is never published.
///
/// The encoding is jsonwebtoken's own `jwk` module: it carries the public parameters only
/// (`n`/`e`, `crv`/`x`/`y`, `crv`/`x`); its types have no field for a private one.
pub(crate) fn public_jwk(key: &VerifyingKey) -> Option<Jwk> {
    if key.hmac_secret.is_some() {
        return None;
    }
    let mut jwk = Jwk::from_decoding_key(&key.decoding, Some(key.alg.to_jwt())).ok()?;
    jwk.common.key_id = Some(key.kid.clone());
    jwk.common.public_key_use = Some(PublicKeyUse::Signature);
    Some(jwk)
}

/// jsonwebtoken refuses an empty HMAC secret where these constructors cannot fail; such a
/// key is refused by [`VerifyingKey::validate`] when the layer is built, and until then it
/// holds this stand-in instead: 32 random bytes nobody knows, so even a key that slipped past
/// the check would verify nothing and sign nothing anyone else accepts.
fn unknown_secret() -> [u8; 32] {
    rand::random()
}

const NON_EMPTY: &str = "a 32-byte secret is not empty";

/// A stable key id: the first 72 bits of a domain-separated SHA-256 of the key material.
/// For an HMAC secret of at least 256 bits this reveals nothing usable about it.
fn derive_kid(alg: Algorithm, material: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(b"tower-refresh-auth kid v1\0");
    h.update(format!("{alg:?}").as_bytes());
    h.update([0]);
    h.update(material);
    URL_SAFE_NO_PAD.encode(&h.finalize()[..9])
}

// Keys never print their material.
impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("alg", &self.verifying.alg)
            .field("kid", &self.verifying.kid)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_hmac_secrets_are_refused_per_algorithm() {
        for (alg, min) in [
            (Algorithm::HS256, 32),
            (Algorithm::HS384, 48),
            (Algorithm::HS512, 64),
        ] {
            assert!(VerifyingKey::hmac(alg, vec![7; min]).validate().is_ok());
            let err = VerifyingKey::hmac(alg, vec![7; min - 1])
                .validate()
                .unwrap_err();
            assert!(
                err.to_string().contains(&format!("at least {min} bytes")),
                "{err}"
            );
        }
    }

    #[test]
    fn an_empty_hmac_secret_is_refused_and_signs_nothing_verifiable() {
        let key = SigningKey::hmac(Algorithm::HS256, Vec::new());
        let err = key.verifying.validate().unwrap_err();
        assert!(err.to_string().contains("at least 32 bytes"), "{err}");
        // The stand-in secret is unknown: a token signed with the empty secret's key does not
        // verify under a key made the same way.
        let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        let claims = serde_json::json!({ "sub": "a", "exp": u32::MAX });
        let token = jsonwebtoken::encode(&header, &claims, &key.encoding).unwrap();
        let other = VerifyingKey::hmac(Algorithm::HS256, Vec::new());
        let validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
        assert!(
            jsonwebtoken::decode::<serde_json::Value>(&token, &other.decoding, &validation)
                .is_err()
        );
    }

    #[test]
    fn hmac_secret_with_an_asymmetric_algorithm_is_refused() {
        assert!(
            VerifyingKey::hmac(Algorithm::RS256, vec![7; 64])
                .validate()
                .is_err()
        );
    }

    #[test]
    fn kid_is_stable_and_key_specific() {
        let a = VerifyingKey::hmac(Algorithm::HS256, vec![1; 32]);
        let b = VerifyingKey::hmac(Algorithm::HS256, vec![1; 32]);
        let c = VerifyingKey::hmac(Algorithm::HS256, vec![2; 32]);
        assert_eq!(a.kid, b.kid);
        assert_ne!(a.kid, c.kid);
    }

    #[test]
    fn debug_never_prints_the_secret() {
        let key = SigningKey::hmac(
            Algorithm::HS256,
            b"super-secret-value-0123456789abcdef".to_vec(),
        );
        assert!(!format!("{key:?}").contains("super-secret"));
    }

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/keys")
                .join(name),
        )
        .unwrap()
    }

    #[test]
    fn public_jwks_carry_public_parameters_only() {
        for (file, alg, kty, params) in [
            ("es256", Algorithm::ES256, "EC", &["crv", "x", "y"][..]),
            ("es384", Algorithm::ES384, "EC", &["crv", "x", "y"]),
            ("ed25519", Algorithm::EdDSA, "OKP", &["crv", "x"]),
            ("rsa", Algorithm::RS256, "RSA", &["n", "e"]),
        ] {
            let key = SigningKey::from_pem(
                alg,
                &fixture(&format!("{file}.pem")),
                &fixture(&format!("{file}.pub.pem")),
            )
            .unwrap();
            let jwk = serde_json::to_value(public_jwk(&key.verifying).unwrap()).unwrap();
            let mut names: Vec<&str> = jwk
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            names.sort_unstable();
            let mut expected = vec!["alg", "kid", "kty", "use"];
            expected.extend(params);
            expected.sort_unstable();
            assert_eq!(names, expected, "{file}");
            assert_eq!(jwk["kty"], kty);
            assert_eq!(jwk["use"], "sig");
            assert_eq!(jwk["kid"], key.kid());
            assert_eq!(jwk["alg"], format!("{alg:?}"));
            // The same key read from its private file alone has the same kid.
            let from_file =
                SigningKey::from_private_key_pem(&fixture(&format!("{file}.pem"))).unwrap();
            assert_eq!(from_file.kid(), key.kid(), "{file}");
        }
        assert!(public_jwk(&VerifyingKey::hmac(Algorithm::HS256, vec![1; 32])).is_none());
    }
}
