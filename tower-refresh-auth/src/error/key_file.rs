//! [`KeyFileProblem`]: what is wrong with a key file.

use std::borrow::Cow;
use std::fmt;

/// What is wrong with a key file; part of [`ConfigError::KeyFile`](super::ConfigError::KeyFile), and re-exported as
/// [`keys::KeyFileProblem`](crate::keys::KeyFileProblem). Never holds key material.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyFileProblem {
    /// The file could not be read.
    Unreadable(std::io::ErrorKind),
    /// An X.509 certificate rather than a private key.
    Certificate,
    /// A public key rather than a private key.
    PublicKey,
    /// A password-protected (PKCS#8 encrypted) private key.
    Encrypted,
    /// Neither a PEM nor a DER private key; the PEM label, if there was one.
    NotAPrivateKey(Option<String>),
    /// An elliptic curve other than P-256 and P-384 (named as in RFC 7518, `P-521`, or by OID).
    UnsupportedCurve(Cow<'static, str>),
    /// A key type other than RSA, EC and Ed25519 (`Ed448`, `X25519`, or an OID).
    UnsupportedKeyType(Cow<'static, str>),
    /// An RSA key shorter than 2048 bits.
    WeakRsaKey {
        /// The modulus length in bits.
        bits: usize,
    },
    /// The structure is recognised but broken.
    Malformed(&'static str),
    /// The signer refused the key.
    Refused,
}

impl KeyFileProblem {
    /// RFC 7518 §3.3: an RSA key for `RS256` must be at least 2048 bits.
    pub(crate) const MIN_RSA_BITS: usize = 2048;
}

impl fmt::Display for KeyFileProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SUPPORTED: &str = "use an ES256 (P-256), ES384 (P-384), EdDSA (Ed25519) or RS256 key, \
                                 e.g. `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256`";
        match self {
            Self::Unreadable(kind) => write!(f, "cannot be read ({kind})"),
            Self::Certificate => f.write_str(
                "the file is a certificate, not a private key: give the private key it was issued for",
            ),
            Self::PublicKey => f.write_str(
                "a public key, not a private key: give the private key (its public half is derived from it)",
            ),
            Self::Encrypted => f.write_str(
                "the private key is encrypted: decrypt it first (`openssl pkey -in key.pem -out plain.pem`) \
                 and keep the plain file readable by the server only",
            ),
            Self::NotAPrivateKey(Some(label)) => write!(
                f,
                "not a private key (a PEM \"{label}\"): expected PRIVATE KEY, EC PRIVATE KEY or RSA PRIVATE KEY"
            ),
            Self::NotAPrivateKey(None) => f.write_str(
                "not a private key: neither PEM nor a DER PKCS#8, SEC1 or PKCS#1 private key",
            ),
            Self::UnsupportedCurve(curve) => write!(f, "{curve} is not supported: {SUPPORTED}"),
            Self::UnsupportedKeyType(kind) => {
                write!(f, "{kind} keys are not supported: {SUPPORTED}")
            }
            Self::WeakRsaKey { bits } => write!(
                f,
                "the RSA key has {bits} bits; RS256 needs at least {} (RFC 7518 §3.3)",
                Self::MIN_RSA_BITS
            ),
            Self::Malformed(what) => write!(f, "malformed {what}"),
            Self::Refused => f.write_str("the key was refused by the signer (is it damaged?)"),
        }
    }
}
