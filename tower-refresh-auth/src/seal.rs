//! The session seal: a MAC that binds a session's identity to its record, so that whoever
//! can write to the store cannot change whose session it is or what claims it carries
//! (`docs/protocol.md` §2, "Integrity at rest").
//!
//! The seal is HMAC-SHA256, under a key derived from the refresh-token secret, over the
//! fields that never change after the login:
//!
//! ```text
//! version:1 (= 1) | session id:16
//!   | len(subject):8 | subject | len(claims):8 | claims      lengths big-endian, in bytes
//!   | created_at:8 (ms) | 0, or 1 | absolute_expires_at:8 (ms)
//!   [ | 0x6a | len(jkt):8 | jkt ]                               only for a DPoP-bound session
//! ```
//!
//! Every variable-length field is length-prefixed, so no two different sessions encode alike
//! (subject `ab` with claims `c` is not subject `a` with claims `bc`). The counter, the
//! sliding expiry and `rotated_at` are not bound: every rotation changes them, and a seal
//! that had to be rewritten on every refresh would be one more write to race on.
//!
//! As with refresh tokens, the first key seals and every key verifies, so rotating the
//! refresh secret (keeping the old one as a previous secret) keeps every session valid; a
//! session whose seal verifies only under an older key is sealed again under the newest at its
//! next refresh ([`RefreshStore::reseal`](crate::store::RefreshStore::reseal)), so active
//! sessions have moved to the new secret by the time the old one is removed.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::clock::to_millis;
use crate::session::Session;

pub(crate) type HmacSha256 = Hmac<Sha256>;

/// The version of the encoding, the first byte the MAC covers.
const VERSION: u8 = 1;

/// The label each seal key is derived under from a refresh-token secret. It is longer than a
/// refresh token's MAC input (25 bytes), so no refresh token ever carries a MAC of it.
const DERIVE_LABEL: &[u8] = b"tower-refresh-auth session seal v1";

/// The seal's length in bytes, before base64url.
const TAG_LEN: usize = 32;

/// The seal key derived from a refresh-token secret. The refresh-token keys
/// ([`SessionKeys`](crate::token::refresh_token::SessionKeys)) hold one beside each MAC key, so a
/// rotation of the secret rotates both at once.
pub(crate) fn derive_key(secret: &[u8]) -> HmacSha256 {
    let mut derive = mac_for(secret);
    derive.update(DERIVE_LABEL);
    mac_for(&derive.finalize().into_bytes())
}

/// The seal of `session` under `key`, as base64url without padding.
pub(crate) fn seal(key: &HmacSha256, session: &Session) -> String {
    let mut mac = key.clone();
    feed(&mut mac, session);
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

/// Which of `keys` (the current one first) `session.seal` verifies under, compared in constant
/// time. An empty or malformed seal (a record from before seals existed) verifies under none.
pub(crate) fn check<'a>(
    keys: impl IntoIterator<Item = &'a HmacSha256>,
    session: &Session,
) -> Sealed {
    let mut tag = [0u8; TAG_LEN];
    match URL_SAFE_NO_PAD.decode_slice(&session.seal, &mut tag) {
        Ok(TAG_LEN) => {}
        _ => return Sealed::Broken,
    }
    let position = keys.into_iter().position(|key| {
        let mut mac = key.clone();
        feed(&mut mac, session);
        // `verify_slice` compares in constant time.
        mac.verify_slice(&tag).is_ok()
    });
    match position {
        Some(0) => Sealed::Current,
        Some(_) => Sealed::Previous,
        None => Sealed::Broken,
    }
}

/// What [`check`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sealed {
    /// Under the newest key.
    Current,
    /// Under an older key, still configured: valid, to be sealed again.
    Previous,
    /// Under no configured key, or no seal at all.
    Broken,
}

/// Feeds the sealed fields of `session` to `mac`, in the encoding of the module docs.
fn feed(mac: &mut HmacSha256, session: &Session) {
    let prefixed = |mac: &mut HmacSha256, bytes: &[u8]| {
        mac.update(&(bytes.len() as u64).to_be_bytes());
        mac.update(bytes);
    };
    mac.update(&[VERSION]);
    mac.update(session.id.as_bytes());
    prefixed(mac, session.subject.as_bytes());
    prefixed(mac, session.claims.as_bytes());
    mac.update(&to_millis(session.created_at).to_be_bytes());
    match session.absolute_expires_at {
        None => mac.update(&[0]),
        Some(at) => {
            mac.update(&[1]);
            mac.update(&to_millis(at).to_be_bytes());
        }
    }
    // A DPoP binding (docs/protocol.md §10) extends the encoding; an unbound session encodes
    // as before, so the seals of sessions from before DPoP still verify. The encoding above
    // has a fixed end, so a bound session never encodes like an unbound one.
    if let Some(jkt) = &session.jkt {
        mac.update(&[JKT]);
        prefixed(mac, jkt.as_bytes());
    }
}

/// The marker of a DPoP binding in the sealed encoding.
const JKT: u8 = 0x6a;

pub(crate) fn mac_for(secret: &[u8]) -> HmacSha256 {
    // HMAC takes a key of any length; `new_from_slice` cannot fail for it.
    match HmacSha256::new_from_slice(secret) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC accepts keys of every length"),
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use super::*;
    use crate::session::SessionId;

    /// Seal keys, newest first, as the refresh-token keys hold them.
    struct SessionSeal(Vec<HmacSha256>);

    impl SessionSeal {
        fn derive<'a>(secrets: impl IntoIterator<Item = &'a [u8]>) -> Self {
            Self(secrets.into_iter().map(derive_key).collect())
        }
        fn seal(&self, session: &Session) -> String {
            super::seal(&self.0[0], session)
        }
        fn verify(&self, session: &Session) -> bool {
            check(&self.0, session) != Sealed::Broken
        }
    }

    fn seal(seed: u8) -> SessionSeal {
        SessionSeal::derive([[seed; 32].as_slice()])
    }

    fn at(ms: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(1_700_000_000_000 + ms)
    }

    fn sealed(by: &SessionSeal) -> Session {
        let mut s = Session {
            id: SessionId::random(),
            subject: "alice".into(),
            claims: r#"{"role":"user"}"#.into(),
            counter: 0,
            created_at: at(0),
            rotated_at: at(0),
            expires_at: at(3_600_000),
            absolute_expires_at: Some(at(86_400_000)),
            seal: String::new(),
            jkt: None,
            metadata: crate::session::SessionMetadata::new(),
        };
        s.seal = by.seal(&s);
        s
    }

    #[test]
    fn a_sealed_session_verifies() {
        let k = seal(1);
        let s = sealed(&k);
        assert_eq!(s.seal.len(), 43, "{}", s.seal);
        assert!(k.verify(&s));
        // Deterministic: sealing again gives the same text.
        assert_eq!(k.seal(&s), s.seal);
    }

    type Edit = fn(&mut Session);

    #[test]
    fn a_change_to_any_bound_field_is_refused() {
        let k = seal(1);
        let s = sealed(&k);
        let edits: [(&str, Edit); 8] = [
            ("bound to a key", |s| s.jkt = Some("attacker".into())),
            ("id", |s| s.id = SessionId::random()),
            ("subject", |s| s.subject = "admin".into()),
            ("claims", |s| s.claims = r#"{"role":"admin"}"#.into()),
            ("created_at", |s| s.created_at += Duration::from_millis(1)),
            ("absolute expiry moved", |s| {
                s.absolute_expires_at = Some(at(86_400_001));
            }),
            ("absolute expiry removed", |s| s.absolute_expires_at = None),
            ("seal", |s| s.seal = seal(1).seal(&sealed(&seal(1)))),
        ];
        for (what, edit) in edits {
            let mut tampered = s.clone();
            edit(&mut tampered);
            assert!(!k.verify(&tampered), "{what} changed, still verifies");
        }
    }

    #[test]
    fn a_binding_cannot_be_removed_or_moved_and_unbound_seals_are_unchanged() {
        let k = seal(1);
        let unbound = sealed(&k);
        let mut bound = unbound.clone();
        bound.jkt = Some("thumbprint".into());
        // Sealing an unbound session is what it always was: old records keep verifying.
        assert_eq!(k.seal(&unbound), unbound.seal);
        bound.seal = k.seal(&bound);
        assert_ne!(bound.seal, unbound.seal);
        assert!(k.verify(&bound));
        let mut unbound_by_writer = bound.clone();
        unbound_by_writer.jkt = None;
        assert!(!k.verify(&unbound_by_writer));
        let mut moved = bound.clone();
        moved.jkt = Some("another".into());
        assert!(!k.verify(&moved));
    }

    #[test]
    fn what_rotation_changes_is_not_bound() {
        let k = seal(1);
        let mut s = sealed(&k);
        s.counter = 7;
        s.rotated_at = at(5_000);
        s.expires_at = at(7_200_000);
        assert!(k.verify(&s));
    }

    #[test]
    fn sub_millisecond_precision_is_not_bound() {
        // Stores keep milliseconds: a session read back must still verify.
        let k = seal(1);
        let mut s = sealed(&k);
        s.created_at += Duration::from_micros(999);
        s.seal = k.seal(&s);
        s.created_at = at(0);
        assert!(k.verify(&s));
    }

    #[test]
    fn empty_or_malformed_seals_are_refused() {
        let k = seal(1);
        let good = sealed(&k);
        for bad in [
            String::new(),
            "not base64!".to_owned(),
            good.seal[..42].to_owned(),
            format!("{}A", good.seal),
            format!("{}=", good.seal),
        ] {
            let mut s = good.clone();
            s.seal = bad.clone();
            assert!(!k.verify(&s), "{bad:?}");
        }
    }

    #[test]
    fn a_seal_under_a_previous_key_verifies_and_another_deployments_does_not() {
        let old = seal(1);
        let s = sealed(&old);
        let rotated = SessionSeal::derive([[2u8; 32].as_slice(), [1u8; 32].as_slice()]);
        assert!(rotated.verify(&s));
        assert!(!seal(2).verify(&s));
        // The newest key seals.
        let renewed = sealed(&rotated);
        assert!(seal(2).verify(&renewed));
        assert!(!old.verify(&renewed));
    }

    #[test]
    fn lengths_keep_subject_and_claims_apart() {
        let k = seal(1);
        let mut a = sealed(&k);
        a.subject = "ab".into();
        a.claims = "c".into();
        a.seal = k.seal(&a);
        let mut b = a.clone();
        b.subject = "a".into();
        b.claims = "bc".into();
        assert!(!k.verify(&b));
        assert_ne!(k.seal(&a), k.seal(&b));
    }

    #[test]
    fn the_seal_key_is_not_the_secret_itself() {
        // Sealing under the raw secret would make the seal key the refresh-token MAC key.
        let secret = [1u8; 32];
        let s = sealed(&seal(1));
        let mut raw = mac_for(&secret);
        feed(&mut raw, &s);
        assert_ne!(URL_SAFE_NO_PAD.encode(raw.finalize().into_bytes()), s.seal);
    }
}
