//! The tests of a built dashboard binary (`axum-dashboard`, `poem-dashboard`): the
//! `listening on` line, a clean exit on SIGTERM and SIGINT, a clear refusal of bad settings,
//! the login's throttle and bounds, the pages' headers, metrics, sessions, key files, the API
//! document. Each is a function of the binary's path; [`dashboard_binary_tests!`](crate::dashboard_binary_tests) makes them
//! the `#[test]`s of the calling package.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

#[cfg(unix)]
use crate::signal;
use crate::{Answer, Running, command, get_root, json_string, start_plain, test_key, wait};

/// The dashboard binary tests as `#[test]`s of the calling package: the binary is
/// `$bin` (`env!("CARGO_BIN_EXE_…")`); the test of a Redis URL expects the store built in when
/// the caller's `redis` feature is on, and the API document's test runs with its `openapi`
/// feature.
#[macro_export]
macro_rules! dashboard_binary_tests {
    ($bin:expr) => {
        $crate::dashboard_binary_tests!(@tests $bin;
            a_login_burst_is_bounded_by_the_checker_queue,
            repeated_failures_for_one_username_are_throttled,
            usernames_are_logged_escaped,
            request_paths_are_logged_escaped,
            a_cross_site_login_is_refused_in_cookie_mode,
            pages_are_served_with_a_content_security_policy,
            malformed_logins_are_refused_with_their_status,
            metrics_are_served_on_metrics_addr_only,
            sessions_are_listed_and_ended_from_another_device,
            with_check_sessions_feed_an_ended_session_is_refused_at_once,
            a_sensitive_action_asks_for_the_password_again_once_the_login_is_old,
            bad_key_files_stop_it_at_start_naming_the_variable_and_the_file,
            a_key_file_alone_starts_with_a_warning_about_the_refresh_secret,
            a_key_file_signs_tokens_that_verify_with_the_published_key_alone,
            without_a_key_file_there_is_no_jwks_route,
        );
        $crate::dashboard_binary_tests!(@introspection $bin;
            introspection_answers_every_state,
            an_expired_token_is_inactive,
            without_introspection_client_there_is_no_route,
        );

        #[cfg(unix)]
        #[test]
        fn serves_and_stops_cleanly_on_sigterm_and_sigint() {
            $crate::dashboard::serves_and_stops_cleanly_on_sigterm_and_sigint($bin);
        }

        #[test]
        fn bad_settings_stop_it_at_start_with_a_clear_message() {
            $crate::dashboard::bad_settings_stop_it_at_start_with_a_clear_message(
                $bin,
                cfg!(feature = "redis"),
            );
        }

        #[cfg(feature = "openapi")]
        #[test]
        fn the_openapi_document_lists_every_route() {
            $crate::dashboard::the_openapi_document_lists_every_route($bin);
        }
    };
    (@introspection $bin:expr; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                $crate::introspection::$name($bin);
            }
        )*
    };
    (@tests $bin:expr; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                $crate::dashboard::$name($bin);
            }
        )*
    };
}

/// The `listening on` line, `GET /` answered, and a clean exit on SIGTERM and on SIGINT.
#[cfg(unix)]
pub fn serves_and_stops_cleanly_on_sigterm_and_sigint(bin: &str) {
    for name in ["TERM", "INT"] {
        let (mut child, addr) = start_plain(bin);
        let response = get_root(&addr);
        assert!(response.starts_with("HTTP/1.1 303"), "{response}");
        assert!(
            response
                .to_ascii_lowercase()
                .contains("location: /login.html")
        );
        signal(&child, name);
        let status = wait(bin, &mut child);
        assert!(status.success(), "SIG{name}: {status}");
    }
}

/// Bad settings stop the server at start, with a message naming the setting on stderr,
/// nothing on stdout and no panic. `redis_built_in`: the caller was built with the Redis store.
pub fn bad_settings_stop_it_at_start_with_a_clear_message(bin: &str, redis_built_in: bool) {
    // A Redis URL: unreachable when the store is built in, else a pointer to the feature.
    let redis = if redis_built_in {
        "session store is unreachable"
    } else {
        "--features redis"
    };
    let cases: &[(&[(&str, &str)], &str)] = &[
        // The library's refusals, its message after the variable.
        (
            &[("JWT_SECRET", "short")],
            "JWT_SECRET: the HS256 secret is 5 bytes",
        ),
        (&[("ACCESS_TOKEN_TTL", "soon")], "ACCESS_TOKEN_TTL=\"soon\""),
        (&[("REFRESH_TOKEN_TTL", "1s")], "reuse grace window"),
        // Once started, then every login panicked on an overflowing instant.
        (
            &[("REFRESH_TOKEN_TTL", "300000000000y")],
            "REFRESH_TOKEN_TTL: ",
        ),
        (&[("SESSION_LIFETIME", "20y")], "SESSION_LIFETIME: "),
        (
            &[("MAX_SESSIONS_PER_USER", "0")],
            "MAX_SESSIONS_PER_USER: `max_sessions_per_subject(0)` is out of bounds",
        ),
        (
            &[("MAX_SESSIONS_PER_USER", "many")],
            "MAX_SESSIONS_PER_USER=\"many\"",
        ),
        (&[("SESSION_LIFETIME", "1h")], "session lifetime"),
        (&[("CHECK_SESSIONS", "maybe")], "CHECK_SESSIONS=\"maybe\""),
        (
            &[("VERIFIED_TOKEN_CACHE", "lots")],
            "VERIFIED_TOKEN_CACHE=\"lots\"",
        ),
        (&[("REFRESH_TRANSPORT", "pigeon")], "REFRESH_TRANSPORT"),
        (&[("STORE_URL", "redis://127.0.0.1:9")], redis),
        (&[("STORE_URL", "mysql://db/app")], "is not a store URL"),
        (&[("PORT", "http")], "PORT=\"http\""),
        (
            &[("METRICS_ADDR", "everywhere")],
            "METRICS_ADDR=\"everywhere\"",
        ),
        (
            &[("REFRESH_TOKEN_SECRET", "short")],
            "REFRESH_TOKEN_SECRET: the refresh-token secret is 5 bytes",
        ),
    ];
    for (vars, expected) in cases {
        let output = command(bin, vars).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{vars:?} was accepted");
        assert!(stderr.contains(expected), "{vars:?}: {stderr}");
        assert!(output.stdout.is_empty(), "{vars:?} printed to stdout");
        assert!(!stderr.contains("panicked"), "{vars:?}: {stderr}");
    }
}

/// A burst of logins past the checker's queue: answered `503` with `Retry-After` at once, not
/// queued; every check let in is answered; a genuine login afterwards is answered `200`.
pub fn a_login_burst_is_bounded_by_the_checker_queue(bin: &str) {
    let server = Running::start(bin, &[]);
    let queue_bound: usize = server
        .log_with("queue_bound=")
        .split("queue_bound=")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no queue_bound in the log: {}", server.log()));
    let burst = 8 * queue_bound + 16;
    let answers: Vec<Answer> = std::thread::scope(|scope| {
        let clients: Vec<_> = (0..burst)
            .map(|i| {
                let server = &server;
                // A name each, so the per-name throttle plays no part.
                scope.spawn(move || server.login(&format!("burst{i}"), "wrong"))
            })
            .collect();
        clients.into_iter().map(|c| c.join().unwrap()).collect()
    });
    let refused: Vec<&Answer> = answers.iter().filter(|a| a.status == 503).collect();
    let checked = answers.iter().filter(|a| a.status == 401).count();
    assert_eq!(refused.len() + checked, burst, "{answers:?}");
    assert!(!refused.is_empty(), "{burst} logins at once, none refused");
    for answer in &refused {
        assert_eq!(answer.header("retry-after"), Some("1"), "{answer:?}");
        assert!(
            answer.body.contains(r#""error":"temporarily_unavailable""#),
            "{answer:?}"
        );
    }
    // A refusal means the queue was full: at least that many checks were let in and answered.
    assert!(
        checked >= queue_bound,
        "{checked} checked, queue of {queue_bound}"
    );
    let genuine = server.login("user1", "password1");
    assert_eq!(genuine.status, 200, "{genuine:?}");
    assert!(genuine.body.contains("accessToken"));
}

/// More than ten failures a minute for one name: `429` with `Retry-After`, even with the right
/// password; another name still logs in.
pub fn repeated_failures_for_one_username_are_throttled(bin: &str) {
    let server = Running::start(bin, &[]);
    for attempt in 1..=10 {
        let answer = server.login("user1", "wrong");
        assert_eq!(answer.status, 401, "attempt {attempt}: {answer:?}");
    }
    let throttled = server.login("user1", "password1");
    assert_eq!(throttled.status, 429, "{throttled:?}");
    assert!(throttled.body.contains(r#""error":"too_many_requests""#));
    let wait: u64 = throttled.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "Retry-After: {wait}");
    assert_eq!(server.login("user2", "password2").status, 200);
}

/// A username with a newline or an ANSI escape cannot forge or colour a log line.
pub fn usernames_are_logged_escaped(bin: &str) {
    let server = Running::start(bin, &[]);
    let forged = "mallory\n2026-01-01T00:00:00Z  INFO admin in \x1b[31mRED";
    assert_eq!(server.login(forged, "wrong").status, 401);
    let long = "x".repeat(500);
    assert_eq!(server.login(&long, "wrong").status, 401);
    let log = server.log_with("username=xxx");
    assert!(
        log.contains(r"mallory\n2026-01-01T00:00:00Z  INFO admin"),
        "{log}"
    );
    assert!(log.contains(r"\u{1b}[31mRED"), "{log}");
    assert!(!log.contains('\x1b'), "a raw escape in the log: {log:?}");
    assert!(
        !log.lines()
            .any(|line| line.starts_with("2026-01-01T00:00:00")),
        "a forged line: {log}"
    );
    assert!(!log.contains(&"x".repeat(65)), "an untruncated name: {log}");
}

/// A request path with raw C1 controls (U+009B, a one-character CSI; U+0085, a next line) and
/// a line separator (U+2028), which the HTTP parser lets through as UTF-8, reaches the log
/// escaped, at every level the request logs are written at (poem's at `INFO`, tower-http's at
/// `DEBUG`); a long path is truncated.
pub fn request_paths_are_logged_escaped(bin: &str) {
    let server = Running::start(bin, &[("RUST_LOG", "debug")]);
    // No space: that would end the request target.
    let forged = "/api/x\u{9b}31mRED\u{85}2026-01-01T00:00:00Z\u{2028}INFO-forged";
    let answer = server.send("GET", forged, &[], "");
    assert_eq!(answer.status, 401, "{answer:?}");
    let long = format!("/api/{}", "y".repeat(1000));
    assert_eq!(server.send("GET", &long, &[], "").status, 401);
    let log = server.log_with("yyyy");
    assert!(
        log.contains(r"/api/x\u{9b}31mRED\u{85}2026"),
        "no escaped path in {log:?}"
    );
    for raw in ['\u{9b}', '\u{85}', '\u{2028}', '\x1b'] {
        assert!(!log.contains(raw), "a raw {raw:?} in the log: {log:?}");
    }
    assert!(log.contains(&"y".repeat(100)), "no long path in {log:?}");
    assert!(
        !log.contains(&"y".repeat(200)),
        "an untruncated path in {log:?}"
    );
}

/// Cookie mode: a cross-site form posting to `/login` cannot send the CSRF header, so it is
/// refused `403` and sets no cookie; the page's own request, with the header, signs in.
pub fn a_cross_site_login_is_refused_in_cookie_mode(bin: &str) {
    let server = Running::start(bin, &[("REFRESH_TRANSPORT", "cookie")]);
    let form = [
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("Origin", "https://attacker.example"),
    ];
    let cross_site = server.send("POST", "/login", &form, "username=user1&password=password1");
    assert_eq!(cross_site.status, 403, "{cross_site:?}");
    assert!(
        cross_site.body.contains(r#""error":"invalid_request""#),
        "{cross_site:?}"
    );
    assert!(cross_site.header("set-cookie").is_none(), "{cross_site:?}");
    let same_site = server.send(
        "POST",
        "/login",
        &[
            ("Content-Type", "application/json"),
            ("X-Requested-With", "XMLHttpRequest"),
        ],
        r#"{"username":"user1","password":"password1"}"#,
    );
    assert_eq!(same_site.status, 200, "{same_site:?}");
    assert!(same_site.header("set-cookie").is_some(), "{same_site:?}");
}

/// The pages: a policy that allows no inline script and no framing, `nosniff`, and their
/// scripts served from files of this origin.
pub fn pages_are_served_with_a_content_security_policy(bin: &str) {
    let server = Running::start(bin, &[]);
    for (page, script) in [
        ("/login.html", "/login.js"),
        ("/dashboard.html", "/dashboard.js"),
    ] {
        let answer = server.send("GET", page, &[], "");
        assert_eq!(answer.status, 200);
        let policy = answer.header("content-security-policy").unwrap();
        assert!(policy.contains("script-src 'self'"), "{policy}");
        let scripts = policy
            .split(';')
            .find(|d| d.trim().starts_with("script-src"));
        assert_eq!(
            scripts.map(str::trim),
            Some("script-src 'self'"),
            "{policy}"
        );
        assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
        assert_eq!(answer.header("x-content-type-options"), Some("nosniff"));
        assert!(
            answer
                .body
                .contains(&format!(r#"<script src="{script}"></script>"#))
        );
        assert!(
            !answer.body.contains("<script>"),
            "an inline script in {page}"
        );
        let js = server.send("GET", script, &[], "");
        assert_eq!(js.status, 200, "{script}");
        assert_eq!(
            js.header("content-type"),
            Some("text/javascript; charset=utf-8")
        );
        assert_eq!(js.header("x-content-type-options"), Some("nosniff"));
    }
}

/// A login body neither JSON nor a form, or without the two fields, or too large: refused
/// with the JSON `invalid_request` of the status that says what is wrong.
pub fn malformed_logins_are_refused_with_their_status(bin: &str) {
    let server = Running::start(bin, &[]);
    let json = ("Content-Type", "application/json");
    let form = ("Content-Type", "application/x-www-form-urlencoded");
    let big = "x".repeat(16 * 1024 + 1);
    for (headers, body, status) in [
        (&[][..], "user1:password1", 415),
        (&[("Content-Type", "text/plain")][..], "user1", 415),
        (&[json][..], "{", 400),
        (&[json][..], r#"{"username":"user1"}"#, 400),
        (&[json][..], r#"{"username":1,"password":"p"}"#, 400),
        (&[form][..], "username=user1", 400),
        (&[json][..], big.as_str(), 413),
    ] {
        let answer = server.send("POST", "/login", headers, body);
        assert_eq!(answer.status, status, "{headers:?} {body:.40}: {answer:?}");
        assert!(
            answer.body.contains(r#""error":"invalid_request""#),
            "{answer:?}"
        );
        assert_eq!(answer.header("cache-control"), Some("no-store"));
    }
    let form_login = server.send(
        "POST",
        "/login",
        &[form],
        "username=user2&password=password2",
    );
    assert_eq!(form_login.status, 200, "{form_login:?}");
}

/// `METRICS_ADDR`: after a race inside the grace window and a replay after it, its
/// `GET /metrics` counts one grace replay, one reuse and one session revoked for `reuse`; the
/// application's own port has no `/metrics` (it is guarded like any path: `401`). The log
/// names the user and the session of the reuse at `warn`, of the grace replay at `debug`.
pub fn metrics_are_served_on_metrics_addr_only(bin: &str) {
    let server = Running::start(
        bin,
        &[
            ("METRICS_ADDR", "127.0.0.1:0"),
            ("REFRESH_REUSE_GRACE", "1s"),
            ("RUST_LOG", "info,dashboard_shared=debug"),
        ],
    );
    let metrics_addr = server
        .log_with("metrics_addr=")
        .split("metrics_addr=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("no metrics_addr in the log: {}", server.log()));
    let json = [("Content-Type", "application/json")];
    let refresh = |token: &str| {
        server.send(
            "POST",
            "/token",
            &json,
            &format!(r#"{{"refreshToken":"{token}"}}"#),
        )
    };
    let field = |answer: &Answer, name: &str| -> String {
        let at = answer.body.find(&format!(r#""{name}":""#)).unwrap() + name.len() + 4;
        answer.body[at..].split('"').next().unwrap().to_owned()
    };

    let login = server.login("user1", "password1");
    assert_eq!(login.status, 200, "{login:?}");
    let first = field(&login, "refreshToken");
    let access = field(&login, "accessToken");
    let api = server.send(
        "GET",
        "/api/dashboard",
        &[("Authorization", &format!("Bearer {access}"))],
        "",
    );
    assert_eq!(api.status, 200, "{api:?}");
    // Two tabs at once: both get the same successor.
    let (a, b) = std::thread::scope(|scope| {
        let a = scope.spawn(|| refresh(&first));
        let b = scope.spawn(|| refresh(&first));
        (a.join().unwrap(), b.join().unwrap())
    });
    assert_eq!((a.status, b.status), (200, 200), "{a:?} {b:?}");
    assert_eq!(field(&a, "refreshToken"), field(&b, "refreshToken"));
    // The spent token again, after the window: a reuse.
    std::thread::sleep(Duration::from_millis(1_200));
    let reused = refresh(&first);
    assert_eq!(reused.status, 400, "{reused:?}");

    // The application's port serves no metrics: `/metrics` is a guarded path like any other.
    let guarded = server.send("GET", "/metrics", &[], "");
    assert_eq!(guarded.status, 401, "{guarded:?}");

    let mut stream = TcpStream::connect(&metrics_addr).unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut scrape = String::new();
    stream.read_to_string(&mut scrape).unwrap();
    let scrape = Answer::parse(&scrape);
    assert_eq!(scrape.status, 200, "{scrape:?}");
    assert!(
        scrape
            .header("content-type")
            .unwrap()
            .starts_with("text/plain"),
        "{scrape:?}"
    );
    if let Ok(path) = std::env::var("SCRAPE_TO") {
        std::fs::write(path, &scrape.body).unwrap();
    }
    let value = |series: &str| -> Option<f64> {
        scrape.body.lines().find_map(|line| {
            let rest = line.strip_prefix(series)?;
            rest.strip_prefix(' ')?.trim().parse().ok()
        })
    };
    for (series, expected) in [
        ("refresh_auth_sessions_started_total", 1.0),
        (r#"refresh_auth_refreshes_total{outcome="rotated"}"#, 1.0),
        (
            r#"refresh_auth_refreshes_total{outcome="grace_replay"}"#,
            1.0,
        ),
        (
            r#"refresh_auth_refreshes_total{outcome="reuse_revoked"}"#,
            1.0,
        ),
        (
            r#"refresh_auth_sessions_revoked_total{reason="reuse"}"#,
            1.0,
        ),
        (r#"refresh_auth_verifications_total{outcome="ok"}"#, 1.0),
        // The login (a public path) and the app's `/metrics`, both without a token.
        (
            r#"refresh_auth_verifications_total{outcome="missing"}"#,
            2.0,
        ),
        (
            r#"refresh_auth_store_duration_seconds_count{op="rotate"}"#,
            3.0,
        ),
        (
            r#"refresh_auth_store_duration_seconds_count{op="create"}"#,
            1.0,
        ),
    ] {
        assert_eq!(
            value(series),
            Some(expected),
            "{series} in\n{}",
            scrape.body
        );
    }
    assert!(value(r#"refresh_auth_refreshes_total{outcome="invalid_grant"}"#).is_none());
    assert!(
        scrape
            .body
            .contains(r#"refresh_auth_store_duration_seconds_bucket{op="rotate",le="#),
        "a histogram, not a summary:\n{}",
        scrape.body
    );

    // The metrics listener serves nothing else.
    let mut stream = TcpStream::connect(&metrics_addr).unwrap();
    stream
        .write_all(b"GET /dashboard HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut other = String::new();
    stream.read_to_string(&mut other).unwrap();
    assert_eq!(Answer::parse(&other).status, 404, "{other}");

    let log = server.log_with("replayed after the grace window");
    let warn = log
        .lines()
        .find(|l| l.contains("WARN") && l.contains("replayed after the grace window"))
        .unwrap_or_else(|| panic!("no reuse warning in\n{log}"));
    assert!(
        warn.contains("user=user1") && warn.contains("session="),
        "{warn}"
    );
    let debug = log
        .lines()
        .find(|l| l.contains("DEBUG") && l.contains("replayed inside the grace window"))
        .unwrap_or_else(|| panic!("no grace replay at debug in\n{log}"));
    assert!(debug.contains("user=user1"), "{debug}");
    for token in [&first, &access] {
        assert!(!log.contains(token.as_str()), "a token in the log:\n{log}");
    }
}

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

/// A key file that cannot sign stops the server at start: the message names the variable,
/// the file and what is wrong with it, and shows nothing the file holds.
pub fn bad_key_files_stop_it_at_start_naming_the_variable_and_the_file(bin: &str) {
    for (file, problem) in [
        ("missing.pem", "cannot be read"),
        ("README.md", "not a private key"),
        ("cert.pem", "certificate"),
        ("es256.pub.pem", "a public key"),
        ("p521.pem", "P-521 is not supported"),
    ] {
        let path = test_key(file);
        let output = command(bin, &[("JWT_PRIVATE_KEY_FILE", &path)])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{file} was accepted");
        assert!(
            stderr.contains(&format!("JWT_PRIVATE_KEY_FILE: {path}: ")),
            "{file}: {stderr}"
        );
        assert!(stderr.contains(problem), "{file}: {stderr}");
        assert!(output.stdout.is_empty(), "{file} printed to stdout");
        if let Ok(text) = std::fs::read_to_string(&path) {
            for line in text
                .lines()
                .filter(|l| l.len() > 16 && !l.starts_with("-----"))
            {
                assert!(!stderr.contains(line), "{file}: key material in {stderr}");
            }
        }
    }
}

/// With `JWT_PRIVATE_KEY_FILE` alone the server starts, warning that refresh tokens die with
/// it: no `REFRESH_TOKEN_SECRET` (nor `JWT_SECRET`) to key them with across restarts.
pub fn a_key_file_alone_starts_with_a_warning_about_the_refresh_secret(bin: &str) {
    let es256 = test_key("es256.pem");
    let mut child = command(bin, &[("PORT", "0"), ("JWT_PRIVATE_KEY_FILE", &es256)])
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(
        line.starts_with("listening on http://"),
        "{line:?}; {stderr}"
    );
    assert!(stderr.contains("REFRESH_TOKEN_SECRET"), "{stderr}");
    assert!(!stderr.contains("JWT_SECRET is unset"), "{stderr}");
}

/// `JWT_PRIVATE_KEY_FILE`: the access token verifies with `jsonwebtoken` given only the JWK
/// fetched from `/.well-known/jwks.json`, which carries no private parameter and may be
/// cached; `/token` still rotates the refresh token.
pub fn a_key_file_signs_tokens_that_verify_with_the_published_key_alone(bin: &str) {
    let es256 = test_key("es256.pem");
    let server = Running::start(
        bin,
        &[
            ("JWT_PRIVATE_KEY_FILE", &es256),
            (
                "REFRESH_TOKEN_SECRET",
                "a refresh-token secret of 32+ bytes",
            ),
        ],
    );
    let login = server.login("user1", "password1");
    assert_eq!(login.status, 200, "{login:?}");
    let pair: serde_json::Value = serde_json::from_str(&login.body).unwrap();
    let access = pair["accessToken"].as_str().unwrap();

    let jwks = server.send("GET", "/.well-known/jwks.json", &[], "");
    assert_eq!(jwks.status, 200, "{jwks:?}");
    assert_eq!(jwks.header("content-type"), Some("application/json"));
    let max_age: u64 = jwks
        .header("cache-control")
        .and_then(|v| v.strip_prefix("public, max-age="))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{jwks:?}"));
    assert!(max_age > 0, "{jwks:?}");
    let set: serde_json::Value = serde_json::from_str(&jwks.body).unwrap();
    let [jwk] = set["keys"].as_array().unwrap().as_slice() else {
        panic!("one key expected: {set}");
    };
    for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
        assert!(jwk.get(private).is_none(), "{private} in {jwk}");
    }
    assert_eq!(jwk["kty"], "EC", "{jwk}");
    assert_eq!(jwk["crv"], "P-256", "{jwk}");
    assert_eq!(jwk["alg"], "ES256", "{jwk}");

    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwk.clone()).unwrap();
    let header = jsonwebtoken::decode_header(access).unwrap();
    assert_eq!(header.kid.as_ref(), jwk.common.key_id.as_ref());
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.set_required_spec_claims(&["exp", "sub"]);
    let claims = jsonwebtoken::decode::<serde_json::Value>(
        access,
        &jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap(),
        &validation,
    )
    .unwrap()
    .claims;
    assert_eq!(claims["sub"], "user1");
    // A foreign key's JWK does not verify it: the check above could fail.
    let foreign = jsonwebtoken::EncodingKey::from_ec_pem(
        &std::fs::read(test_key("foreign-es256.pem")).unwrap(),
    )
    .unwrap();
    let foreign =
        jsonwebtoken::jwk::Jwk::from_encoding_key(&foreign, jsonwebtoken::Algorithm::ES256)
            .unwrap();
    assert!(
        jsonwebtoken::decode::<serde_json::Value>(
            access,
            &jsonwebtoken::DecodingKey::from_jwk(&foreign).unwrap(),
            &validation,
        )
        .is_err()
    );

    // The API takes the token; /token rotates under the refresh secret.
    let bearer = format!("Bearer {access}");
    let api = server.send("GET", "/api/dashboard", &[("Authorization", &bearer)], "");
    assert_eq!(api.status, 200, "{api:?}");
    let spent = pair["refreshToken"].as_str().unwrap();
    let body = format!(r#"{{"refreshToken":{}}}"#, json_string(spent));
    let refreshed = server.send(
        "POST",
        "/token",
        &[("Content-Type", "application/json")],
        &body,
    );
    assert_eq!(refreshed.status, 200, "{refreshed:?}");
    let next: serde_json::Value = serde_json::from_str(&refreshed.body).unwrap();
    assert_ne!(next["refreshToken"], pair["refreshToken"]);
    let next_access = next["accessToken"].as_str().unwrap();
    assert!(
        jsonwebtoken::decode::<serde_json::Value>(
            next_access,
            &jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap(),
            &validation,
        )
        .is_ok()
    );
}

/// Without a key file there is nothing to publish: no JWKS route, the path is guarded.
pub fn without_a_key_file_there_is_no_jwks_route(bin: &str) {
    let server = Running::start(bin, &[]);
    let jwks = server.send("GET", "/.well-known/jwks.json", &[], "");
    assert_eq!(jwks.status, 401, "{jwks:?}");
}

/// Feature `openapi`: `GET /openapi.json`, public, lists the application's routes and the
/// layer's (the JWKS route with a key file), the bearer scheme on `/api/dashboard`, and every
/// `$ref` in it resolves.
pub fn the_openapi_document_lists_every_route(bin: &str) {
    let es256 = test_key("es256.pem");
    let server = Running::start(bin, &[("JWT_PRIVATE_KEY_FILE", &es256)]);
    let answer = server.send("GET", "/openapi.json", &[], "");
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.header("content-type"), Some("application/json"));
    let doc: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    for (path, method) in [
        ("/token", "post"),
        ("/logout", "post"),
        ("/.well-known/jwks.json", "get"),
        ("/login", "post"),
        ("/api/dashboard", "get"),
        ("/api/sensitive", "post"),
        ("/reauth", "post"),
    ] {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} missing: {doc}"
        );
    }
    let scheme = &doc["components"]["securitySchemes"]["bearerAuth"];
    assert_eq!(scheme["type"], "http", "{scheme}");
    assert_eq!(scheme["scheme"], "bearer", "{scheme}");
    assert_eq!(
        doc["paths"]["/api/dashboard"]["get"]["security"],
        serde_json::json!([{ "bearerAuth": [] }])
    );
    // Every reference names a component the document has.
    fn refs<'a>(value: &'a serde_json::Value, out: &mut Vec<&'a str>) {
        match value {
            serde_json::Value::Object(map) => {
                if let Some(serde_json::Value::String(target)) = map.get("$ref") {
                    out.push(target);
                }
                map.values().for_each(|v| refs(v, out));
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let mut found = Vec::new();
    refs(&doc, &mut found);
    assert!(found.len() > 10, "{found:?}");
    for target in found {
        let pointer = target
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("{target}"));
        assert!(doc.pointer(pointer).is_some(), "{target} does not resolve");
    }
    // Without a key file, no JWKS route to describe.
    let hs = Running::start(bin, &[]);
    let doc: serde_json::Value =
        serde_json::from_str(&hs.send("GET", "/openapi.json", &[], "").body).unwrap();
    assert!(
        doc["paths"].get("/.well-known/jwks.json").is_none(),
        "{doc}"
    );
    assert!(doc["paths"]["/login"]["post"].is_object());
}
