//! The key-encryption key and the AEAD the stored ring is sealed with: AES-256-GCM from
//! aws-lc-rs (the `aws-lc` feature), or RustCrypto's `aes-gcm` (`rust-crypto` alone). Nothing
//! here is cryptography of our own: a random 96-bit nonce per seal, the library's tag check
//! on open.

use std::fmt;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};

use crate::error::KeyRingError;

/// The length of a key-encryption key: 32 bytes (AES-256).
pub const KEK_LEN: usize = 32;
/// The fewest distinct byte values a key-encryption key may have: 32 random bytes have about
/// 30; a key typed by hand or repeated bytes have far fewer.
const MIN_DISTINCT: usize = 16;
const NONCE_LEN: usize = 12;
/// The label the key's public id is derived under.
const ID_LABEL: &[u8] = b"tower-refresh-auth key-encryption key id v1";

/// The key-encryption key (KEK) that seals the signing keys and refresh secrets kept in the
/// store ([`crate::fleet`]): 32 random bytes the application provides, from the environment
/// or a file. Whoever reads the store without it reads no key; a record that does not open
/// under it is refused.
///
/// Make one with `openssl rand 32 | basenc --base64url` (or any 32 random bytes).
///
/// ```
/// use tower_refresh_auth::fleet::KeyEncryptionKey;
/// let kek = KeyEncryptionKey::from_base64url("kSLE4f1bIdGV3BzOmAntt7dcmIMb-G30wtgCcQvMe-o")?;
/// assert_eq!(kek.id().len(), 16);
/// assert!(KeyEncryptionKey::from_base64url("c2hvcnQ").is_err());
/// # Ok::<_, tower_refresh_auth::fleet::KeyRingError>(())
/// ```
#[derive(Clone)]
pub struct KeyEncryptionKey {
    bytes: [u8; KEK_LEN],
    id: String,
}

impl KeyEncryptionKey {
    /// A key from its 32 bytes.
    ///
    /// # Errors
    ///
    /// [`KeyRingError::WeakKek`]: not 32 bytes, or too few distinct bytes to be random.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KeyRingError> {
        let bytes: [u8; KEK_LEN] = bytes.try_into().map_err(|_| KeyRingError::WeakKek {
            reason: format!("it is {} bytes, not {KEK_LEN}", bytes.len()),
        })?;
        let mut seen = [false; 256];
        for b in bytes {
            seen[usize::from(b)] = true;
        }
        if seen.iter().filter(|s| **s).count() < MIN_DISTINCT {
            return Err(KeyRingError::WeakKek {
                reason: "its bytes are not random".into(),
            });
        }
        let digest = Sha256::new()
            .chain_update(ID_LABEL)
            .chain_update(bytes)
            .finalize();
        let id = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        Ok(Self { bytes, id })
    }

    /// A key from base64url text (padded or not; surrounding whitespace ignored).
    ///
    /// # Errors
    ///
    /// [`KeyRingError::WeakKek`]: not base64url, or not 32 random bytes.
    pub fn from_base64url(text: &str) -> Result<Self, KeyRingError> {
        let text = text.trim();
        let bytes = URL_SAFE_NO_PAD
            .decode(text)
            .or_else(|_| URL_SAFE.decode(text))
            .map_err(|_| KeyRingError::WeakKek {
                reason: "it is not base64url".into(),
            })?;
        Self::from_bytes(&bytes)
    }

    /// A key from a file holding its base64url text.
    ///
    /// # Errors
    ///
    /// [`KeyRingError::KekFile`] when the file cannot be read; as
    /// [`from_base64url`](Self::from_base64url) for its content.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, KeyRingError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|err| KeyRingError::KekFile {
            path: path.display().to_string(),
            reason: err.to_string(),
        })?;
        Self::from_base64url(&text)
    }

    /// The key's public id: 16 hex digits of a hash of it, stored beside each sealed record so
    /// that a record sealed under another key is told apart from a tampered one. It reveals
    /// nothing of the key.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// `plaintext` sealed under this key, bound to `aad`: `nonce | ciphertext | tag`.
    pub(crate) fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, KeyRingError> {
        backend::seal(&self.bytes, aad, plaintext).ok_or(KeyRingError::Crypto)
    }

    /// What [`seal`](Self::seal) sealed with the same `aad`; `None` for anything else.
    pub(crate) fn open(&self, aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
        if sealed.len() < NONCE_LEN {
            return None;
        }
        backend::open(&self.bytes, aad, sealed)
    }
}

impl fmt::Debug for KeyEncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyEncryptionKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

#[cfg(feature = "aws-lc")]
mod backend {
    use aws_lc_rs::aead::{AES_256_GCM, Aad, Nonce, RandomizedNonceKey};

    use super::NONCE_LEN;

    pub(super) fn seal(key: &[u8], aad: &[u8], plaintext: &[u8]) -> Option<Vec<u8>> {
        let key = RandomizedNonceKey::new(&AES_256_GCM, key).ok()?;
        let mut in_out = plaintext.to_vec();
        let nonce = key
            .seal_in_place_append_tag(Aad::from(aad), &mut in_out)
            .ok()?;
        let mut out = Vec::with_capacity(NONCE_LEN + in_out.len());
        out.extend_from_slice(nonce.as_ref());
        out.extend_from_slice(&in_out);
        Some(out)
    }

    pub(super) fn open(key: &[u8], aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
        let key = RandomizedNonceKey::new(&AES_256_GCM, key).ok()?;
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut in_out = ciphertext.to_vec();
        let plaintext = key.open_in_place(nonce, Aad::from(aad), &mut in_out).ok()?;
        Some(plaintext.to_vec())
    }
}

#[cfg(all(feature = "rust-crypto", not(feature = "aws-lc")))]
mod backend {
    use aes_gcm::aead::{Aead, Generate, KeyInit, Payload};
    use aes_gcm::{Aes256Gcm, Nonce};

    use super::NONCE_LEN;

    pub(super) fn seal(key: &[u8], aad: &[u8], plaintext: &[u8]) -> Option<Vec<u8>> {
        let cipher = Aes256Gcm::new_from_slice(key).ok()?;
        let nonce = Nonce::generate();
        let ciphertext = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .ok()?;
        let mut out = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        out.extend_from_slice(nonce.as_slice());
        out.extend_from_slice(&ciphertext);
        Some(out)
    }

    pub(super) fn open(key: &[u8], aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
        let cipher = Aes256Gcm::new_from_slice(key).ok()?;
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_from(nonce).ok()?;
        cipher
            .decrypt(
                &nonce,
                Payload {
                    msg: ciphertext,
                    aad,
                },
            )
            .ok()
    }
}

#[cfg(not(any(feature = "aws-lc", feature = "rust-crypto")))]
mod backend {
    pub(super) fn seal(_: &[u8], _: &[u8], _: &[u8]) -> Option<Vec<u8>> {
        None
    }

    pub(super) fn open(_: &[u8], _: &[u8], _: &[u8]) -> Option<Vec<u8>> {
        None
    }
}

#[cfg(all(test, any(feature = "aws-lc", feature = "rust-crypto")))]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn kek(seed: u8) -> KeyEncryptionKey {
        let bytes: Vec<u8> = (0..32u8)
            .map(|i| i.wrapping_mul(7).wrapping_add(seed))
            .collect();
        KeyEncryptionKey::from_bytes(&bytes).unwrap()
    }

    #[test]
    fn a_sealed_record_opens_only_under_its_key_and_associated_data() {
        let sealed = kek(1).seal(b"v1", b"the ring").unwrap();
        assert_eq!(kek(1).open(b"v1", &sealed).unwrap(), b"the ring");
        assert!(kek(2).open(b"v1", &sealed).is_none());
        assert!(kek(1).open(b"v2", &sealed).is_none());
        let mut flipped = sealed.clone();
        flipped[20] ^= 1;
        assert!(kek(1).open(b"v1", &flipped).is_none());
        assert!(kek(1).open(b"v1", &sealed[..5]).is_none());
        // A fresh nonce per seal.
        assert_ne!(sealed, kek(1).seal(b"v1", b"the ring").unwrap());
    }

    #[test]
    fn weak_keys_are_refused_with_the_reason() {
        for (bytes, reason) in [
            (vec![7u8; 32], "not random"),
            (vec![1u8; 16], "16 bytes"),
            (b"passwordpasswordpasswordpassword".to_vec(), "not random"),
        ] {
            let err = KeyEncryptionKey::from_bytes(&bytes).unwrap_err();
            assert!(err.to_string().contains(reason), "{err}");
        }
        assert!(KeyEncryptionKey::from_base64url("not base64!").is_err());
    }

    #[test]
    fn debug_shows_the_id_never_the_key() {
        let shown = format!("{:?}", kek(1));
        assert!(shown.contains(kek(1).id()));
        assert!(!shown.contains("bytes"));
    }
}
