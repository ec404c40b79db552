//! Server nonces (RFC 9449 §8, and §9 at a resource server): `DPoP-Nonce` values every
//! instance agrees on without shared state — an HMAC, under a key derived from the
//! refresh-token secret (a resource server's own nonce secret), of the current time bucket. A nonce is good in its bucket and the next, so a client that just got one is not
//! refused at a bucket's edge.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::Mac;

use crate::token::refresh_token::HmacSha256;

/// The label the nonce key is derived under.
const LABEL: &[u8] = b"tower-refresh-auth dpop nonce v1";

/// Bytes of MAC kept in a nonce.
const TAG_LEN: usize = 16;

/// Issues and checks nonces.
pub(crate) struct Nonces {
    key: HmacSha256,
    period: u64,
}

impl std::fmt::Debug for Nonces {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Nonces")
            .field("period_secs", &self.period)
            .finish_non_exhaustive()
    }
}

impl Nonces {
    /// Nonces keyed from `secret` (the refresh-token secret, or a resource server's nonce
    /// secret, shared by every instance), each
    /// fresh for `period` (at least one second).
    pub(crate) fn new(secret: &[u8], period: Duration) -> Self {
        let mut derive = crate::token::refresh_token::mac_for(secret);
        derive.update(LABEL);
        Self {
            key: crate::token::refresh_token::mac_for(&derive.finalize().into_bytes()),
            period: period.as_secs().max(1),
        }
    }

    fn bucket(&self, now: SystemTime) -> u64 {
        now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) / self.period
    }

    fn tag(&self, bucket: u64) -> HmacSha256 {
        let mut mac = self.key.clone();
        mac.update(&bucket.to_be_bytes());
        mac
    }

    /// The nonce of `now`'s bucket.
    pub(crate) fn issue(&self, now: SystemTime) -> String {
        let bucket = self.bucket(now);
        let tag = self.tag(bucket).finalize().into_bytes();
        let mut raw = [0u8; 8 + TAG_LEN];
        raw[..8].copy_from_slice(&bucket.to_be_bytes());
        raw[8..].copy_from_slice(&tag[..TAG_LEN]);
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// Whether `nonce` was issued in `now`'s bucket or the one before.
    pub(crate) fn check(&self, nonce: &str, now: SystemTime) -> bool {
        let mut raw = [0u8; 8 + TAG_LEN];
        if nonce.len() > 32 || URL_SAFE_NO_PAD.decode_slice(nonce, &mut raw) != Ok(raw.len()) {
            return false;
        }
        let mut bucket = [0u8; 8];
        bucket.copy_from_slice(&raw[..8]);
        let bucket = u64::from_be_bytes(bucket);
        let current = self.bucket(now);
        (bucket == current || bucket.checked_add(1) == Some(current))
            // Compared in constant time.
            && self.tag(bucket).verify_truncated_left(&raw[8..]).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn a_nonce_is_good_in_its_bucket_and_the_next() {
        let n = Nonces::new(&[1; 32], Duration::from_secs(300));
        let nonce = n.issue(at(1_000_000));
        assert!(n.check(&nonce, at(1_000_000)));
        assert!(n.check(&nonce, at(1_000_000 + 300)));
        assert!(!n.check(&nonce, at(1_000_000 + 900)));
        assert!(!n.check(&nonce, at(1_000_000 - 600)));
        // Another deployment's nonce, or a garbled one, is refused.
        let other = Nonces::new(&[2; 32], Duration::from_secs(300));
        assert!(!other.check(&nonce, at(1_000_000)));
        assert!(!n.check("garbage", at(1_000_000)));
        assert!(!n.check(&format!("{nonce}A"), at(1_000_000)));
        // Instances built from the same secret agree.
        let twin = Nonces::new(&[1; 32], Duration::from_secs(300));
        assert!(twin.check(&nonce, at(1_000_000)));
    }
}
