//! [`ReplayKey`]: what the store remembers a spent DPoP proof by (see [`crate::dpop`]).

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// What a store remembers a spent DPoP proof by
/// ([`DpopStore::remember_proof`](crate::store::DpopStore::remember_proof)): 128 bits
/// of SHA-256 over the key's thumbprint and the proof's `jti`, so the store never holds
/// client input, and two keys' `jti`s never collide.
///
/// Its text form, for keys and columns, is 22 characters of base64url.
///
/// It also names its **partition** ([`partition`](Self::partition)): 64 bits of SHA-256
/// over the key's thumbprint alone, the same for every proof of one key. A store bounds
/// what it remembers per partition ([`DEFAULT_PROOFS_PER_KEY`]), so the proofs of one key
/// can neither fill the memory nor push out another key's (`docs/protocol.md` §10).
///
/// ```
/// use tower_refresh_auth::store::ReplayKey;
///
/// let key = ReplayKey::from_bytes([7; 16]);
/// assert_eq!(key.to_string().len(), 22);
/// let same_key = ReplayKey::from_parts(*b"partitio", [8; 16]);
/// assert_eq!(same_key.partition(), ReplayKey::from_parts(*b"partitio", [9; 16]).partition());
/// assert_eq!(same_key.partition_text().len(), 16);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReplayKey {
    key: [u8; 16],
    partition: [u8; 8],
}

/// How many proofs of one key (one thumbprint) a store remembers at once, by default: a
/// client spends one proof per refresh and per protected request, and each is remembered
/// for about twice the acceptance window (two minutes by default), so this lets one key
/// make about eight DPoP requests a second, sustained. A key past it has its further proofs
/// refused (`invalid_dpop_proof`) until its older ones are forgotten; other keys are not
/// affected.
pub const DEFAULT_PROOFS_PER_KEY: u32 = 1024;

/// Domain separation: nothing else hashed by the layer starts with these bytes.
const LABEL: &[u8] = b"tower-refresh-auth dpop jti v1\0";
/// The partition's own label: a partition is never equal to a key's bytes by construction.
const PARTITION_LABEL: &[u8] = b"tower-refresh-auth dpop jkt v1\0";

impl ReplayKey {
    pub(crate) fn new(jkt: &str, jti: &str) -> Self {
        let mut hash = Sha256::new();
        hash.update(LABEL);
        hash.update((jkt.len() as u64).to_be_bytes());
        hash.update(jkt.as_bytes());
        hash.update(jti.as_bytes());
        let digest = hash.finalize();
        let mut key = [0u8; 16];
        key.copy_from_slice(&digest[..16]);
        let mut hash = Sha256::new();
        hash.update(PARTITION_LABEL);
        hash.update(jkt.as_bytes());
        let digest = hash.finalize();
        let mut partition = [0u8; 8];
        partition.copy_from_slice(&digest[..8]);
        Self { key, partition }
    }

    /// A key from its 16 raw bytes (for store tests), in a partition of its own (its first
    /// eight bytes): as if every such key came from a DPoP key of its own.
    pub const fn from_bytes(bytes: [u8; 16]) -> Self {
        let partition = [
            bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
        ];
        Self {
            key: bytes,
            partition,
        }
    }

    /// A key from its partition and its 16 raw bytes (for store tests): keys made with one
    /// `partition` count as proofs of one DPoP key.
    pub const fn from_parts(partition: [u8; 8], bytes: [u8; 16]) -> Self {
        Self {
            key: bytes,
            partition,
        }
    }

    /// The 16 raw bytes.
    pub const fn as_bytes(&self) -> &[u8; 16] {
        &self.key
    }

    /// The partition: the same for every proof of one DPoP key, and nothing a client can
    /// choose to collide with another key's (a hash of the thumbprint).
    pub const fn partition(&self) -> &[u8; 8] {
        &self.partition
    }

    /// The partition as 16 lowercase hex digits, for key names and columns.
    pub fn partition_text(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::with_capacity(16);
        for b in self.partition {
            // Writing to a String cannot fail.
            let _ = write!(out, "{b:02x}");
        }
        out
    }
}

impl fmt::Display for ReplayKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; 22];
        let n = URL_SAFE_NO_PAD
            .encode_slice(self.key, &mut buf)
            .map_err(|_| fmt::Error)?;
        f.write_str(std::str::from_utf8(&buf[..n]).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for ReplayKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ReplayKey({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbprint_and_jti_are_kept_apart() {
        assert_ne!(ReplayKey::new("ab", "c"), ReplayKey::new("a", "bc"));
        assert_eq!(ReplayKey::new("k", "j"), ReplayKey::new("k", "j"));
        assert_ne!(ReplayKey::new("k1", "j"), ReplayKey::new("k2", "j"));
    }

    #[test]
    fn one_thumbprint_is_one_partition() {
        let (a, b) = (ReplayKey::new("k", "j1"), ReplayKey::new("k", "j2"));
        assert_ne!(a, b);
        assert_eq!(a.partition(), b.partition());
        assert_ne!(a.partition(), ReplayKey::new("k2", "j1").partition());
        assert_ne!(a.partition(), ReplayKey::new("", "kj1").partition());
    }
}
