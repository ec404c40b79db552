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

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::session::SessionId;

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

/// The MAC keys: the first mints new tokens, every one verifies (for key rotation).
#[derive(Clone)]
pub(crate) struct RefreshKeys {
    keys: Vec<HmacSha256>,
}

impl std::fmt::Debug for RefreshKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefreshKeys")
            .field("keys", &self.keys.len())
            .finish_non_exhaustive()
    }
}

impl RefreshKeys {
    /// Keys from raw secrets, newest first. `secrets` must not be empty and each secret must
    /// already have been checked for length.
    pub(crate) fn new<'a>(secrets: impl IntoIterator<Item = &'a [u8]>) -> Self {
        Self {
            keys: secrets.into_iter().map(mac_for).collect(),
        }
    }

    /// The MAC secret derived from a JWT HMAC secret, so that a deployment configured with one
    /// `JWT_SECRET` gets two independent keys (domain separation).
    pub(crate) fn derive(jwt_secret: &[u8]) -> [u8; 32] {
        let mut mac = mac_for(jwt_secret);
        mac.update(DERIVE_LABEL);
        mac.finalize().into_bytes().into()
    }

    /// The token for `counter` of `session`, under the newest key.
    pub(crate) fn mint(&self, session: &SessionId, counter: u64) -> String {
        let mut raw = [0u8; RAW_LEN];
        raw[0] = VERSION;
        raw[1..17].copy_from_slice(session.as_bytes());
        raw[17..BODY_LEN].copy_from_slice(&counter.to_be_bytes());
        let mut mac = self.keys[0].clone();
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
        let verified = self.keys.iter().any(|key| {
            let mut mac = key.clone();
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

    fn keys(seed: u8) -> RefreshKeys {
        RefreshKeys::new([[seed; 32].as_slice()])
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
        let rotated = RefreshKeys::new([[2u8; 32].as_slice(), [1u8; 32].as_slice()]);
        assert!(rotated.verify(&t).is_some());
        assert!(keys(2).verify(&t).is_none());
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
