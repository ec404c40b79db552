//! The refresh token's format and MAC, and the session seal.

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

/// The session seal.
mod seal {
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use super::super::*;
    use crate::session::SessionId;

    /// Seal keys, newest first, as the refresh-token keys hold them.
    struct SessionSeal(Vec<HmacSha256>);

    impl SessionSeal {
        fn derive<'a>(secrets: impl IntoIterator<Item = &'a [u8]>) -> Self {
            Self(secrets.into_iter().map(derive_seal_key).collect())
        }
        fn seal(&self, session: &Session) -> String {
            seal_with(&self.0[0], session)
        }
        fn verify(&self, session: &Session) -> bool {
            check_with(&self.0, session) != Sealed::Broken
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
