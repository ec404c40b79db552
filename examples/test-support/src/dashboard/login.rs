//! The login route of a dashboard binary: its checker queue and throttle, the log lines of
//! what clients send, cookie mode's CSRF header, malformed bodies.

use crate::{Answer, Running};

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
