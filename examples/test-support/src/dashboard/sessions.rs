//! Sessions on a dashboard binary: listed and ended from another device, refused at once
//! with `CHECK_SESSIONS=feed`, and the step-up of a sensitive action.

use std::time::Duration;

use crate::{Answer, Running, json_string};

/// §8 on the example: a login records its user agent; `GET /sessions` lists both devices
/// with this one marked; ending the other from here logs it out.
pub fn sessions_are_listed_and_ended_from_another_device(bin: &str) {
    let server = Running::start(bin, &[]);
    let login = |agent: &str| {
        server.send(
            "POST",
            "/login",
            &[("Content-Type", "application/json"), ("User-Agent", agent)],
            r#"{"username":"user1","password":"password1"}"#,
        )
    };
    let field = |answer: &Answer, name: &str| -> String {
        let at = answer.body.find(&format!(r#""{name}":""#)).unwrap() + name.len() + 4;
        answer.body[at..].split('"').next().unwrap().to_owned()
    };
    let laptop = login("Laptop/1.0");
    let phone = login("Phone/2.0");
    assert_eq!((laptop.status, phone.status), (200, 200));
    let bearer = format!("Bearer {}", field(&laptop, "accessToken"));
    let auth = [("Authorization", bearer.as_str())];

    let listed = server.send("GET", "/sessions", &auth, "");
    assert_eq!(listed.status, 200, "{listed:?}");
    assert_eq!(listed.header("cache-control"), Some("no-store"));
    assert!(
        listed.body.contains(r#""userAgent":"Laptop/1.0""#),
        "{listed:?}"
    );
    assert!(
        listed.body.contains(r#""userAgent":"Phone/2.0""#),
        "{listed:?}"
    );
    assert_eq!(
        listed.body.matches(r#""current":true"#).count(),
        1,
        "{listed:?}"
    );
    // The phone's id: the entry with its user agent.
    let entry = listed
        .body
        .split('{')
        .find(|e| e.contains("Phone/2.0"))
        .unwrap();
    let id = entry
        .split(r#""id":""#)
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    assert!(entry.contains(r#""current":false"#), "{entry}");

    let ended = server.send("DELETE", &format!("/sessions/{id}"), &auth, "");
    assert_eq!(ended.status, 204, "{ended:?}");
    let body = format!(r#"{{"refreshToken":"{}"}}"#, field(&phone, "refreshToken"));
    let refused = server.send(
        "POST",
        "/token",
        &[("Content-Type", "application/json")],
        &body,
    );
    assert_eq!(refused.status, 400, "{refused:?}");
    let again = server.send("DELETE", &format!("/sessions/{id}"), &auth, "");
    assert_eq!(again.status, 404, "{again:?}");
    let listed = server.send("GET", "/sessions", &auth, "");
    assert!(!listed.body.contains("Phone/2.0"), "{listed:?}");
}

/// `CHECK_SESSIONS=feed` (docs/protocol.md §14): a session ended from another device, and a
/// logged-out one, have their access tokens refused at the next request, while the others'
/// go on.
pub fn with_check_sessions_feed_an_ended_session_is_refused_at_once(bin: &str) {
    let server = Running::start(bin, &[("CHECK_SESSIONS", "feed")]);
    let login = || {
        let answer = server.send(
            "POST",
            "/login",
            &[("Content-Type", "application/json")],
            r#"{"username":"user1","password":"password1"}"#,
        );
        assert_eq!(answer.status, 200, "{answer:?}");
        answer
    };
    let (laptop, phone, tablet) = (login(), login(), login());
    let bearer = |answer: &Answer| format!("Bearer {}", json_field(&answer.body, "accessToken"));
    let dashboard = |answer: &Answer| {
        let bearer = bearer(answer);
        server
            .send("GET", "/api/dashboard", &[("Authorization", &bearer)], "")
            .status
    };
    assert_eq!((dashboard(&laptop), dashboard(&phone)), (200, 200));

    // The phone's session id: the current one of its own listing.
    let phone_bearer = bearer(&phone);
    let listed = server.send("GET", "/sessions", &[("Authorization", &phone_bearer)], "");
    let entry = listed
        .body
        .split('{')
        .find(|e| e.contains(r#""current":true"#))
        .unwrap_or_else(|| panic!("no current session in {listed:?}"));
    let sid = json_field(entry, "id");
    let laptop_bearer = bearer(&laptop);
    let ended = server.send(
        "DELETE",
        &format!("/sessions/{sid}"),
        &[("Authorization", &laptop_bearer)],
        "",
    );
    assert_eq!(ended.status, 204, "{ended:?}");
    assert_eq!(dashboard(&phone), 401, "the ended session's token");

    let body = format!(
        r#"{{"refreshToken":"{}"}}"#,
        json_field(&tablet.body, "refreshToken")
    );
    let out = server.send(
        "POST",
        "/logout",
        &[("Content-Type", "application/json")],
        &body,
    );
    assert_eq!(out.status, 204, "{out:?}");
    assert_eq!(dashboard(&tablet), 401, "the logged-out session's token");
    assert_eq!(dashboard(&laptop), 200, "the other session goes on");
}

/// The string value of the JSON field `name` in `body` (our servers' compact JSON).
fn json_field(body: &str, name: &str) -> String {
    let needle = format!(r#""{name}":""#);
    let at = body
        .find(&needle)
        .unwrap_or_else(|| panic!("no {name} in {body}"))
        + needle.len();
    body[at..].split('"').next().unwrap().to_owned()
}

/// The claims of an access token the server signed with [`SECRET`](crate::SECRET).
fn claims_of(access_token: &str) -> serde_json::Value {
    use jsonwebtoken::{Algorithm, DecodingKey, Validation};
    let mut validation = Validation::new(Algorithm::HS256);
    validation.validate_aud = false;
    let key = DecodingKey::from_secret(crate::SECRET.as_bytes()).unwrap();
    jsonwebtoken::decode::<serde_json::Value>(access_token, &key, &validation)
        .unwrap()
        .claims
}

/// §15 on the example, `STEP_UP_MAX_AGE=1s`: a fresh login does the sensitive action; an
/// older one gets the RFC 9470 challenge; the password typed again (a wrong one refused like
/// a wrong login) gives a new pair for the same session, which does it again; the session
/// list still shows one session; and failed confirmations are throttled like logins.
pub fn a_sensitive_action_asks_for_the_password_again_once_the_login_is_old(bin: &str) {
    let server = Running::start(bin, &[("STEP_UP_MAX_AGE", "1s")]);
    let login = server.login("user1", "password1");
    assert_eq!(login.status, 200, "{login:?}");
    let access = json_field(&login.body, "accessToken");
    let bearer = format!("Bearer {access}");
    let sensitive =
        |bearer: &str| server.send("POST", "/api/sensitive", &[("Authorization", bearer)], "");
    let done = sensitive(&bearer);
    assert_eq!(done.status, 200, "{done:?}");
    assert_eq!(done.body, r#"{"ok":true}"#);
    assert_eq!(done.header("cache-control"), Some("no-store"));

    // More than a second after the login (auth_time is whole seconds).
    std::thread::sleep(Duration::from_millis(2100));
    let refused = sensitive(&bearer);
    assert_eq!(refused.status, 401, "{refused:?}");
    assert_eq!(
        refused.header("www-authenticate"),
        Some(
            "Bearer realm=\"api\", error=\"insufficient_user_authentication\", \
             error_description=\"the login is older than this request allows\", max_age=1"
        )
    );
    assert!(
        refused
            .body
            .contains(r#""error":"insufficient_user_authentication""#),
        "{refused:?}"
    );

    let reauth = |bearer: &str, password: &str| {
        server.send(
            "POST",
            "/reauth",
            &[
                ("Authorization", bearer),
                ("Content-Type", "application/json"),
            ],
            &format!(r#"{{"password":{}}}"#, json_string(password)),
        )
    };
    // Only with a token: the route is guarded.
    let anonymous = server.send(
        "POST",
        "/reauth",
        &[("Content-Type", "application/json")],
        "{}",
    );
    assert_eq!(anonymous.status, 401, "{anonymous:?}");
    let wrong = reauth(&bearer, "password2");
    assert_eq!(wrong.status, 401, "{wrong:?}");
    assert!(
        wrong.body.contains(r#""error":"invalid_credentials""#),
        "{wrong:?}"
    );
    assert_eq!(wrong.header("www-authenticate"), None);
    let malformed = server.send(
        "POST",
        "/reauth",
        &[
            ("Authorization", &bearer),
            ("Content-Type", "application/json"),
        ],
        r#"{"pass":"word"}"#,
    );
    assert_eq!(malformed.status, 400, "{malformed:?}");

    let confirmed = reauth(&bearer, "password1");
    assert_eq!(confirmed.status, 200, "{confirmed:?}");
    assert_eq!(confirmed.header("cache-control"), Some("no-store"));
    let fresh = json_field(&confirmed.body, "accessToken");
    let (before, after) = (claims_of(&access), claims_of(&fresh));
    assert_eq!(after["sid"], before["sid"], "the same session");
    assert!(after["auth_time"].as_u64() > before["auth_time"].as_u64());
    assert_eq!(after["amr"], serde_json::json!(["pwd"]));
    assert_ne!(
        json_field(&confirmed.body, "refreshToken"),
        json_field(&login.body, "refreshToken")
    );
    let fresh_bearer = format!("Bearer {fresh}");
    assert_eq!(sensitive(&fresh_bearer).status, 200);
    let listed = server.send("GET", "/sessions", &[("Authorization", &fresh_bearer)], "");
    assert_eq!(listed.body.matches(r#""id":""#).count(), 1, "{listed:?}");

    // Failed confirmations count with failed logins for the user (one wrong one so far).
    for attempt in 2..=10 {
        assert_eq!(
            reauth(&fresh_bearer, "wrong").status,
            401,
            "attempt {attempt}"
        );
    }
    let throttled = reauth(&fresh_bearer, "password1");
    assert_eq!(throttled.status, 429, "{throttled:?}");
    assert!(throttled.header("retry-after").is_some());
    assert_eq!(server.login("user1", "password1").status, 429);
}
