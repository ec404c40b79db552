//! Signing keys from files: PEM or DER; PKCS#8, SEC1 or PKCS#1; the algorithm read from the
//! key itself.
//!
//! The formats are parsed with RustCrypto's `pkcs8`, `sec1` and `pkcs1` crates, only to find
//! out what the key is; the key is then handed to jsonwebtoken in the one DER form its signer
//! takes (PKCS#1 for RSA, PKCS#8 for EC and Ed25519). No error ever shows key material: they
//! name the file and say what is wrong with it.

use std::path::Path;

use jsonwebtoken::jwk::{Jwk, ThumbprintHash};
use jsonwebtoken::{DecodingKey, EncodingKey};
use pkcs8::der::asn1::AnyRef;
use pkcs8::der::{Decode as _, Encode as _};
use pkcs8::{AlgorithmIdentifierRef, ObjectIdentifier, PrivateKeyInfo};

use super::{Algorithm, SigningKey, VerifyingKey};
use crate::error::{ConfigError, KeyFileProblem};

const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
const ED448: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.113");
const X25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.110");
const P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const P521: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.35");
const SECP256K1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.10");

/// RFC 7518 §3.3: an RSA key for `RS256` must be at least 2048 bits.
const MIN_RSA_BITS: usize = KeyFileProblem::MIN_RSA_BITS;

/// A private key found in a file, in the DER form jsonwebtoken's signer takes.
struct Found {
    alg: Algorithm,
    der: Vec<u8>,
}

impl SigningKey {
    /// Reads a private key file — PEM or DER; PKCS#8, SEC1 (`EC PRIVATE KEY`) or PKCS#1
    /// (`RSA PRIVATE KEY`) — and picks the algorithm from the key: `ES256` for P-256,
    /// `ES384` for P-384, `EdDSA` for Ed25519, `RS256` for RSA (2048 bits or more).
    ///
    /// The `kid` is the key's RFC 7638 thumbprint, the same on every instance that loads the
    /// file. Make a key with `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256
    /// -out jwt.pem` (or `-algorithm ed25519`).
    ///
    /// ```
    /// use tower_refresh_auth::Algorithm;
    /// use tower_refresh_auth::keys::SigningKey;
    ///
    /// let key = SigningKey::from_file(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/keys/es256.pem"))?;
    /// assert_eq!(key.algorithm(), Algorithm::ES256);
    ///
    /// // A wrong file is refused with a message that names it and says what is wrong.
    /// let err = SigningKey::from_file(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/keys/es256.pub.pem"))
    ///     .unwrap_err();
    /// assert!(err.to_string().contains("es256.pub.pem: a public key, not a private key"));
    /// # Ok::<_, tower_refresh_auth::ConfigError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ConfigError::KeyFile`], naming the file: unreadable, a certificate or a public key, an
    /// encrypted key, an unsupported curve or key type, a short RSA key.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        crate::crypto_backend::ensure()?;
        let path = path.as_ref();
        let origin = || path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| ConfigError::KeyFile {
            origin: origin(),
            problem: KeyFileProblem::Unreadable(e.kind()),
        })?;
        let found = if looks_like_pem(&bytes) {
            from_pem(&bytes)
        } else {
            from_der(&bytes)
        };
        found
            .and_then(Found::into_signing_key)
            .map_err(|problem| ConfigError::KeyFile {
                origin: origin(),
                problem,
            })
    }

    /// A private key from PEM text: PKCS#8 (`PRIVATE KEY`), SEC1 (`EC PRIVATE KEY`) or PKCS#1
    /// (`RSA PRIVATE KEY`), for example from an environment variable. See
    /// [`from_file`](Self::from_file) for the algorithms.
    ///
    /// # Errors
    ///
    /// [`ConfigError::KeyFile`], as for [`from_file`](Self::from_file).
    pub fn from_private_key_pem(pem: &[u8]) -> Result<Self, ConfigError> {
        crate::crypto_backend::ensure()?;
        from_pem(pem)
            .and_then(Found::into_signing_key)
            .map_err(|problem| ConfigError::KeyFile {
                origin: "the PEM key".into(),
                problem,
            })
    }

    /// A private key from DER bytes: PKCS#8, SEC1 or PKCS#1. See
    /// [`from_file`](Self::from_file) for the algorithms.
    ///
    /// # Errors
    ///
    /// [`ConfigError::KeyFile`], as for [`from_file`](Self::from_file).
    pub fn from_private_key_der(der: &[u8]) -> Result<Self, ConfigError> {
        crate::crypto_backend::ensure()?;
        from_der(der)
            .and_then(Found::into_signing_key)
            .map_err(|problem| ConfigError::KeyFile {
                origin: "the DER key".into(),
                problem,
            })
    }
}

impl Found {
    /// Hands the key to jsonwebtoken, which checks it can sign, and derives the public half
    /// (through its own JWK module) and the thumbprint `kid`.
    fn into_signing_key(self) -> Result<SigningKey, KeyFileProblem> {
        let encoding = match self.alg {
            Algorithm::RS256 => EncodingKey::from_rsa_der(&self.der),
            Algorithm::EdDSA => EncodingKey::from_ed_der(&self.der),
            _ => EncodingKey::from_ec_der(&self.der),
        };
        let jwk = Jwk::from_encoding_key(&encoding, self.alg.to_jwt())
            .map_err(|_| KeyFileProblem::Refused)?;
        let decoding = DecodingKey::from_jwk(&jwk).map_err(|_| KeyFileProblem::Refused)?;
        let kid = jwk
            .thumbprint(ThumbprintHash::SHA256)
            .map_err(|_| KeyFileProblem::Refused)?;
        Ok(SigningKey {
            encoding,
            verifying: VerifyingKey {
                alg: self.alg,
                kid,
                decoding,
                hmac_secret: None,
            },
        })
    }
}

fn looks_like_pem(bytes: &[u8]) -> bool {
    bytes.trim_ascii_start().starts_with(b"-----BEGIN ")
}

fn from_pem(text: &[u8]) -> Result<Found, KeyFileProblem> {
    // Comments or whitespace before the armour are common in hand-made files.
    let start = text
        .windows(11)
        .position(|w| w == b"-----BEGIN ")
        .ok_or(KeyFileProblem::NotAPrivateKey(None))?;
    let (label, der) = pkcs8::der::pem::decode_vec(&text[start..])
        .map_err(|_| KeyFileProblem::Malformed("PEM"))?;
    match label {
        "PRIVATE KEY" => pkcs8_key(&der),
        "EC PRIVATE KEY" => sec1_key(&der),
        "RSA PRIVATE KEY" => pkcs1_key(&der),
        "ENCRYPTED PRIVATE KEY" => Err(KeyFileProblem::Encrypted),
        "PUBLIC KEY" | "RSA PUBLIC KEY" | "EC PUBLIC KEY" => Err(KeyFileProblem::PublicKey),
        "CERTIFICATE" | "TRUSTED CERTIFICATE" | "X509 CERTIFICATE" => {
            Err(KeyFileProblem::Certificate)
        }
        other => Err(KeyFileProblem::NotAPrivateKey(Some(other.to_owned()))),
    }
}

fn from_der(der: &[u8]) -> Result<Found, KeyFileProblem> {
    if PrivateKeyInfo::from_der(der).is_ok() {
        pkcs8_key(der)
    } else if sec1::EcPrivateKey::from_der(der).is_ok() {
        sec1_key(der)
    } else if pkcs1::RsaPrivateKey::from_der(der).is_ok() {
        pkcs1_key(der)
    } else if pkcs8::spki::SubjectPublicKeyInfoRef::from_der(der).is_ok()
        || pkcs1::RsaPublicKey::from_der(der).is_ok()
    {
        Err(KeyFileProblem::PublicKey)
    } else {
        Err(KeyFileProblem::NotAPrivateKey(None))
    }
}

/// PKCS#8 (RFC 5208 / RFC 5958): the algorithm is named beside the key.
fn pkcs8_key(der: &[u8]) -> Result<Found, KeyFileProblem> {
    let info = PrivateKeyInfo::from_der(der).map_err(|_| KeyFileProblem::Malformed("PKCS#8"))?;
    match info.algorithm.oid {
        // The inner key is PKCS#1.
        RSA_ENCRYPTION => pkcs1_key(info.private_key),
        EC_PUBLIC_KEY => {
            let curve = match info.algorithm.parameters_oid() {
                Ok(curve) => curve,
                // RFC 5915 §3: the curve may be named inside the SEC1 key instead.
                Err(_) => sec1::EcPrivateKey::from_der(info.private_key)
                    .ok()
                    .and_then(|key| key.parameters)
                    .and_then(|p| p.named_curve())
                    .ok_or(KeyFileProblem::Malformed("EC key: no named curve"))?,
            };
            ec_key(curve, info.private_key)
        }
        ED25519 => Ok(Found {
            alg: Algorithm::EdDSA,
            // A version-2 key (RFC 5958) carries the public key too; the signer takes
            // version 1, so only the private key is kept.
            der: pkcs8_der(info.algorithm, info.private_key)?,
        }),
        ED448 => Err(KeyFileProblem::UnsupportedKeyType("Ed448".into())),
        X25519 => Err(KeyFileProblem::UnsupportedKeyType(
            "X25519 (key agreement, not signing)".into(),
        )),
        other => Err(KeyFileProblem::UnsupportedKeyType(
            format!("algorithm {other}").into(),
        )),
    }
}

/// SEC1 (RFC 5915): an EC key, its curve in the parameters.
fn sec1_key(der: &[u8]) -> Result<Found, KeyFileProblem> {
    let key = sec1::EcPrivateKey::from_der(der).map_err(|_| KeyFileProblem::Malformed("SEC1"))?;
    let curve = key
        .parameters
        .and_then(|p| p.named_curve())
        .ok_or(KeyFileProblem::Malformed("SEC1 key: no named curve"))?;
    ec_key(curve, der)
}

/// An EC key (SEC1 DER) on `curve`, wrapped in PKCS#8 for the signer.
fn ec_key(curve: ObjectIdentifier, sec1_der: &[u8]) -> Result<Found, KeyFileProblem> {
    let alg = match curve {
        P256 => Algorithm::ES256,
        P384 => Algorithm::ES384,
        P521 => return Err(KeyFileProblem::UnsupportedCurve("P-521".into())),
        SECP256K1 => return Err(KeyFileProblem::UnsupportedCurve("secp256k1".into())),
        other => {
            return Err(KeyFileProblem::UnsupportedCurve(
                format!("curve {other}").into(),
            ));
        }
    };
    let algorithm = AlgorithmIdentifierRef {
        oid: EC_PUBLIC_KEY,
        parameters: Some(AnyRef::from(&curve)),
    };
    Ok(Found {
        alg,
        der: pkcs8_der(algorithm, sec1_der)?,
    })
}

/// PKCS#1 (RFC 8017): an RSA key, given to the signer as is.
fn pkcs1_key(der: &[u8]) -> Result<Found, KeyFileProblem> {
    let key =
        pkcs1::RsaPrivateKey::from_der(der).map_err(|_| KeyFileProblem::Malformed("PKCS#1"))?;
    let modulus = key.modulus.as_bytes();
    let bits = modulus.len() * 8 - modulus.first().map_or(8, |b| b.leading_zeros() as usize);
    if bits < MIN_RSA_BITS {
        return Err(KeyFileProblem::WeakRsaKey { bits });
    }
    Ok(Found {
        alg: Algorithm::RS256,
        der: der.to_vec(),
    })
}

fn pkcs8_der(
    algorithm: AlgorithmIdentifierRef<'_>,
    private_key: &[u8],
) -> Result<Vec<u8>, KeyFileProblem> {
    PrivateKeyInfo {
        algorithm,
        private_key,
        public_key: None,
    }
    .to_der()
    .map_err(|_| KeyFileProblem::Malformed("PKCS#8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwk_of(key: &SigningKey) -> Jwk {
        super::super::public_jwk(&key.verifying).expect("an asymmetric key")
    }

    fn fixture(name: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/keys")
            .join(name)
    }

    fn signs_and_verifies(key: &SigningKey) {
        let token = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(key.algorithm().to_jwt()),
            &serde_json::json!({"sub": "a"}),
            &key.encoding,
        )
        .expect("signs");
        let mut validation = jsonwebtoken::Validation::new(key.algorithm().to_jwt());
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        jsonwebtoken::decode::<serde_json::Value>(&token, &key.verifying.decoding, &validation)
            .expect("verifies with the derived public half");
    }

    #[test]
    fn every_format_of_every_supported_key_loads_with_its_algorithm() {
        for (files, alg) in [
            (
                &["es256.pem", "es256.der", "es256.sec1.pem", "es256.sec1.der"][..],
                Algorithm::ES256,
            ),
            (
                &["es384.pem", "es384.der", "es384.sec1.pem"],
                Algorithm::ES384,
            ),
            (&["ed25519.pem", "ed25519.der"], Algorithm::EdDSA),
            (
                &["rsa.pem", "rsa.der", "rsa.pkcs1.pem", "rsa.pkcs1.der"],
                Algorithm::RS256,
            ),
        ] {
            let kids: Vec<String> = files
                .iter()
                .map(|file| {
                    let key = SigningKey::from_file(fixture(file))
                        .unwrap_or_else(|e| panic!("{file}: {e}"));
                    assert_eq!(key.algorithm(), alg, "{file}");
                    signs_and_verifies(&key);
                    key.kid().to_owned()
                })
                .collect();
            // One key in four encodings: one thumbprint.
            assert!(kids.iter().all(|k| k == &kids[0]), "{files:?}: {kids:?}");
        }
    }

    #[test]
    fn pem_and_der_bytes_load_without_a_file() {
        let pem = std::fs::read(fixture("es256.sec1.pem")).unwrap();
        let der = std::fs::read(fixture("es256.der")).unwrap();
        let a = SigningKey::from_private_key_pem(&pem).unwrap();
        let b = SigningKey::from_private_key_der(&der).unwrap();
        assert_eq!(a.kid(), b.kid());
        // The kid is the RFC 7638 thumbprint of the public JWK.
        assert_eq!(
            a.kid(),
            jwk_of(&a).thumbprint(ThumbprintHash::SHA256).unwrap()
        );
    }

    #[test]
    fn wrong_files_are_refused_with_their_name_and_what_is_wrong() {
        for (file, says) in [
            ("cert.pem", "cert.pem: the file is a certificate"),
            (
                "es256.pub.pem",
                "es256.pub.pem: a public key, not a private key",
            ),
            (
                "rsa.pub.der",
                "rsa.pub.der: a public key, not a private key",
            ),
            ("p521.pem", "p521.pem: P-521 is not supported"),
            ("secp256k1.pem", "secp256k1.pem: secp256k1 is not supported"),
            ("ed448.pem", "ed448.pem: Ed448 keys are not supported"),
            (
                "encrypted.pem",
                "encrypted.pem: the private key is encrypted",
            ),
            ("README.md", "README.md: not a private key"),
            ("no-such-file.pem", "no-such-file.pem: cannot be read"),
        ] {
            let err = SigningKey::from_file(fixture(file))
                .unwrap_err()
                .to_string();
            assert!(err.contains(says), "{file}: {err}");
        }
    }

    #[test]
    fn errors_never_print_key_material() {
        let pem = std::fs::read_to_string(fixture("p521.pem")).unwrap();
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        let err = SigningKey::from_private_key_pem(pem.as_bytes())
            .unwrap_err()
            .to_string();
        for chunk in body.as_bytes().chunks(8) {
            assert!(!err.contains(std::str::from_utf8(chunk).unwrap()), "{err}");
        }
        let garbled = pem.replace('A', "*");
        let err = SigningKey::from_private_key_pem(garbled.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("the PEM key: malformed PEM"), "{err}");
    }

    #[test]
    fn a_short_rsa_key_is_refused() {
        // A 1024-bit PKCS#1 key, made here so no weak key is checked in.
        let der = short_rsa_pkcs1();
        let err = SigningKey::from_private_key_der(&der)
            .unwrap_err()
            .to_string();
        assert!(err.contains("the RSA key has 1024 bits"), "{err}");
    }

    /// A structurally valid PKCS#1 key with a 1024-bit modulus (not a usable key: only its
    /// size is checked before the signer sees it).
    fn short_rsa_pkcs1() -> Vec<u8> {
        use pkcs1::UintRef;
        let mut modulus = [0x55u8; 128];
        modulus[0] = 0xc1;
        let one = [1u8];
        let key = pkcs1::RsaPrivateKey {
            modulus: UintRef::new(&modulus).unwrap(),
            public_exponent: UintRef::new(&[1, 0, 1]).unwrap(),
            private_exponent: UintRef::new(&modulus).unwrap(),
            prime1: UintRef::new(&one).unwrap(),
            prime2: UintRef::new(&one).unwrap(),
            exponent1: UintRef::new(&one).unwrap(),
            exponent2: UintRef::new(&one).unwrap(),
            coefficient: UintRef::new(&one).unwrap(),
            other_prime_infos: None,
        };
        key.to_der().unwrap()
    }
}
