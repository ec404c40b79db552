//! Property tests of token handling.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::{Duration, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use proptest::prelude::*;
use serde::{Deserialize, Serialize};
use tower_refresh_auth::clock::ManualClock;
use tower_refresh_auth::keys::SigningKey;
use tower_refresh_auth::session::{Authentication, SessionMetadata};
use tower_refresh_auth::step_up::StepUp;
use tower_refresh_auth::{AuthError, RefreshAuth};
use tower_refresh_auth_test_support::TestStore;

const SECRET: &[u8] = b"property test secret, 32 bytes or more";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct AppClaims {
    role: String,
    level: u32,
    tags: Vec<String>,
    flags: BTreeMap<String, bool>,
    note: Option<String>,
}

fn app_claims() -> impl Strategy<Value = AppClaims> {
    (
        ".{0,20}",
        any::<u32>(),
        prop::collection::vec(".{0,8}", 0..4),
        prop::collection::btree_map("[a-z]{1,6}", any::<bool>(), 0..4),
        prop::option::of(".{0,30}"),
    )
        .prop_map(|(role, level, tags, flags, note)| AppClaims {
            role,
            level,
            tags,
            flags,
            note,
        })
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

fn auth(clock: &ManualClock) -> RefreshAuth<AppClaims> {
    RefreshAuth::builder()
        .hs256(SECRET.to_vec())
        .clock(clock.clone())
        .build()
        .unwrap()
}

fn start() -> std::time::SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

/// The characters of base64url without padding: what refresh tokens are written in.
const BASE64URL: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// The `kid` in an access token's header.
fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

/// Why verification refused: the `error_description` the layer would send.
fn reason<T: std::fmt::Debug>(verified: Result<T, AuthError>) -> String {
    match verified {
        Err(AuthError::InvalidToken(reason)) => reason.into_owned(),
        other => panic!("expected InvalidToken, got {other:?}"),
    }
}

const ED_PRIVATE: &str = include_str!("keys/ed25519.pem");
const ED_PUBLIC: &str = include_str!("keys/ed25519.pub.pem");

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn application_claims_round_trip(claims in app_claims(), sub in "[a-zA-Z0-9@._-]{1,40}") {
        let clock = ManualClock::new(start());
        let auth = auth(&clock);
        let pair = runtime().block_on(auth.issue(sub.clone(), claims.clone())).unwrap();
        let verified = auth.verify(&pair.access_token).unwrap();
        prop_assert_eq!(&verified.sub, &sub);
        prop_assert_eq!(&verified.custom, &claims);
        // …and survive a refresh, which rebuilds them from the store.
        let renewed = runtime().block_on(auth.refresh(&pair.refresh_token)).unwrap();
        prop_assert_eq!(auth.verify(&renewed.access_token).unwrap().custom, claims);
    }

    /// docs/protocol.md §15: whatever the application's claims and whatever `acr`/`amr` it
    /// gives, a refresh keeps the authentication exactly and a re-authentication replaces it
    /// (and only it), for the same session; a step-up by age holds exactly up to `max_age`.
    #[test]
    fn authentication_claims_survive_refreshes_and_only_reauthentication_changes_them(
        claims in app_claims(),
        acr in prop::option::of("[ -~]{1,24}"),
        amr in prop::collection::vec("[a-z]{1,8}", 0..4),
        new_acr in "[a-z:]{1,24}",
        refreshes in 1usize..4,
        wait_secs in 0u64..900,
    ) {
        let clock = ManualClock::new(start());
        let auth = auth(&clock);
        let mut how = Authentication::new().amr(amr.clone());
        if let Some(acr) = &acr {
            how = how.acr(acr.clone());
        }
        let rt = runtime();
        let metadata = SessionMetadata::new().with_authentication(how);
        let login = rt.block_on(auth.issue_with("user1", claims.clone(), metadata)).unwrap();
        let first = auth.verify(&login.access_token).unwrap();
        prop_assert_eq!(first.auth_time, Some(1_800_000_000));
        prop_assert_eq!(&first.acr, &acr);
        prop_assert_eq!(&first.amr, &amr);
        let mut token = login.refresh_token;
        for _ in 0..refreshes {
            clock.advance(Duration::from_secs(wait_secs));
            let renewed = rt.block_on(auth.refresh(&token)).unwrap();
            let c = auth.verify(&renewed.access_token).unwrap();
            prop_assert_eq!((c.auth_time, &c.acr, &c.amr), (first.auth_time, &acr, &amr));
            prop_assert_eq!(&c.custom, &claims);
            let elapsed = c.iat - 1_800_000_000;
            let step_up = StepUp::max_age(Duration::from_secs(wait_secs));
            prop_assert_eq!(auth.step_up(&c, &step_up).is_ok(), elapsed <= wait_secs);
            token = renewed.refresh_token;
        }
        let raised = rt
            .block_on(auth.reauthenticate(&login.session_id, Authentication::new().acr(new_acr.clone())))
            .unwrap();
        prop_assert_eq!(raised.session_id, login.session_id);
        let c = auth.verify(&raised.access_token).unwrap();
        prop_assert_eq!(c.auth_time, Some(c.iat));
        prop_assert_eq!(&c.acr, &Some(new_acr));
        prop_assert!(c.amr.is_empty());
        prop_assert_eq!(&c.custom, &claims);
        prop_assert!(auth.step_up(&c, &StepUp::max_age(Duration::ZERO)).is_ok());
    }

    #[test]
    fn any_single_byte_change_to_an_access_token_is_refused(pos in any::<prop::sample::Index>(), byte in 0x21u8..0x7f) {
        let clock = ManualClock::new(start());
        let auth = auth(&clock);
        let claims = AppClaims { role: "r".into(), level: 1, tags: vec![], flags: BTreeMap::new(), note: None };
        let pair = runtime().block_on(auth.issue("user1", claims)).unwrap();
        let mut bytes = pair.access_token.clone().into_bytes();
        let i = pos.index(bytes.len());
        prop_assume!(bytes[i] != byte);
        bytes[i] = byte;
        let tampered = String::from_utf8(bytes).unwrap();
        // Base64 has spare bits in its last character: a change that decodes to the same
        // bytes is the same token, not a change.
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let same = tampered.split('.').zip(pair.access_token.split('.'))
            .all(|(a, b)| matches!((b64.decode(a), b64.decode(b)), (Ok(x), Ok(y)) if x == y));
        prop_assume!(!same);
        prop_assert!(matches!(auth.verify(&tampered), Err(AuthError::InvalidToken(_))));
    }

    #[test]
    fn tokens_from_another_key_or_algorithm_are_refused(other_secret in prop::collection::vec(any::<u8>(), 64..96), alg_pick in 0usize..3) {
        let clock = ManualClock::new(start());
        let auth = auth(&clock);
        let claims = AppClaims { role: "r".into(), level: 1, tags: vec![], flags: BTreeMap::new(), note: None };
        let pair = runtime().block_on(auth.issue("user1", claims.clone())).unwrap();
        let kid = jsonwebtoken::decode_header(&pair.access_token).unwrap().kid.unwrap();
        let payload: serde_json::Value = {
            use base64::Engine as _;
            let p = pair.access_token.split('.').nth(1).unwrap();
            serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(p).unwrap()).unwrap()
        };
        let alg = [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512][alg_pick];
        let mut header = Header::new(alg);
        header.typ = Some("at+jwt".into());
        header.kid = Some(kid.clone());
        // Another key under any HMAC algorithm…
        let forged = jsonwebtoken::encode(&header, &payload, &EncodingKey::from_secret(&other_secret).unwrap()).unwrap();
        prop_assert!(auth.verify(&forged).is_err());
        // …the right key under another algorithm…
        if alg != Algorithm::HS256 {
            let forged = jsonwebtoken::encode(&header, &payload, &EncodingKey::from_secret(SECRET).unwrap()).unwrap();
            prop_assert!(auth.verify(&forged).is_err());
        }
        // …another algorithm family altogether…
        let ed = SigningKey::from_pem(tower_refresh_auth::Algorithm::EdDSA, ED_PRIVATE.as_bytes(), ED_PUBLIC.as_bytes()).unwrap();
        let ed_auth = RefreshAuth::<AppClaims>::builder().signing_key(ed.with_kid(kid)).refresh_secret(other_secret.clone()).clock(clock.clone()).build().unwrap();
        let ed_pair = runtime().block_on(ed_auth.issue("user1", claims)).unwrap();
        prop_assert!(ed_auth.verify(&ed_pair.access_token).is_ok());
        prop_assert!(auth.verify(&ed_pair.access_token).is_err());
        // …or none at all.
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        // With the genuine kid and typ, so the algorithm is the one thing wrong with it: the
        // same header and payload under HS256 and the real secret verify. jsonwebtoken knows no
        // `none` algorithm, so the header does not even parse: "malformed".
        let genuine_payload = pair.access_token.split('.').nth(1).unwrap();
        let header_with = |alg: &str| serde_json::json!({ "alg": alg, "typ": "at+jwt", "kid": kid_of(&pair.access_token) }).to_string();
        let control = {
            use hmac::Mac as _;
            let input = format!("{}.{genuine_payload}", b64.encode(header_with("HS256")));
            let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET).unwrap();
            mac.update(input.as_bytes());
            format!("{input}.{}", b64.encode(mac.finalize().into_bytes()))
        };
        prop_assert!(auth.verify(&control).is_ok());
        let none = format!("{}.{genuine_payload}.", b64.encode(header_with("none")));
        prop_assert_eq!(reason(auth.verify(&none)), "the token is malformed");
    }

    /// Refresh tokens from the token's own alphabet and length, so they decode and reach the
    /// MAC check (most of them keep the genuine token's version prefix, the rest are drawn
    /// whole): every one is refused there, before the store is asked anything.
    #[test]
    fn refresh_tokens_from_the_alphabet_fail_the_mac_before_the_store(
        keep in prop_oneof![3 => 2usize..70, 1 => Just(0usize)],
        tail in prop::collection::vec(prop::sample::select(BASE64URL.as_bytes().to_vec()), 76),
    ) {
        let clock = ManualClock::new(start());
        let store = TestStore::new();
        let auth = RefreshAuth::<AppClaims>::builder()
            .hs256(SECRET.to_vec())
            .clock(clock.clone())
            .store(store.clone())
            .build()
            .unwrap();
        let claims = AppClaims { role: "r".into(), level: 1, tags: vec![], flags: BTreeMap::new(), note: None };
        let rt = runtime();
        let pair = rt.block_on(auth.issue("user1", claims)).unwrap();
        let genuine = &pair.refresh_token;
        prop_assert_eq!(genuine.len(), 76);
        let mut guess = genuine[..keep].to_owned();
        guess.push_str(std::str::from_utf8(&tail[keep..]).unwrap());
        prop_assume!(&guess != genuine);
        use base64::Engine as _;
        prop_assert!(base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(&guess).is_ok(), "{} does not decode", guess);
        store.reset_calls();
        prop_assert!(matches!(rt.block_on(auth.refresh(&guess)), Err(AuthError::InvalidGrant)));
        prop_assert_eq!(store.calls(), 0, "{} reached the store", guess);
    }

    #[test]
    fn refresh_and_access_tokens_never_stand_in_for_each_other(n in 0usize..5) {
        let clock = ManualClock::new(start());
        let auth = auth(&clock);
        let claims = AppClaims { role: "r".into(), level: 1, tags: vec![], flags: BTreeMap::new(), note: None };
        let rt = runtime();
        let mut pair = rt.block_on(auth.issue("user1", claims)).unwrap();
        for _ in 0..n {
            pair = rt.block_on(auth.refresh(&pair.refresh_token)).unwrap();
        }
        prop_assert!(matches!(auth.verify(&pair.refresh_token), Err(AuthError::InvalidToken(_))));
        prop_assert!(matches!(rt.block_on(auth.refresh(&pair.access_token)), Err(AuthError::InvalidGrant)));
        // The genuine uses still work.
        prop_assert!(auth.verify(&pair.access_token).is_ok());
        prop_assert!(rt.block_on(auth.refresh(&pair.refresh_token)).is_ok());
    }

    /// Mostly within two seconds either side of the deadline, where an off-by-one lives; now
    /// and then anywhere up to three hours on.
    #[test]
    fn expired_never_passes_beyond_the_leeway(
        ttl in 1u64..3600,
        leeway in 0u64..120,
        offset in prop_oneof![4 => -2000i64..2000, 1 => -3_600_000i64..7_200_000],
    ) {
        let deadline_ms = (ttl + leeway) * 1000;
        let past_ms = deadline_ms.saturating_add_signed(offset);
        let clock = ManualClock::new(start());
        let auth = RefreshAuth::<AppClaims>::builder()
            .hs256(SECRET.to_vec())
            .clock(clock.clone())
            .access_ttl(Duration::from_secs(ttl))
            .leeway(Duration::from_secs(leeway))
            .build()
            .unwrap();
        let claims = AppClaims { role: "r".into(), level: 1, tags: vec![], flags: BTreeMap::new(), note: None };
        let pair = runtime().block_on(auth.issue("user1", claims)).unwrap();
        clock.advance(Duration::from_millis(past_ms));
        let verified = auth.verify(&pair.access_token);
        if past_ms < deadline_ms {
            prop_assert!(verified.is_ok(), "ttl {} leeway {} past {}ms: {:?}", ttl, leeway, past_ms, verified.err());
        } else {
            prop_assert_eq!(reason(verified), "the token has expired", "ttl {} leeway {} past {}ms", ttl, leeway, past_ms);
        }
    }
}

#[test]
fn keys_rotate_without_logging_anyone_out() {
    let clock = ManualClock::new(start());
    let old = SigningKey::hmac(
        tower_refresh_auth::Algorithm::HS256,
        b"the old secret, at least 32 bytes long".to_vec(),
    )
    .with_kid("old");
    let new = SigningKey::hmac(
        tower_refresh_auth::Algorithm::HS256,
        b"the new secret, at least 32 bytes long".to_vec(),
    )
    .with_kid("new");
    // The sessions outlive the deployment: both sides use one store.
    let store = TestStore::new();
    let before = RefreshAuth::<tower_refresh_auth::NoClaims>::builder()
        .signing_key(old.clone())
        .refresh_secret(b"refresh secret shared by every instance".to_vec())
        .store(store.clone())
        .clock(clock.clone())
        .build()
        .unwrap();
    let rt = runtime();
    let pair = rt
        .block_on(before.issue("user1", tower_refresh_auth::NoClaims {}))
        .unwrap();
    let after = RefreshAuth::<tower_refresh_auth::NoClaims>::builder()
        .signing_key(new)
        .previous_key(old.verifying_key())
        .refresh_secret(b"refresh secret shared by every instance".to_vec())
        .store(store)
        .clock(clock)
        .build()
        .unwrap();
    assert!(after.verify(&pair.access_token).is_ok());
    let renewed_by_new = after.verify(
        &rt.block_on(before.issue("u", tower_refresh_auth::NoClaims {}))
            .unwrap()
            .access_token,
    );
    assert!(renewed_by_new.is_ok());
    // The old layer does not know the new key.
    let minted_by_new = rt
        .block_on(after.issue("u", tower_refresh_auth::NoClaims {}))
        .unwrap();
    assert_eq!(
        jsonwebtoken::decode_header(&minted_by_new.access_token)
            .unwrap()
            .kid
            .as_deref(),
        Some("new")
    );
    assert!(before.verify(&minted_by_new.access_token).is_err());
    // A session begun before the rotation refreshes after it, and comes back signed with
    // the new key: nobody is logged out, and the old key can be retired.
    let refreshed = rt.block_on(after.refresh(&pair.refresh_token)).unwrap();
    assert_eq!(
        jsonwebtoken::decode_header(&refreshed.access_token)
            .unwrap()
            .kid
            .as_deref(),
        Some("new")
    );
    assert_eq!(after.verify(&refreshed.access_token).unwrap().sub, "user1");
    assert!(before.verify(&refreshed.access_token).is_err());
    // And the rotation went on in the shared store: its successor refreshes again.
    assert!(rt.block_on(after.refresh(&refreshed.refresh_token)).is_ok());
}

/// Every supported algorithm signs tokens that verify under its own key and no other.
#[test]
fn every_supported_algorithm_round_trips() {
    let keys = [
        (
            tower_refresh_auth::Algorithm::RS256,
            include_str!("keys/rsa.pem"),
            include_str!("keys/rsa.pub.pem"),
        ),
        (
            tower_refresh_auth::Algorithm::PS256,
            include_str!("keys/rsa.pem"),
            include_str!("keys/rsa.pub.pem"),
        ),
        (
            tower_refresh_auth::Algorithm::ES256,
            include_str!("keys/es256.pem"),
            include_str!("keys/es256.pub.pem"),
        ),
        (
            tower_refresh_auth::Algorithm::ES384,
            include_str!("keys/es384.pem"),
            include_str!("keys/es384.pub.pem"),
        ),
        (tower_refresh_auth::Algorithm::EdDSA, ED_PRIVATE, ED_PUBLIC),
    ];
    let rt = runtime();
    let clock = ManualClock::new(start());
    let hs = auth(&clock);
    for (alg, private, public) in keys {
        let key = SigningKey::from_pem(alg, private.as_bytes(), public.as_bytes()).unwrap();
        let a = RefreshAuth::<tower_refresh_auth::NoClaims>::builder()
            .signing_key(key)
            .refresh_secret(SECRET.to_vec())
            .clock(clock.clone())
            .build()
            .unwrap();
        let pair = rt
            .block_on(a.issue("user1", tower_refresh_auth::NoClaims {}))
            .unwrap();
        assert_eq!(
            format!(
                "{:?}",
                jsonwebtoken::decode_header(&pair.access_token).unwrap().alg
            ),
            alg.as_str()
        );
        assert!(a.verify(&pair.access_token).is_ok(), "{alg:?}");
        assert!(
            hs.verify(&pair.access_token).is_err(),
            "{alg:?} accepted by an HS256 layer"
        );
        // Key confusion: HS256 with the public key as the secret (RFC 8725 §2.1).
        let payload: serde_json::Value = {
            use base64::Engine as _;
            let p = pair.access_token.split('.').nth(1).unwrap();
            serde_json::from_slice(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(p)
                    .unwrap(),
            )
            .unwrap()
        };
        let mut header = Header::new(Algorithm::HS256);
        header.typ = Some("at+jwt".into());
        header.kid = jsonwebtoken::decode_header(&pair.access_token).unwrap().kid;
        let confused = jsonwebtoken::encode(
            &header,
            &payload,
            &EncodingKey::from_secret(public.as_bytes()).unwrap(),
        )
        .unwrap();
        assert!(a.verify(&confused).is_err(), "{alg:?} key confusion");
        assert!(rt.block_on(a.refresh(&pair.refresh_token)).is_ok());
    }
}

#[test]
fn an_asymmetric_key_needs_a_refresh_secret() {
    let key = SigningKey::from_pem(
        tower_refresh_auth::Algorithm::EdDSA,
        ED_PRIVATE.as_bytes(),
        ED_PUBLIC.as_bytes(),
    )
    .unwrap();
    let err = RefreshAuth::<tower_refresh_auth::NoClaims>::builder()
        .signing_key(key)
        .build()
        .unwrap_err();
    assert!(err.to_string().contains(".refresh_secret("), "{err}");
}

#[test]
fn hs384_and_hs512_round_trip_and_are_not_interchangeable() {
    let rt = runtime();
    let clock = ManualClock::new(start());
    let secret = vec![7u8; 64];
    let hs384 = RefreshAuth::<tower_refresh_auth::NoClaims>::builder()
        .hs384(secret.clone())
        .clock(clock.clone())
        .build()
        .unwrap();
    let hs512 = RefreshAuth::<tower_refresh_auth::NoClaims>::builder()
        .hs512(secret)
        .clock(clock)
        .build()
        .unwrap();
    let a = rt
        .block_on(hs384.issue("u", tower_refresh_auth::NoClaims {}))
        .unwrap();
    let b = rt
        .block_on(hs512.issue("u", tower_refresh_auth::NoClaims {}))
        .unwrap();
    assert!(hs384.verify(&a.access_token).is_ok());
    assert!(hs512.verify(&b.access_token).is_ok());
    assert!(hs384.verify(&b.access_token).is_err());
    assert!(hs512.verify(&a.access_token).is_err());
}

/// The DPoP proof parser on arbitrary input: it never panics, and nothing but a proof signed
/// by the key in its header for this request is accepted.
mod dpop_proofs {
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use http::{HeaderValue, Request};
    use tower_refresh_auth::NoClaims;
    use tower_refresh_auth::dpop::Dpop;
    use tower_refresh_auth_test_support::dpop::DpopKey;

    fn dpop_auth(clock: &ManualClock) -> RefreshAuth<NoClaims> {
        RefreshAuth::builder()
            .hs256(SECRET.to_vec())
            .clock(clock.clone())
            .dpop(Dpop::required().origin("https://api.example.com"))
            .build()
            .unwrap()
    }

    /// Whether `value` as the `DPoP` header of a login request is accepted.
    fn accepted(auth: &RefreshAuth<NoClaims>, value: &[u8]) -> Option<bool> {
        let value = HeaderValue::from_bytes(value).ok()?;
        let req = Request::post("/login")
            .header("dpop", value)
            .body(())
            .unwrap();
        let verified = runtime().block_on(auth.verify_dpop(req.method(), req.uri(), req.headers()));
        Some(verified.is_ok())
    }

    fn json_value() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            ".{0,12}".prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
                prop::collection::btree_map(
                    prop_oneof![
                        Just("typ".to_owned()),
                        Just("alg".to_owned()),
                        Just("jwk".to_owned()),
                        Just("kty".to_owned()),
                        Just("crv".to_owned()),
                        Just("x".to_owned()),
                        Just("y".to_owned()),
                        Just("jti".to_owned()),
                        Just("htm".to_owned()),
                        Just("htu".to_owned()),
                        Just("iat".to_owned()),
                        "[a-z]{1,4}",
                    ],
                    inner,
                    0..6
                )
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn arbitrary_bytes_never_panic_and_are_never_accepted(bytes in prop::collection::vec(any::<u8>(), 0..6000)) {
            let clock = ManualClock::new(start());
            let auth = dpop_auth(&clock);
            prop_assert_ne!(accepted(&auth, &bytes), Some(true));
        }

        #[test]
        fn arbitrary_json_parts_never_panic_and_are_never_accepted(
            header in json_value(),
            claims in json_value(),
            signature in prop::collection::vec(any::<u8>(), 0..80),
        ) {
            let clock = ManualClock::new(start());
            let auth = dpop_auth(&clock);
            let proof = format!(
                "{}.{}.{}",
                B64.encode(serde_json::to_vec(&header).unwrap()),
                B64.encode(serde_json::to_vec(&claims).unwrap()),
                B64.encode(signature),
            );
            prop_assert_ne!(accepted(&auth, proof.as_bytes()), Some(true));
        }

        #[test]
        fn any_single_byte_change_to_a_valid_proof_is_refused(pos in any::<prop::sample::Index>(), byte in 0x21u8..0x7f) {
            let clock = ManualClock::new(start());
            let auth = dpop_auth(&clock);
            let key = DpopKey::es256();
            let mut claims = key.claims("POST", "https://api.example.com/login", None);
            claims["iat"] = serde_json::json!(1_800_000_000u64);
            let proof = key.sign(&key.header(), &claims);
            let mut bytes = proof.clone().into_bytes();
            let i = pos.index(bytes.len());
            prop_assume!(bytes[i] != byte);
            bytes[i] = byte;
            // A base64 change can decode to the same bytes (the unused low bits of the last
            // character): only a proof that differs after decoding must be refused.
            let same = |a: &[u8], b: &[u8]| {
                a.split(|&c| c == b'.').map(|p| B64.decode(p).ok()).collect::<Vec<_>>()
                    == b.split(|&c| c == b'.').map(|p| B64.decode(p).ok()).collect::<Vec<_>>()
            };
            prop_assume!(!same(&bytes, proof.as_bytes()));
            prop_assert_ne!(accepted(&auth, &bytes), Some(true));
            // The untouched proof passes (once).
            prop_assert_eq!(accepted(&auth, proof.as_bytes()), Some(true));
        }
    }
}
