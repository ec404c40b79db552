//! New signing keys for the ring, made by the crate the build already signs with: aws-lc-rs
//! (the `aws-lc` feature), or RustCrypto's `p256` and `ed25519-dalek` (`rust-crypto` alone).
//! Each comes out as PKCS#8 DER, the form the ring stores (sealed) and
//! [`SigningKey::from_private_key_der`] reads.

use crate::error::KeyRingError;
use crate::keys::{Algorithm, SigningKey};

/// A fresh private key for `alg` as PKCS#8 DER, with the signing key it makes.
pub(super) fn generate(alg: Algorithm) -> Result<(Vec<u8>, SigningKey), KeyRingError> {
    let der = backend::pkcs8(alg).ok_or(KeyRingError::Crypto)?;
    let key = SigningKey::from_private_key_der(&der).map_err(|_| KeyRingError::Crypto)?;
    Ok((der, key))
}

/// A fresh refresh-token MAC secret (which the session-seal key is derived from).
pub(super) fn secret() -> Vec<u8> {
    rand::random::<[u8; 32]>().to_vec()
}

#[cfg(feature = "aws-lc")]
mod backend {
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair};

    use crate::keys::Algorithm;

    pub(super) fn pkcs8(alg: Algorithm) -> Option<Vec<u8>> {
        let rng = SystemRandom::new();
        let doc = match alg {
            Algorithm::ES256 => {
                EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).ok()?
            }
            Algorithm::EdDSA => Ed25519KeyPair::generate_pkcs8(&rng).ok()?,
            _ => return None,
        };
        Some(doc.as_ref().to_vec())
    }
}

#[cfg(all(feature = "rust-crypto", not(feature = "aws-lc")))]
mod backend {
    use ed25519_dalek::pkcs8::EncodePrivateKey as _;

    use crate::keys::Algorithm;

    pub(super) fn pkcs8(alg: Algorithm) -> Option<Vec<u8>> {
        match alg {
            Algorithm::ES256 => {
                // A scalar of 32 random bytes; the library refuses the few (2^-32) that are
                // not below the group order, and another is drawn.
                let key = std::iter::repeat_with(rand::random::<[u8; 32]>)
                    .take(16)
                    .find_map(|bytes| p256::SecretKey::from_slice(&bytes).ok())?;
                use p256::pkcs8::EncodePrivateKey as _;
                Some(key.to_pkcs8_der().ok()?.as_bytes().to_vec())
            }
            Algorithm::EdDSA => {
                let key = ed25519_dalek::SigningKey::from_bytes(&rand::random());
                Some(key.to_pkcs8_der().ok()?.as_bytes().to_vec())
            }
            _ => None,
        }
    }
}

#[cfg(not(any(feature = "aws-lc", feature = "rust-crypto")))]
mod backend {
    use crate::keys::Algorithm;

    pub(super) fn pkcs8(_: Algorithm) -> Option<Vec<u8>> {
        None
    }
}

#[cfg(all(test, any(feature = "aws-lc", feature = "rust-crypto")))]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn every_algorithm_the_ring_makes_signs_and_each_key_is_new() {
        for alg in [Algorithm::ES256, Algorithm::EdDSA] {
            let (der, key) = generate(alg).unwrap();
            assert_eq!(key.algorithm(), alg);
            let again = SigningKey::from_private_key_der(&der).unwrap();
            assert_eq!(again.kid(), key.kid());
            assert_ne!(generate(alg).unwrap().1.kid(), key.kid());
        }
        assert!(generate(Algorithm::HS256).is_err());
    }
}
