//! `docs/protocol.md` §8: `GET /sessions`, `DELETE /sessions/{id}`, `DELETE /sessions` —
//! statuses, bodies, who may end what, and what an ended session can still do.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Harness, admin};
use http::Request;
use tower_refresh_auth::session::SessionMetadata;
use tower_refresh_auth::{SecurityEvent, TokenPair, events::RevocationReason};

const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0";

fn harness() -> Harness {
    Harness::with(|b| b.sessions_route())
}

async fn login_with(h: &Harness, user: &str, user_agent: Option<&str>) -> TokenPair {
    let metadata = match user_agent {
        Some(ua) => SessionMetadata::new().with_user_agent(ua),
        None => SessionMetadata::new(),
    };
    h.auth.issue_with(user, admin(), metadata).await.unwrap()
}

fn delete(path: &str, bearer: &str) -> Request<String> {
    Request::delete(path)
        .header("authorization", format!("Bearer {bearer}"))
        .body(String::new())
        .unwrap()
}

#[tokio::test]
async fn the_routes_are_off_unless_enabled() {
    let h = Harness::new();
    let pair = h.login().await;
    // An ordinary guarded path: the inner service answers.
    let res = h.get("/sessions", Some(&pair.access_token)).await;
    assert_eq!(res.status, 200);
    assert!(res.text().starts_with("claims sub=user1"), "{}", res.text());
}

#[tokio::test]
async fn get_lists_the_callers_live_sessions_newest_first() {
    let h = Harness::with(|b| b.sessions_route().access_ttl(Duration::from_secs(3600)));
    let old = h
        .auth
        .issue_with(
            "user1",
            admin(),
            SessionMetadata::new()
                .with_user_agent(FIREFOX)
                .with_label("work laptop"),
        )
        .await
        .unwrap();
    h.clock.advance(Duration::from_secs(60));
    let current = login_with(&h, "user1", None).await;
    let other_user = login_with(&h, "user2", Some(FIREFOX)).await;
    h.clock.advance(Duration::from_secs(60));
    let renewed = h.refresh(&old.refresh_token).await;
    assert_eq!(renewed.status, 200);
    let ended = login_with(&h, "user1", None).await;
    assert!(h.auth.revoke_session(&ended.session_id).await.unwrap());

    let res = h.get("/sessions", Some(&current.access_token)).await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.header("content-type"), "application/json");
    assert_eq!(res.header("cache-control"), "no-store");
    let body = res.json();
    let sessions = body["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2, "{body}");
    // t0 = 1_800_000_000 s: 2027-01-15T08:00:00Z.
    assert_eq!(
        sessions[0],
        serde_json::json!({
            "id": current.session_id.to_string(),
            "current": true,
            "createdAt": "2027-01-15T08:01:00Z",
            "lastRefreshedAt": "2027-01-15T08:01:00Z",
            "expiresAt": "2027-01-22T08:01:00Z",
        })
    );
    assert_eq!(
        sessions[1],
        serde_json::json!({
            "id": old.session_id.to_string(),
            "current": false,
            "createdAt": "2027-01-15T08:00:00Z",
            "lastRefreshedAt": "2027-01-15T08:02:00Z",
            "expiresAt": "2027-01-22T08:02:00Z",
            "userAgent": FIREFOX,
            "label": "work laptop",
        })
    );
    assert!(!res.text().contains(&other_user.session_id.to_string()));
    for token in [
        &current.refresh_token,
        &current.access_token,
        &old.refresh_token,
    ] {
        assert!(
            !res.text().contains(token.as_str()),
            "a token in the listing"
        );
    }
}

#[tokio::test]
async fn the_routes_need_a_valid_access_token() {
    let h = harness();
    let pair = h.login().await;
    let none = h.get("/sessions", None).await;
    assert_eq!(none.status, 401);
    assert_eq!(none.header("www-authenticate"), r#"Bearer realm="api""#);
    h.get("/sessions", Some("not.a.token"))
        .await
        .assert_challenge(401, "invalid_token");
    // A refresh token is not an access token.
    h.send(delete("/sessions", &pair.refresh_token))
        .await
        .assert_challenge(401, "invalid_token");
    assert!(
        h.auth.refresh(&pair.refresh_token).await.is_ok(),
        "nothing was ended"
    );
}

#[tokio::test]
async fn delete_one_ends_only_that_session_of_the_caller() {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&events);
    let h = Harness::with(|b| {
        b.sessions_route()
            .on_security_event(move |e: &SecurityEvent| sink.lock().unwrap().push(e.clone()))
    });
    let laptop = h.login().await;
    let phone = h.login().await;

    let res = h
        .send(delete(
            &format!("/sessions/{}", phone.session_id),
            &laptop.access_token,
        ))
        .await;
    assert_eq!(res.status, 204, "{}", res.text());
    h.refresh(&phone.refresh_token)
        .await
        .assert_error(400, "invalid_grant");
    assert_eq!(h.refresh(&laptop.refresh_token).await.status, 200);
    assert_eq!(
        *events.lock().unwrap(),
        [SecurityEvent::SessionRevoked {
            session: phone.session_id,
            subject: Some("user1".into()),
            reason: RevocationReason::Session,
        }]
    );
    // Again: it is gone.
    let again = h
        .send(delete(
            &format!("/sessions/{}", phone.session_id),
            &laptop.access_token,
        ))
        .await;
    assert_eq!(again.status, 404);
}

#[tokio::test]
async fn someone_elses_session_and_an_unknown_one_are_the_same_404() {
    let h = harness();
    let mine = h.login().await;
    let theirs = login_with(&h, "user2", None).await;
    let unknown = tower_refresh_auth::session::SessionId::random();
    let answers: Vec<_> = [
        theirs.session_id.to_string(),
        unknown.to_string(),
        "not-a-session-id".to_owned(),
        String::new(),
    ]
    .into_iter()
    .map(|id| delete(&format!("/sessions/{id}"), &mine.access_token))
    .collect();
    let mut bodies = Vec::new();
    for req in answers {
        let res = h.send(req).await;
        assert_eq!(res.status, 404, "{}", res.text());
        assert_eq!(res.header("cache-control"), "no-store");
        bodies.push((res.text(), res.headers.len()));
    }
    assert!(bodies.windows(2).all(|w| w[0] == w[1]), "{bodies:?}");
    assert_eq!(
        h.refresh(&theirs.refresh_token).await.status,
        200,
        "untouched"
    );
}

#[tokio::test]
async fn delete_all_ends_every_session_of_the_caller_only() {
    let h = harness();
    let a = h.login().await;
    let b = h.login().await;
    let other = login_with(&h, "user2", None).await;
    let res = h.send(delete("/sessions", &a.access_token)).await;
    assert_eq!(res.status, 204, "{}", res.text());
    for pair in [&a, &b] {
        h.refresh(&pair.refresh_token)
            .await
            .assert_error(400, "invalid_grant");
    }
    assert_eq!(h.refresh(&other.refresh_token).await.status, 200);
}

/// With session checking off, an ended session's access token still passes the guard until
/// it expires (one access-token lifetime), but it can no longer list or end sessions.
#[tokio::test]
async fn an_ended_sessions_token_cannot_use_the_routes() {
    let h = harness();
    let laptop = h.login().await;
    let stolen = h.login().await;
    let res = h
        .send(delete(
            &format!("/sessions/{}", stolen.session_id),
            &laptop.access_token,
        ))
        .await;
    assert_eq!(res.status, 204);
    // The guard alone does not consult the store: until it expires.
    assert_eq!(h.get("/api", Some(&stolen.access_token)).await.status, 200);
    h.get("/sessions", Some(&stolen.access_token))
        .await
        .assert_challenge(401, "invalid_token");
    for path in [
        "/sessions".to_owned(),
        format!("/sessions/{}", laptop.session_id),
    ] {
        h.send(delete(&path, &stolen.access_token))
            .await
            .assert_challenge(401, "invalid_token");
    }
    assert_eq!(h.refresh(&laptop.refresh_token).await.status, 200);
    // After one access-token lifetime, the guard refuses it too.
    h.clock.advance(Duration::from_secs(61));
    assert_eq!(h.get("/api", Some(&stolen.access_token)).await.status, 401);
}

#[tokio::test]
async fn other_methods_are_405_with_allow() {
    let h = harness();
    let pair = h.login().await;
    let post = h.post_json("/sessions", "{}").await;
    assert_eq!(post.status, 405);
    assert_eq!(post.header("allow"), "GET, DELETE");
    let get_one = h
        .get(
            &format!("/sessions/{}", pair.session_id),
            Some(&pair.access_token),
        )
        .await;
    assert_eq!(get_one.status, 405);
    assert_eq!(get_one.header("allow"), "DELETE");
}

/// With the access token in a cookie, ending sessions needs the CSRF header (§5).
#[tokio::test]
async fn a_cookie_borne_delete_needs_the_csrf_header() {
    let h = Harness::with(|b| b.sessions_route().access_token_cookie("access"));
    let pair = h.login().await;
    let by_cookie = |csrf: bool| {
        let mut req =
            Request::delete("/sessions").header("cookie", format!("access={}", pair.access_token));
        if csrf {
            req = req.header("x-requested-with", "XMLHttpRequest");
        }
        req.body(String::new()).unwrap()
    };
    h.send(by_cookie(false))
        .await
        .assert_error(403, "invalid_request");
    assert_eq!(
        h.refresh(&pair.refresh_token).await.status,
        200,
        "untouched"
    );
    assert_eq!(h.send(by_cookie(true)).await.status, 204);
}

#[tokio::test]
async fn a_store_failure_is_503() {
    let h = harness();
    let pair = h.login().await;
    h.store.set_down(true);
    h.get("/sessions", Some(&pair.access_token))
        .await
        .assert_error(503, "temporarily_unavailable");
    h.send(delete("/sessions", &pair.access_token))
        .await
        .assert_error(503, "temporarily_unavailable");
}

/// The ids of a listing's page, in order, and its `next`.
fn page_of(res: &tower_refresh_auth_test_support::Reply) -> (Vec<String>, Option<String>) {
    let body = res.json();
    let ids = body["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect();
    (ids, body["next"].as_str().map(str::to_owned))
}

#[tokio::test]
async fn get_lists_a_page_at_a_time_with_a_cursor() {
    let h = Harness::with(|b| {
        b.sessions_route()
            .access_ttl(Duration::from_secs(3600))
            .max_sessions_per_subject(200)
    });
    let mut pairs = Vec::new();
    for _ in 0..7 {
        pairs.push(h.login().await);
        h.clock.advance(Duration::from_secs(1));
    }
    let newest_first: Vec<String> = pairs
        .iter()
        .rev()
        .map(|p| p.session_id.to_string())
        .collect();
    let caller = &pairs[0].access_token;

    let mut seen = Vec::new();
    let mut path = "/sessions?limit=3".to_owned();
    let mut sizes = Vec::new();
    loop {
        let res = h.get(&path, Some(caller)).await;
        assert_eq!(res.status, 200, "{}", res.text());
        let (ids, next) = page_of(&res);
        sizes.push(ids.len());
        seen.extend(ids);
        match next {
            Some(cursor) => path = format!("/sessions?limit=3&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(sizes, [3, 3, 1]);
    assert_eq!(seen, newest_first, "every session once, newest first");

    // Without `?limit=`, a page of 50; a larger `limit` is capped at 100.
    for _ in 0..113 {
        h.login().await;
    }
    let res = h.get("/sessions", Some(caller)).await;
    let (ids, next) = page_of(&res);
    assert_eq!(ids.len(), 50);
    assert!(next.is_some());
    let res = h.get("/sessions?limit=100000", Some(caller)).await;
    assert_eq!(page_of(&res).0.len(), 100);
    // The caller's session is on none of these pages; the listing still answers.
    assert!(!res.text().contains(&pairs[0].session_id.to_string()));

    for bad in [
        "/sessions?limit=0",
        "/sessions?limit=-1",
        "/sessions?limit=ten",
        "/sessions?limit=1&limit=2",
        "/sessions?cursor=nonsense",
        "/sessions?cursor=",
    ] {
        h.get(bad, Some(caller))
            .await
            .assert_error(400, "invalid_request");
    }
}

#[tokio::test]
async fn a_login_past_the_limit_ends_the_oldest_sessions() {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&events);
    let h = Harness::with(|b| {
        b.sessions_route()
            .max_sessions_per_subject(3)
            .on_security_event(move |e: &SecurityEvent| sink.lock().unwrap().push(e.clone()))
    });
    let other = login_with(&h, "user2", None).await;
    let mut pairs = Vec::new();
    for _ in 0..5 {
        pairs.push(h.login().await);
        h.clock.advance(Duration::from_secs(1));
    }
    let want: Vec<_> = pairs[..2]
        .iter()
        .map(|p| SecurityEvent::SessionRevoked {
            session: p.session_id,
            subject: Some("user1".into()),
            reason: RevocationReason::SessionLimit,
        })
        .collect();
    assert_eq!(*events.lock().unwrap(), want);
    for old in &pairs[..2] {
        h.refresh(&old.refresh_token)
            .await
            .assert_error(400, "invalid_grant");
    }
    let listed: Vec<_> = h
        .auth
        .sessions("user1")
        .await
        .unwrap()
        .iter()
        .map(|s| s.id)
        .collect();
    let newest: Vec<_> = pairs[2..].iter().rev().map(|p| p.session_id).collect();
    assert_eq!(listed, newest);
    for pair in &pairs[2..] {
        assert_eq!(h.refresh(&pair.refresh_token).await.status, 200);
    }
    assert_eq!(
        h.refresh(&other.refresh_token).await.status,
        200,
        "another user's"
    );
}
