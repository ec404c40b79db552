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
/// ```
/// use tower_refresh_auth::store::ReplayKey;
///
/// let key = ReplayKey::from_bytes([7; 16]);
/// assert_eq!(key.to_string().len(), 22);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReplayKey([u8; 16]);

/// Domain separation: nothing else hashed by the layer starts with these bytes.
const LABEL: &[u8] = b"tower-refresh-auth dpop jti v1\0";

impl ReplayKey {
    pub(crate) fn new(jkt: &str, jti: &str) -> Self {
        let mut hash = Sha256::new();
        hash.update(LABEL);
        hash.update((jkt.len() as u64).to_be_bytes());
        hash.update(jkt.as_bytes());
        hash.update(jti.as_bytes());
        let digest = hash.finalize();
        let mut out = [0u8; 16];
        out.copy_from_slice(&digest[..16]);
        Self(out)
    }

    /// A key from its 16 raw bytes (for store tests).
    pub const fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }

    /// The 16 raw bytes.
    pub const fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

impl fmt::Display for ReplayKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; 22];
        let n = URL_SAFE_NO_PAD
            .encode_slice(self.0, &mut buf)
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
}
