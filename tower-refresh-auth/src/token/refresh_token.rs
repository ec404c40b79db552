//! The opaque refresh token: a session id, a counter and a MAC.
//!
//! ```text
//! base64url( version:1 | session id:16 | counter:8 (big-endian) | HMAC-SHA256:32 )   76 characters
//! ```
//!
//! The MAC is computed under a server key over everything before it, so
//!
//! - a forged, garbled or truncated token, or one from another deployment, is refused by a
//!   constant-time MAC check **before any store round trip**;
//! - the store keeps one record per session (its current counter), never a token: a leaked
//!   database yields nothing that can be presented;
//! - the successor of token `n` is token `n + 1` of the same session, which can be derived
//!   again, so a replay inside the grace window gets the very same successor without it being
//!   stored anywhere.
//!
//! The design follows Supabase Auth's second refresh-token format; unlike it, a spent token
//! is honoured only inside the grace window (see [`crate::RefreshAuthBuilder::reuse_grace`]).
//! The token contains no `.`, so it can never be parsed as a JWT, and a JWT never has the
//! length and MAC of a refresh token: neither is accepted where the other is expected.

use std::time::SystemTime;

use arc_swap::ArcSwap;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::seal::{self, Sealed};
use crate::session::{Session, SessionId};

type HmacSha256 = Hmac<Sha256>;

const VERSION: u8 = 1;
const BODY_LEN: usize = 1 + 16 + 8;
const RAW_LEN: usize = BODY_LEN + 32;
/// The length of a refresh token's text form.
pub const ENCODED_LEN: usize = 76;

/// The label the MAC key is derived under when it comes from the JWT HMAC secret.
const DERIVE_LABEL: &[u8] = b"tower-refresh-auth refresh-token mac key v1";

/// A refresh token whose MAC verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RefreshToken {
    pub(crate) session: SessionId,
    pub(crate) counter: u64,
}

/// The session keys: the refresh-token MAC keys (the first mints new tokens, every one
/// verifies, for key rotation) and the session seal keys derived beside them.
///
/// Like the access-token keys, the set is immutable and swapped whole by a rotation
/// ([`KeyRing::rotate_refresh_secret`](crate::keyring::KeyRing::rotate_refresh_secret)): minting and
/// verifying take one lock-free load.
pub(crate) struct SessionKeys {
    set: ArcSwap<Vec<MacKey>>,
    /// Whether the secrets are derived from the HMAC signing secrets (no refresh secret was
    /// configured), so that rotating an HMAC signing key rotates them too.
    derived: bool,
}

#[derive(Clone)]
struct MacKey {
    mac: HmacSha256,
    /// The session seal key derived from the same secret (see [`crate::seal`]): it rotates
    /// with the MAC key.
    seal: HmacSha256,
    /// When it stopped minting; `None` for the current key and for the builder's previous
    /// secrets, which are only ever removed by a restart without them.
    retired: Option<SystemTime>,
}

impl std::fmt::Debug for SessionKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionKeys")
            .field("keys", &self.set.load().len())
            .field("derived", &self.derived)
            .finish_non_exhaustive()
    }
}

impl SessionKeys {
    /// Keys from raw secrets, newest first. `secrets` must not be empty and each secret must
    /// already have been checked for length.
    pub(crate) fn new<'a>(secrets: impl IntoIterator<Item = &'a [u8]>, derived: bool) -> Self {
        let keys = secrets
            .into_iter()
            .map(|secret| MacKey {
                mac: mac_for(secret),
                seal: seal::derive_key(secret),
                retired: None,
            })
            .collect();
        Self {
            set: ArcSwap::from_pointee(keys),
            derived,
        }
    }

    /// Whether the secrets are derived from the HMAC signing secret.
    pub(crate) fn is_derived(&self) -> bool {
        self.derived
    }

    /// Makes `secret` the minting key at once; the previous one keeps verifying, retired at
    /// `now`. `secret` must already have been checked for length.
    pub(crate) fn rotate(&self, secret: &[u8], now: SystemTime) {
        let fresh = MacKey {
            mac: mac_for(secret),
            seal: seal::derive_key(secret),
            retired: None,
        };
        self.set.rcu(|keys| {
            let mut next = Vec::with_capacity(keys.len() + 1);
            next.push(fresh.clone());
            next.extend(keys.iter().enumerate().map(|(i, key)| MacKey {
                mac: key.mac.clone(),
                seal: key.seal.clone(),
                retired: match i {
                    0 => Some(now),
                    _ => key.retired,
                },
            }));
            next
        });
    }

    /// Drops the keys retired before `before`; returns how many went.
    pub(crate) fn prune(&self, before: SystemTime) -> usize {
        let mut dropped = 0;
        self.set.rcu(|keys| {
            let kept: Vec<MacKey> = keys
                .iter()
                .filter(|key| key.retired.is_none_or(|at| at > before))
                .cloned()
                .collect();
            // The closure may run again after a concurrent change: the last run counts.
            dropped = keys.len() - kept.len();
            kept
        });
        dropped
    }

    /// Replaces every key at once: `secrets` (not empty, each already checked for length),
    /// the minting one first. For the fleet's key ring, which decides itself when each
    /// secret mints and retires.
    #[cfg(feature = "key-rotation")]
    pub(crate) fn replace<'a>(&self, secrets: impl IntoIterator<Item = &'a [u8]>) {
        let keys: Vec<MacKey> = secrets
            .into_iter()
            .map(|secret| MacKey {
                mac: mac_for(secret),
                seal: seal::derive_key(secret),
                retired: None,
            })
            .collect();
        if !keys.is_empty() {
            self.set.store(std::sync::Arc::new(keys));
        }
    }

    /// How many keys verify.
    pub(crate) fn len(&self) -> usize {
        self.set.load().len()
    }

    /// The MAC secret derived from a JWT HMAC secret, so that a deployment configured with one
    /// `JWT_SECRET` gets two independent keys (domain separation).
    pub(crate) fn derive(jwt_secret: &[u8]) -> [u8; 32] {
        let mut mac = mac_for(jwt_secret);
        mac.update(DERIVE_LABEL);
        mac.finalize().into_bytes().into()
    }

    /// The seal of `session` under the newest secret's seal key (integrity at rest,
    /// docs/protocol.md §2).
    pub(crate) fn seal(&self, session: &Session) -> String {
        let keys = self.set.load();
        seal::seal(&keys[0].seal, session)
    }

    /// Which secret's seal key, if any, `session.seal` verifies under.
    pub(crate) fn check_seal(&self, session: &Session) -> Sealed {
        let keys = self.set.load();
        seal::check(keys.iter().map(|key| &key.seal), session)
    }

    /// The token for `counter` of `session`, under the newest key.
    pub(crate) fn mint(&self, session: &SessionId, counter: u64) -> String {
        let mut raw = [0u8; RAW_LEN];
        raw[0] = VERSION;
        raw[1..17].copy_from_slice(session.as_bytes());
        raw[17..BODY_LEN].copy_from_slice(&counter.to_be_bytes());
        let keys = self.set.load();
        // The set is never empty: the builder makes one key, a rotation only adds in front.
        let mut mac = keys[0].mac.clone();
        mac.update(&raw[..BODY_LEN]);
        raw[BODY_LEN..].copy_from_slice(&mac.finalize().into_bytes());
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// Parses a token and checks its MAC in constant time. `None` for anything that is not a
    /// token minted under one of the keys; the reason is deliberately not told.
    pub(crate) fn verify(&self, token: &str) -> Option<RefreshToken> {
        // The cheapest checks first: a wrong length costs nothing.
        if token.len() != ENCODED_LEN {
            return None;
        }
        let mut raw = [0u8; RAW_LEN];
        match URL_SAFE_NO_PAD.decode_slice(token, &mut raw) {
            Ok(RAW_LEN) => {}
            _ => return None,
        }
        if raw[0] != VERSION {
            return None;
        }
        let (body, tag) = raw.split_at(BODY_LEN);
        let verified = self.set.load().iter().any(|key| {
            let mut mac = key.mac.clone();
            mac.update(body);
            // `verify_slice` compares in constant time.
            mac.verify_slice(tag).is_ok()
        });
        if !verified {
            return None;
        }
        let mut id = [0u8; 16];
        id.copy_from_slice(&body[1..17]);
        let mut counter = [0u8; 8];
        counter.copy_from_slice(&body[17..BODY_LEN]);
        Some(RefreshToken {
            session: SessionId::from_bytes(id),
            counter: u64::from_be_bytes(counter),
        })
    }
}

fn mac_for(secret: &[u8]) -> HmacSha256 {
    // HMAC takes a key of any length; `new_from_slice` cannot fail for it.
    match HmacSha256::new_from_slice(secret) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC accepts keys of every length"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn keys(seed: u8) -> SessionKeys {
        SessionKeys::new([[seed; 32].as_slice()], false)
    }

    #[test]
    fn mint_then_verify() {
        let k = keys(1);
        let sid = SessionId::random();
        let t = k.mint(&sid, 41);
        assert_eq!(t.len(), ENCODED_LEN);
        assert!(!t.contains('.'));
        assert_eq!(
            k.verify(&t),
            Some(RefreshToken {
                session: sid,
                counter: 41
            })
        );
    }

    #[test]
    fn successor_is_deterministic() {
        let k = keys(1);
        let sid = SessionId::random();
        assert_eq!(k.mint(&sid, 2), k.mint(&sid, 2));
        assert_ne!(k.mint(&sid, 2), k.mint(&sid, 3));
    }

    #[test]
    fn another_deployment_key_is_refused() {
        let t = keys(1).mint(&SessionId::random(), 0);
        assert_eq!(keys(2).verify(&t), None);
    }

    #[test]
    fn older_keys_still_verify() {
        let old = keys(1);
        let t = old.mint(&SessionId::random(), 3);
        let rotated = SessionKeys::new([[2u8; 32].as_slice(), [1u8; 32].as_slice()], false);
        assert!(rotated.verify(&t).is_some());
        assert!(keys(2).verify(&t).is_none());
    }

    #[test]
    fn a_rotation_mints_under_the_new_key_and_verifies_under_both_until_pruned() {
        let k = keys(1);
        let sid = SessionId::random();
        let before = k.mint(&sid, 1);
        let t0 = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000);
        k.rotate(&[2u8; 32], t0);
        let after = k.mint(&sid, 1);
        assert_ne!(before, after);
        assert_eq!(keys(2).verify(&after).map(|t| t.counter), Some(1));
        assert!(k.verify(&before).is_some() && k.verify(&after).is_some());
        // Pruning before the retirement keeps the old key; after it, drops it.
        assert_eq!(k.prune(t0 - std::time::Duration::from_secs(1)), 0);
        assert_eq!(k.prune(t0), 1);
        assert!(k.verify(&before).is_none());
        assert!(k.verify(&after).is_some());
        assert_eq!(k.len(), 1);
    }

    proptest! {
        #[test]
        fn any_single_byte_change_is_refused(pos in 0usize..ENCODED_LEN, byte in any::<u8>()) {
            let k = keys(9);
            let t = k.mint(&SessionId::random(), 7);
            let mut bytes = t.clone().into_bytes();
            prop_assume!(bytes[pos] != byte);
            bytes[pos] = byte;
            // Not necessarily UTF-8 any more: the parser only ever sees a `&str`.
            if let Ok(s) = String::from_utf8(bytes) {
                prop_assert_eq!(k.verify(&s), None);
            }
        }

        #[test]
        fn truncated_or_extended_tokens_are_refused(cut in 0usize..ENCODED_LEN, extra in "[A-Za-z0-9_-]{1,8}") {
            let k = keys(9);
            let t = k.mint(&SessionId::random(), 7);
            prop_assert_eq!(k.verify(&t[..cut]), None);
            prop_assert_eq!(k.verify(&format!("{t}{extra}")), None);
        }

        #[test]
        fn arbitrary_strings_never_verify(s in ".{0,100}") {
            prop_assert_eq!(keys(9).verify(&s), None);
        }
    }
}
