//! Authentication time and step-up (`docs/protocol.md` §15): `auth_time`, `acr` and `amr`
//! survive refreshes, a step-up requirement refuses with the RFC 9470 challenge (read as a
//! careful client reads it, RFC 9110 §11.6.1), and re-authentication raises `auth_time`
//! without a new session.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{Harness, admin, t0};
use http::{HeaderMap, HeaderValue};
use tower_refresh_auth::error::ErrorBody;
use tower_refresh_auth::session::{Authentication, SessionMetadata};
use tower_refresh_auth::step_up::StepUp;
use tower_refresh_auth::{AuthError, Claims};
use tower_refresh_auth_test_support::{Reply, parse_challenges};

const T0_SECS: u64 = 1_800_000_000;

fn mfa() -> Authentication {
    Authentication::new()
        .acr("urn:example:mfa")
        .amr(["pwd", "otp"])
}

async fn login_with(h: &Harness, how: Authentication) -> tower_refresh_auth::TokenPair {
    let metadata = SessionMetadata::new().with_authentication(how);
    h.auth.issue_with("user1", admin(), metadata).await.unwrap()
}

fn claims(h: &Harness, access_token: &str) -> Claims<common::Role> {
    h.auth.verify(access_token).unwrap()
}

#[tokio::test]
async fn every_token_carries_auth_time_and_a_refresh_never_changes_it() {
    let h = Harness::new();
    let login = login_with(&h, mfa()).await;
    let first = claims(&h, &login.access_token);
    assert_eq!(first.auth_time, Some(T0_SECS));
    assert_eq!(first.acr.as_deref(), Some("urn:example:mfa"));
    assert_eq!(first.amr, ["pwd", "otp"]);
    assert_eq!(first.custom, admin());

    // Refreshed every 50 seconds for an hour: the tokens are new, the authentication is not.
    let mut refresh = login.refresh_token;
    for _ in 0..72 {
        h.clock.advance(Duration::from_secs(50));
        let reply = h.refresh(&refresh).await;
        let next = claims(&h, &reply.access_token());
        assert!(next.iat > first.iat);
        assert_eq!(
            (next.auth_time, next.acr.as_deref(), next.amr.as_slice()),
            (first.auth_time, first.acr.as_deref(), first.amr.as_slice())
        );
        refresh = reply.refresh_token();
    }
    // A login without an acr or amr carries auth_time only, and its JSON has no empty amr.
    let plain = h.login().await;
    let c = claims(&h, &plain.access_token);
    assert_eq!((c.acr, c.amr.len()), (None, 0));
    let payload = plain.access_token.split('.').nth(1).unwrap();
    let json: serde_json::Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(json["auth_time"], T0_SECS + 3600);
    assert!(json.get("amr").is_none() && json.get("acr").is_none());
}

#[tokio::test]
async fn the_application_cannot_set_the_authentication_claims_itself() {
    for name in ["auth_time", "acr", "amr"] {
        let custom = serde_json::json!({ name: 1 });
        let auth = tower_refresh_auth::RefreshAuth::<serde_json::Value>::builder()
            .hs256(common::SECRET.to_vec())
            .build()
            .unwrap();
        let err = auth.issue("user1", custom).await.unwrap_err();
        assert!(matches!(err, AuthError::Claims(_)), "{name}: {err:?}");
    }
}

/// One of the core's responses, read whole.
fn read(res: http::Response<bytes::Bytes>) -> Reply {
    let (parts, body) = res.into_parts();
    Reply::new(parts.status, parts.headers, body)
}

/// The one `WWW-Authenticate` challenge of `reply`, parsed.
fn challenge(reply: &Reply) -> tower_refresh_auth_test_support::Challenge {
    let mut all = parse_challenges(reply.header("www-authenticate")).unwrap();
    assert_eq!(all.len(), 1, "{all:?}");
    all.remove(0)
}

#[tokio::test]
async fn a_stale_login_is_refused_with_the_rfc_9470_challenge_and_the_json_body() {
    let h = Harness::new();
    let login = h.login().await;
    let five_minutes = StepUp::max_age(Duration::from_secs(300));
    assert!(
        h.auth
            .step_up(&claims(&h, &login.access_token), &five_minutes)
            .is_ok()
    );

    // Five minutes to the second is still fresh; one second more is not.
    h.clock.advance(Duration::from_secs(300));
    let reply = h.refresh(&login.refresh_token).await;
    let refreshed = claims(&h, &reply.access_token());
    assert!(h.auth.step_up(&refreshed, &five_minutes).is_ok());
    h.clock.advance(Duration::from_secs(1));
    let refusal = h.auth.step_up(&refreshed, &five_minutes).unwrap_err();
    assert!(matches!(
        refusal.error(),
        AuthError::InsufficientUserAuthentication(e) if e.max_age() == Some(300) && e.acr_values().is_none()
    ));
    let reply = read(refusal.into_response());
    reply.assert_error(401, "insufficient_user_authentication");
    let c = challenge(&reply);
    assert_eq!(c.scheme, "Bearer");
    assert_eq!(c.param("realm"), Some("api"));
    assert_eq!(c.param("error"), Some("insufficient_user_authentication"));
    assert_eq!(c.param("max_age"), Some("300"));
    assert_eq!(c.param("acr_values"), None);
    assert_eq!(
        c.param("error_description"),
        Some(reply.error_description().as_str())
    );
}

#[tokio::test]
async fn an_acr_requirement_names_its_values_and_both_parts_are_in_one_challenge() {
    let h = Harness::new();
    let plain = h.login().await;
    let strong = StepUp::acr_values(["urn:example:mfa", "urn:example:hwk"])
        .with_max_age(Duration::from_secs(600));
    let refusal = h
        .auth
        .step_up(&claims(&h, &plain.access_token), &strong)
        .unwrap_err();
    let reply = read(refusal.into_response());
    let c = challenge(&reply);
    assert_eq!(
        c.param("acr_values"),
        Some("urn:example:mfa urn:example:hwk")
    );
    assert_eq!(c.param("max_age"), Some("600"));
    let with_mfa = login_with(&h, mfa()).await;
    assert!(
        h.auth
            .step_up(&claims(&h, &with_mfa.access_token), &strong)
            .is_ok()
    );
    // The right class, too old.
    h.clock.advance(Duration::from_secs(601));
    let later = h.refresh(&with_mfa.refresh_token).await.access_token();
    assert!(h.auth.step_up(&claims(&h, &later), &strong).is_err());
}

#[tokio::test]
async fn the_applications_error_body_and_realm_apply_and_grpc_gets_unauthenticated() {
    let h = Harness::with(|b| {
        b.realm("dashboard").error_body(|err: &AuthError| {
            ErrorBody::json(
                &serde_json::json!({ "code": err.error_code(), "status": err.status().as_u16() }),
            )
        })
    });
    let login = h.login().await;
    h.clock.advance(Duration::from_secs(45));
    let step_up = StepUp::max_age(Duration::from_secs(30));
    let refusal = h
        .auth
        .step_up(&claims(&h, &login.access_token), &step_up)
        .unwrap_err();

    let reply = read(refusal.clone().into_response());
    assert_eq!(reply.status.as_u16(), 401);
    assert_eq!(
        reply.text(),
        r#"{"code":"insufficient_user_authentication","status":401}"#
    );
    assert_eq!(reply.header("cache-control"), "no-store");
    let c = challenge(&reply);
    assert_eq!(c.param("realm"), Some("dashboard"));
    assert_eq!(c.param("max_age"), Some("30"));

    // A gRPC call: a trailers-only Unauthenticated, the challenge in the metadata.
    let mut grpc = HeaderMap::new();
    grpc.insert("content-type", HeaderValue::from_static("application/grpc"));
    let reply = read(refusal.response_to(&grpc));
    assert_eq!(reply.status.as_u16(), 200);
    assert_eq!(reply.header("grpc-status"), "16");
    assert!(reply.body.is_empty());
    let c = challenge(&reply);
    assert_eq!(c.param("error"), Some("insufficient_user_authentication"));
    assert_eq!(c.param("max_age"), Some("30"));
    assert_eq!(
        reply.header("grpc-message"),
        "the login is older than this request allows"
    );
}

#[tokio::test]
async fn reauthentication_raises_auth_time_and_keeps_the_session() {
    let h = Harness::new();
    let login = h.login().await;
    h.clock.advance(Duration::from_secs(3600));
    let step_up = StepUp::max_age(Duration::from_secs(300)).with_acr_values(["urn:example:mfa"]);
    let stale = h.refresh(&login.refresh_token).await;
    assert!(
        h.auth
            .step_up(&claims(&h, &stale.access_token()), &step_up)
            .is_err()
    );

    let pair = h
        .auth
        .reauthenticate(&login.session_id, mfa())
        .await
        .unwrap();
    assert_eq!(pair.session_id, login.session_id);
    let fresh = claims(&h, &pair.access_token);
    assert_eq!(fresh.sid.unwrap(), login.session_id);
    assert_eq!(fresh.auth_time, Some(T0_SECS + 3600));
    assert_eq!(fresh.acr.as_deref(), Some("urn:example:mfa"));
    assert_eq!(fresh.amr, ["pwd", "otp"]);
    assert_eq!(fresh.custom, admin());
    assert!(h.auth.step_up(&fresh, &step_up).is_ok());
    // One session, not two.
    let sessions = h.auth.sessions("user1").await.unwrap();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].id, login.session_id);

    // Its refreshes keep the new authentication.
    h.clock.advance(Duration::from_secs(30));
    let refreshed = h.refresh(&pair.refresh_token).await;
    let next = claims(&h, &refreshed.access_token());
    assert_eq!((next.auth_time, next.acr), (fresh.auth_time, fresh.acr));
}

#[tokio::test]
async fn reauthentication_spends_the_old_token_with_the_grace_window_and_reuse_detection() {
    let h = Harness::new();
    let login = h.login().await;
    h.clock.advance(Duration::from_secs(600));
    let pair = h
        .auth
        .reauthenticate(&login.session_id, Authentication::new())
        .await
        .unwrap();

    // Inside the grace window, the token held before gets the very same successor.
    h.clock.advance(Duration::from_secs(5));
    let replay = h.refresh(&login.refresh_token).await;
    assert_eq!(replay.refresh_token(), pair.refresh_token);
    assert_eq!(
        claims(&h, &replay.access_token()).auth_time,
        Some(T0_SECS + 600)
    );

    // After it, the old token is a reuse: the session is revoked, the new token too.
    h.clock.advance(Duration::from_secs(10));
    h.refresh(&login.refresh_token)
        .await
        .assert_error(400, "invalid_grant");
    h.refresh(&pair.refresh_token)
        .await
        .assert_error(400, "invalid_grant");
    let gone = h
        .auth
        .reauthenticate(&login.session_id, Authentication::new())
        .await
        .unwrap_err();
    assert!(matches!(gone, AuthError::InvalidToken(_)), "{gone:?}");
}

#[tokio::test]
async fn a_store_writer_cannot_raise_auth_time() {
    let h = Harness::new();
    let login = h.login().await;
    h.clock.advance(Duration::from_secs(3600));
    // Someone with write access to the store makes the login look recent and strong.
    let mut record = h
        .store
        .inner
        .load(&login.session_id, t0())
        .await
        .unwrap()
        .unwrap();
    let mut claims_json: serde_json::Value = serde_json::from_str(&record.claims).unwrap();
    assert_eq!(claims_json["auth_time"], T0_SECS);
    claims_json["auth_time"] = (T0_SECS + 3600).into();
    claims_json["acr"] = "urn:example:mfa".into();
    record.claims = claims_json.to_string();
    use tower_refresh_auth::store::RefreshStore as _;
    h.store.inner.create(&record).await.unwrap();

    // The seal no longer matches: refused like an unknown session, nothing signed.
    h.refresh(&login.refresh_token)
        .await
        .assert_error(400, "invalid_grant");
    let err = h
        .auth
        .reauthenticate(&login.session_id, Authentication::new())
        .await
        .unwrap_err();
    assert!(matches!(err, AuthError::InvalidToken(_)), "{err:?}");
}

#[tokio::test]
async fn a_store_failure_during_reauthentication_is_a_503_and_changes_nothing() {
    let h = Harness::new();
    let login = h.login().await;
    h.store.set_down(true);
    let err = h
        .auth
        .reauthenticate(&login.session_id, mfa())
        .await
        .unwrap_err();
    assert!(matches!(err, AuthError::Store(_)), "{err:?}");
    h.store.set_down(false);
    let reply = h.refresh(&login.refresh_token).await;
    assert_eq!(claims(&h, &reply.access_token()).acr, None);
}
