//! `docs/protocol.md` §3–§5: the refresh and logout routes, rotation, reuse detection, cookie mode.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{Harness, admin};
use http::Request;
use tower_refresh_auth::{RefreshAuth, transport::RefreshTransport};

#[tokio::test]
async fn json_refresh_returns_a_new_camel_case_pair() {
    let h = Harness::new();
    let pair = h.login().await;
    let res = h.refresh(&pair.refresh_token).await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.header("cache-control"), "no-store");
    assert_eq!(res.header("content-type"), "application/json");
    let body = res.json();
    assert_eq!(body["tokenType"], "Bearer");
    assert_eq!(body["expiresIn"], 60);
    let access = body["accessToken"].as_str().unwrap();
    let refresh = body["refreshToken"].as_str().unwrap();
    assert_ne!(refresh, pair.refresh_token);
    assert_eq!(body.as_object().unwrap().len(), 4);
    // The new access token carries the same user, claims and session.
    let claims = h.auth.verify(access).unwrap();
    assert_eq!(
        (claims.sub.as_str(), claims.custom, claims.sid.unwrap()),
        ("user1", admin(), pair.session_id)
    );
    // …and the new refresh token refreshes in turn.
    assert_eq!(h.refresh(refresh).await.status, 200);
}

#[tokio::test]
async fn form_refresh_answers_in_rfc_6749_shape() {
    let h = Harness::new();
    let pair = h.login().await;
    let res = h
        .post_form(
            "/token",
            &format!(
                "grant_type=refresh_token&refresh_token={}",
                pair.refresh_token
            ),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    let body = res.json();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 60);
    assert!(body["access_token"].is_string());
    assert!(body["refresh_token"].is_string());
    assert_eq!(body.as_object().unwrap().len(), 4);
}

#[tokio::test]
async fn a_spent_token_inside_the_grace_window_gets_the_same_successor() {
    let h = Harness::new();
    let pair = h.login().await;
    let first = h.refresh(&pair.refresh_token).await.json();
    h.clock.advance(Duration::from_secs(10));
    let again = h.refresh(&pair.refresh_token).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.json()["refreshToken"], first["refreshToken"]);
    // The successor is still the one live token.
    let successor = first["refreshToken"].as_str().unwrap();
    assert_eq!(h.refresh(successor).await.status, 200);
}

#[tokio::test]
async fn a_spent_token_after_the_grace_window_revokes_the_session() {
    let h = Harness::new();
    let pair = h.login().await;
    let first = h.refresh(&pair.refresh_token).await.json();
    let successor = first["refreshToken"].as_str().unwrap();
    h.clock.advance(Duration::from_millis(10_001));
    h.refresh(&pair.refresh_token)
        .await
        .assert_error(400, "invalid_grant");
    // Every token of the family is dead now, the live successor included.
    h.refresh(successor)
        .await
        .assert_error(400, "invalid_grant");
    assert!(h.store.inner.is_empty());
}

#[tokio::test]
async fn a_token_two_generations_old_is_reuse_even_inside_the_window() {
    let h = Harness::new();
    let t0 = h.login().await.refresh_token;
    let t1 = h.refresh(&t0).await.json()["refreshToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let t2 = h.refresh(&t1).await.json()["refreshToken"]
        .as_str()
        .unwrap()
        .to_owned();
    h.refresh(&t0).await.assert_error(400, "invalid_grant");
    h.refresh(&t2).await.assert_error(400, "invalid_grant");
}

/// With a zero grace window, a replay `after` the rotation is a reuse: refused, and the
/// session revoked with it, so the successor is refused too.
async fn zero_grace_replay_is_a_reuse(after: Duration) {
    let h = Harness::with(|b| b.reuse_grace(Duration::ZERO));
    let pair = h.login().await;
    let res = h.refresh(&pair.refresh_token).await;
    assert_eq!(res.status, 200);
    let successor = res.refresh_token();
    h.clock.advance(after);
    h.refresh(&pair.refresh_token)
        .await
        .assert_error(400, "invalid_grant");
    h.refresh(&successor)
        .await
        .assert_error(400, "invalid_grant");
}

/// Even in the very millisecond of the rotation: the clock does not move at all.
#[tokio::test]
async fn a_zero_grace_window_makes_every_replay_a_reuse() {
    zero_grace_replay_is_a_reuse(Duration::ZERO).await;
}

#[tokio::test]
async fn a_zero_grace_window_makes_a_replay_a_millisecond_later_a_reuse() {
    zero_grace_replay_is_a_reuse(Duration::from_millis(1)).await;
}

#[tokio::test]
async fn expiry_slides_with_each_refresh_up_to_the_absolute_lifetime() {
    let day = Duration::from_secs(24 * 3600);
    let h = Harness::with(|b| b.refresh_ttl(7 * day).session_lifetime(10 * day));
    let mut token = h.login().await.refresh_token;
    // Refreshing every 6 days keeps the session alive past the 7-day TTL…
    h.clock.advance(6 * day);
    let res = h.refresh(&token).await;
    assert_eq!(res.status, 200);
    token = res.json()["refreshToken"].as_str().unwrap().to_owned();
    h.clock.advance(3 * day); // day 9 < 6 + 7
    let res = h.refresh(&token).await;
    assert_eq!(res.status, 200);
    token = res.json()["refreshToken"].as_str().unwrap().to_owned();
    // …but not past the absolute lifetime of 10 days.
    h.clock.advance(day);
    h.refresh(&token).await.assert_error(400, "invalid_grant");
}

#[tokio::test]
async fn an_unused_session_expires_after_the_refresh_ttl() {
    let h = Harness::new();
    let pair = h.login().await;
    h.clock.advance(Duration::from_secs(7 * 24 * 3600));
    h.refresh(&pair.refresh_token)
        .await
        .assert_error(400, "invalid_grant");
}

#[tokio::test]
async fn every_failure_of_a_token_gets_one_identical_answer() {
    let h = Harness::new();
    let other = RefreshAuth::<common::Role>::builder()
        .hs256(b"another deployment's secret, 32+ bytes".to_vec())
        .build()
        .unwrap();
    let foreign = other.issue("user1", admin()).await.unwrap().refresh_token;
    let pair = h.login().await;
    let expiring = h.login().await;
    let mut truncated = pair.refresh_token.clone();
    truncated.pop();
    let mut flipped = pair.refresh_token.clone().into_bytes();
    flipped[30] = if flipped[30] == b'A' { b'B' } else { b'A' };
    let calls = h.store.calls();
    let mut bodies = Vec::new();
    for token in [
        foreign,
        truncated,
        String::from_utf8(flipped).unwrap(),
        pair.access_token.clone(),
        "x".repeat(76),
    ] {
        let res = h.refresh(&token).await;
        res.assert_error(400, "invalid_grant");
        bodies.push(res.text());
    }
    // Forged and garbled tokens never reach the store.
    assert_eq!(h.store.calls(), calls);
    // Revoked and expired ones do, and answer the same.
    h.logout(&pair.refresh_token).await;
    let res = h.refresh(&pair.refresh_token).await;
    res.assert_error(400, "invalid_grant");
    bodies.push(res.text());
    // Past the refresh-token lifetime (seven days by default), with no refresh meanwhile.
    h.clock.advance(Duration::from_secs(7 * 24 * 3600 + 1));
    let calls = h.store.calls();
    let res = h.refresh(&expiring.refresh_token).await;
    res.assert_error(400, "invalid_grant");
    assert!(
        h.store.calls() > calls,
        "an expired session is the store's to judge"
    );
    bodies.push(res.text());
    bodies.dedup();
    assert_eq!(bodies.len(), 1, "{bodies:?}");
}

#[tokio::test]
async fn bad_requests_to_the_refresh_route() {
    let h = Harness::new();
    let pair = h.login().await;
    for body in [
        "",
        "{",
        "[]",
        r#"{"refresh_token":"x"}"#,
        r#"{"refreshToken":42}"#,
        r#"{"refreshToken":""}"#,
        r#"{"refreshToken":"a","refreshToken":"b"}"#,
        "\u{feff}{\"refreshToken\":\"x\"}",
    ] {
        h.post_json("/token", body)
            .await
            .assert_error(400, "invalid_request");
    }
    // Extra fields are fine.
    let ok = h
        .post_json(
            "/token",
            &format!(
                r#"{{"refreshToken":"{}","clientId":"web"}}"#,
                pair.refresh_token
            ),
        )
        .await;
    assert_eq!(ok.status, 200);

    for body in [
        "refresh_token=x",
        "grant_type=refresh_token",
        "grant_type=refresh_token&refresh_token=",
    ] {
        h.post_form("/token", body)
            .await
            .assert_error(400, "invalid_request");
    }
    h.post_form(
        "/token",
        "grant_type=refresh_token&grant_type=refresh_token&refresh_token=x",
    )
    .await
    .assert_error(400, "invalid_request");
    h.post_form("/token", "grant_type=password&username=a&password=b")
        .await
        .assert_error(400, "unsupported_grant_type");
}

#[tokio::test]
async fn content_type_size_and_method_are_checked() {
    let h = Harness::new();
    h.post("/token", "text/plain", "{}")
        .await
        .assert_error(415, "invalid_request");
    let res = h
        .send(Request::post("/token").body("{}".to_owned()).unwrap())
        .await;
    res.assert_error(415, "invalid_request");
    // The type's parameters and case do not matter.
    let pair = h.login().await;
    let res = h
        .post(
            "/token",
            "Application/JSON; charset=utf-8",
            &format!(r#"{{"refreshToken":"{}"}}"#, pair.refresh_token),
        )
        .await;
    assert_eq!(res.status, 200);

    let big = format!(r#"{{"refreshToken":"{}"}}"#, "a".repeat(16 * 1024));
    h.post_json("/token", &big)
        .await
        .assert_error(413, "invalid_request");
    // Without a Content-Length the limit holds while reading.
    let req = Request::post("/token")
        .header("content-type", "application/json")
        .body(big.clone())
        .unwrap();
    let (mut parts, body) = req.into_parts();
    parts.headers.remove("content-length");
    let res = h.send(Request::from_parts(parts, body)).await;
    res.assert_error(413, "invalid_request");

    for method in ["GET", "PUT", "DELETE"] {
        let res = h
            .send(
                Request::builder()
                    .method(method)
                    .uri("/token")
                    .body(String::new())
                    .unwrap(),
            )
            .await;
        res.assert_error(405, "invalid_request");
        assert_eq!(res.header("allow"), "POST");
    }
    let res = h
        .send(Request::get("/logout").body(String::new()).unwrap())
        .await;
    res.assert_error(405, "invalid_request");
}

#[tokio::test]
async fn a_store_failure_is_503_and_loses_nothing() {
    let h = Harness::new();
    let pair = h.login().await;
    h.store.set_down(true);
    let res = h.refresh(&pair.refresh_token).await;
    res.assert_error(503, "temporarily_unavailable");
    assert_eq!(res.header("retry-after"), "1");
    let res = h.logout(&pair.refresh_token).await;
    res.assert_error(503, "temporarily_unavailable");
    let err = h.auth.issue("user2", admin()).await.unwrap_err();
    assert_eq!(err.status(), 503);
    // Back up: the very same token still refreshes; nothing was spent or revoked.
    h.store.set_down(false);
    assert_eq!(h.refresh(&pair.refresh_token).await.status, 200);
}

#[tokio::test]
async fn logout_revokes_the_session_and_is_no_oracle() {
    let h = Harness::new();
    let pair = h.login().await;
    let next = h.refresh(&pair.refresh_token).await.json()["refreshToken"]
        .as_str()
        .unwrap()
        .to_owned();
    // An older token of the session is enough to end it.
    let res = h.logout(&pair.refresh_token).await;
    assert_eq!(res.status, 204);
    assert!(res.body.is_empty());
    h.refresh(&next).await.assert_error(400, "invalid_grant");
    // Unknown, garbled or already-revoked tokens get the same answer.
    for token in [next.as_str(), "garbage", pair.access_token.as_str()] {
        assert_eq!(h.logout(token).await.status, 204);
    }
    h.post_json("/logout", "{}")
        .await
        .assert_error(400, "invalid_request");
}

#[tokio::test]
async fn form_logout_follows_rfc_7009() {
    let h = Harness::new();
    let pair = h.login().await;
    let res = h
        .post_form(
            "/logout",
            &format!("token={}&token_type_hint=refresh_token", pair.refresh_token),
        )
        .await;
    assert_eq!(res.status, 200);
    h.refresh(&pair.refresh_token)
        .await
        .assert_error(400, "invalid_grant");
    assert_eq!(h.post_form("/logout", "token=unknown").await.status, 200);
    h.post_form("/logout", "token_type_hint=refresh_token")
        .await
        .assert_error(400, "invalid_request");
}

#[tokio::test]
async fn revoke_subject_logs_a_user_out_everywhere() {
    let h = Harness::new();
    let a = h.login().await;
    let b = h.login().await;
    let other = h.auth.issue("user2", admin()).await.unwrap();
    assert_eq!(h.auth.revoke_subject("user1").await.unwrap(), 2);
    h.refresh(&a.refresh_token)
        .await
        .assert_error(400, "invalid_grant");
    h.refresh(&b.refresh_token)
        .await
        .assert_error(400, "invalid_grant");
    assert_eq!(h.refresh(&other.refresh_token).await.status, 200);
}

#[tokio::test]
async fn paths_are_configurable() {
    let h = Harness::with(|b| b.refresh_path("/auth/refresh").logout_path("/auth/logout"));
    let pair = h.login().await;
    assert_eq!(h.post_json("/token", "{}").await.status, 401);
    let res = h
        .post_json(
            "/auth/refresh",
            &format!(r#"{{"refreshToken":"{}"}}"#, pair.refresh_token),
        )
        .await;
    assert_eq!(res.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_concurrent_refreshes_yield_one_successor() {
    let h = std::sync::Arc::new(Harness::new());
    let pair = h.login().await;
    let tasks: Vec<_> = (0..64)
        .map(|_| {
            let h = h.clone();
            let token = pair.refresh_token.clone();
            tokio::spawn(async move { h.refresh(&token).await })
        })
        .collect();
    let mut successors = std::collections::HashSet::new();
    for task in tasks {
        let res = task.await.unwrap();
        assert_eq!(res.status, 200, "{}", res.text());
        successors.insert(res.json()["refreshToken"].as_str().unwrap().to_owned());
    }
    assert_eq!(successors.len(), 1);
    let successor = successors.into_iter().next().unwrap();
    // Exactly one live successor: it refreshes, and the session moved exactly one step.
    use tower_refresh_auth::store::RefreshStore as _;
    let state = h
        .store
        .inner
        .load(&pair.session_id, common::t0())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(state.counter, 1);
    assert_eq!(h.refresh(&successor).await.status, 200);
}

mod cookie_mode {
    use super::*;

    fn harness() -> Harness {
        Harness::with(|b| b.transport(RefreshTransport::cookie()))
    }

    fn cookie_pair(res: &tower_refresh_auth_test_support::Reply) -> (String, Vec<String>) {
        let cookies: Vec<String> = res
            .headers
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        let token = cookies[0]
            .split(';')
            .next()
            .unwrap()
            .split_once('=')
            .unwrap()
            .1
            .to_owned();
        (token, cookies)
    }

    async fn refresh_with_cookie(
        h: &Harness,
        token: &str,
        csrf: bool,
    ) -> tower_refresh_auth_test_support::Reply {
        let mut req = Request::post("/token").header("cookie", format!("refresh_token={token}"));
        if csrf {
            req = req.header("x-requested-with", "fetch");
        }
        h.send(req.body(String::new()).unwrap()).await
    }

    #[tokio::test]
    async fn login_sets_the_cookie_on_both_paths_and_keeps_it_out_of_the_body() {
        let h = harness();
        let pair = h.login().await;
        let res = h.auth.token_response(&pair);
        let cookies: Vec<_> = res
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        assert_eq!(cookies.len(), 2);
        for (cookie, path) in cookies.iter().zip(["/token", "/logout"]) {
            assert!(
                cookie.starts_with(&format!("refresh_token={}", pair.refresh_token)),
                "{cookie}"
            );
            for attr in [
                "HttpOnly",
                "Secure",
                "SameSite=Strict",
                &format!("Path={path}"),
                "Max-Age=604800",
            ] {
                assert!(cookie.contains(attr), "{cookie} lacks {attr}");
            }
        }
        assert_eq!(res.headers()["cache-control"], "no-store");
    }

    #[tokio::test]
    async fn refresh_reads_the_cookie_and_rotates_it() {
        let h = harness();
        let pair = h.login().await;
        let res = refresh_with_cookie(&h, &pair.refresh_token, true).await;
        assert_eq!(res.status, 200, "{}", res.text());
        let body = res.json();
        assert!(body.get("refreshToken").is_none());
        assert!(body["accessToken"].is_string());
        let (next, cookies) = cookie_pair(&res);
        assert_eq!(cookies.len(), 2);
        assert_ne!(next, pair.refresh_token);
        assert_eq!(refresh_with_cookie(&h, &next, true).await.status, 200);
    }

    #[tokio::test]
    async fn cookie_requests_without_the_csrf_header_are_403() {
        let h = harness();
        let pair = h.login().await;
        refresh_with_cookie(&h, &pair.refresh_token, false)
            .await
            .assert_error(403, "invalid_request");
        let res = h
            .send(
                Request::post("/logout")
                    .header("cookie", format!("refresh_token={}", pair.refresh_token))
                    .body(String::new())
                    .unwrap(),
            )
            .await;
        res.assert_error(403, "invalid_request");
        // Neither touched the session.
        assert_eq!(
            refresh_with_cookie(&h, &pair.refresh_token, true)
                .await
                .status,
            200
        );
    }

    #[tokio::test]
    async fn logout_clears_the_cookie_and_revokes() {
        let h = harness();
        let pair = h.login().await;
        let res = h
            .send(
                Request::post("/logout")
                    .header("cookie", format!("refresh_token={}", pair.refresh_token))
                    .header("x-requested-with", "fetch")
                    .body(String::new())
                    .unwrap(),
            )
            .await;
        assert_eq!(res.status, 204);
        let (value, cookies) = cookie_pair(&res);
        assert_eq!(value, "");
        assert!(
            cookies.iter().all(|c| c.contains("Max-Age=0")),
            "{cookies:?}"
        );
        refresh_with_cookie(&h, &pair.refresh_token, true)
            .await
            .assert_error(400, "invalid_grant");
    }

    #[tokio::test]
    async fn a_missing_cookie_is_invalid_request() {
        let h = harness();
        let res = h
            .send(
                Request::post("/token")
                    .header("x-requested-with", "fetch")
                    .body(String::new())
                    .unwrap(),
            )
            .await;
        res.assert_error(400, "invalid_request");
    }
}
