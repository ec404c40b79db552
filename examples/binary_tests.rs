// The tests of a built example binary, shared by `axum-dashboard` and `poem-dashboard`:
// each includes this file from its `tests/binary.rs` after defining `BIN`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

const SECRET: &str = "an example secret of at least 32 bytes";

fn server(vars: &[(&str, &str)]) -> Command {
    program(BIN, vars)
}

/// The program `bin`, with the test's settings only.
fn program(bin: &str, vars: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(bin);
    for var in [
        "HOST",
        "PORT",
        "JWT_SECRET",
        "ACCESS_TOKEN_TTL",
        "REFRESH_TOKEN_TTL",
        "REFRESH_REUSE_GRACE",
        "STORE_URL",
        "REFRESH_TRANSPORT",
        "SESSION_LIFETIME",
        "CHECK_SESSIONS",
        "VERIFIED_TOKEN_CACHE",
        "METRICS_ADDR",
        "JWT_PRIVATE_KEY_FILE",
        "REFRESH_TOKEN_SECRET",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("RUST_LOG", "warn")
        .envs(vars.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

fn wait(child: &mut Child) -> ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("{BIN} did not exit within 10 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Starts the server on a free port; returns it and the address from its `listening on` line.
fn start() -> (Child, String) {
    let mut child = server(&[("PORT", "0"), ("JWT_SECRET", SECRET)]).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .strip_prefix("listening on http://127.0.0.1:")
        .and_then(|port| port.trim_end().parse::<u16>().ok())
        .map(|port| format!("127.0.0.1:{port}"));
    match addr {
        Some(addr) => (child, addr),
        None => {
            let _ = child.kill();
            let mut stderr = String::new();
            let _ = child.stderr.take().unwrap().read_to_string(&mut stderr);
            panic!("expected `listening on http://127.0.0.1:PORT`, got {line:?}; stderr: {stderr}");
        }
    }
}

fn get_root(addr: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

#[cfg(unix)]
fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

#[cfg(unix)]
#[test]
fn serves_and_stops_cleanly_on_sigterm_and_sigint() {
    for name in ["TERM", "INT"] {
        let (mut child, addr) = start();
        let response = get_root(&addr);
        assert!(response.starts_with("HTTP/1.1 303"), "{response}");
        assert!(response.to_ascii_lowercase().contains("location: /login.html"));
        signal(&child, name);
        let status = wait(&mut child);
        assert!(status.success(), "SIG{name}: {status}");
    }
}

#[test]
fn bad_settings_stop_it_at_start_with_a_clear_message() {
    // A Redis URL: unreachable when the store is built in, else a pointer to the feature.
    let redis = if cfg!(feature = "redis") {
        "session store is unreachable"
    } else {
        "--features redis"
    };
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("JWT_SECRET", "short")], "JWT_SECRET is 5 bytes"),
        (&[("ACCESS_TOKEN_TTL", "soon")], "ACCESS_TOKEN_TTL=\"soon\""),
        (&[("REFRESH_TOKEN_TTL", "1s")], "reuse grace window"),
        // Once started, then every login panicked on an overflowing instant.
        (&[("REFRESH_TOKEN_TTL", "300000000000y")], "REFRESH_TOKEN_TTL="),
        (&[("SESSION_LIFETIME", "20y")], "SESSION_LIFETIME="),
        (&[("SESSION_LIFETIME", "1h")], "session lifetime"),
        (&[("CHECK_SESSIONS", "maybe")], "CHECK_SESSIONS=\"maybe\""),
        (&[("VERIFIED_TOKEN_CACHE", "lots")], "VERIFIED_TOKEN_CACHE=\"lots\""),
        (&[("REFRESH_TRANSPORT", "pigeon")], "REFRESH_TRANSPORT"),
        (&[("STORE_URL", "redis://127.0.0.1:9")], redis),
        (&[("STORE_URL", "mysql://db/app")], "is not a store URL"),
        (&[("PORT", "http")], "PORT=\"http\""),
        (&[("METRICS_ADDR", "everywhere")], "METRICS_ADDR=\"everywhere\""),
        (&[("REFRESH_TOKEN_SECRET", "short")], "REFRESH_TOKEN_SECRET is 5 bytes"),
    ];
    for (vars, expected) in cases {
        let output = server(vars).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{vars:?} was accepted");
        assert!(stderr.contains(expected), "{vars:?}: {stderr}");
        assert!(output.stdout.is_empty(), "{vars:?} printed to stdout");
        assert!(!stderr.contains("panicked"), "{vars:?}: {stderr}");
    }
}

/// A server started by a test: its address, and its stderr (the log) read as it comes.
struct Running {
    child: Child,
    addr: String,
    log: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Running {
    fn start(vars: &[(&str, &str)]) -> Self {
        Self::start_program(BIN, vars)
    }

    fn start_program(bin: &str, vars: &[(&str, &str)]) -> Self {
        let mut all = vec![("PORT", "0"), ("JWT_SECRET", SECRET), ("RUST_LOG", "info")];
        all.extend_from_slice(vars);
        let mut child = program(bin, &all).spawn().unwrap();
        let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let stderr = child.stderr.take().unwrap();
        let sink = std::sync::Arc::clone(&log);
        // Drained all along, so a busy log never blocks the server on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let Some(port) = line
            .strip_prefix("listening on http://127.0.0.1:")
            .and_then(|port| port.trim_end().parse::<u16>().ok())
        else {
            let _ = child.kill();
            panic!("expected `listening on http://127.0.0.1:PORT`, got {line:?}");
        };
        Self {
            child,
            addr: format!("127.0.0.1:{port}"),
            log,
        }
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// The log once it contains `text` (within 5 s).
    fn log_with(&self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let log = self.log();
            if log.contains(text) || Instant::now() > deadline {
                return log;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends one request (`Connection: close`) and reads the whole answer.
    fn send(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Answer {
        let mut stream = TcpStream::connect(&self.addr).unwrap();
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        request.push_str(body);
        stream.write_all(request.as_bytes()).unwrap();
        // A server that refuses a body early may reset the connection after its answer:
        // keep what was read.
        let mut response = Vec::new();
        let _ = stream.read_to_end(&mut response);
        Answer::parse(&String::from_utf8_lossy(&response))
    }

    fn login(&self, username: &str, password: &str) -> Answer {
        let body = format!(
            r#"{{"username":{},"password":{}}}"#,
            json_string(username),
            json_string(password)
        );
        self.send(
            "POST",
            "/login",
            &[("Content-Type", "application/json")],
            &body,
        )
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A JSON string literal of `s`.
fn json_string(s: &str) -> String {
    let mut out = String::from('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[derive(Debug)]
struct Answer {
    status: u16,
    /// Lower-cased names, in order.
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn parse(response: &str) -> Self {
        let (head, body) = response.split_once("\r\n\r\n").unwrap_or((response, ""));
        let mut lines = head.lines();
        let status = lines
            .next()
            .and_then(|line| line.split(' ').nth(1))
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("no status line in {response:?}"));
        let headers = lines
            .filter_map(|line| line.split_once(':'))
            .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
            .collect();
        Self {
            status,
            headers,
            body: body.to_owned(),
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A burst of logins past the checker's queue: answered `503` with `Retry-After` at once, not
/// queued; every check let in is answered; a genuine login afterwards is answered `200`.
#[test]
fn a_login_burst_is_bounded_by_the_checker_queue() {
    let server = Running::start(&[]);
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
        assert!(answer.body.contains(r#""error":"temporarily_unavailable""#), "{answer:?}");
    }
    // A refusal means the queue was full: at least that many checks were let in and answered.
    assert!(checked >= queue_bound, "{checked} checked, queue of {queue_bound}");
    let genuine = server.login("user1", "password1");
    assert_eq!(genuine.status, 200, "{genuine:?}");
    assert!(genuine.body.contains("accessToken"));
}

/// More than ten failures a minute for one name: `429` with `Retry-After`, even with the right
/// password; another name still logs in.
#[test]
fn repeated_failures_for_one_username_are_throttled() {
    let server = Running::start(&[]);
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
#[test]
fn usernames_are_logged_escaped() {
    let server = Running::start(&[]);
    let forged = "mallory\n2026-01-01T00:00:00Z  INFO admin in \x1b[31mRED";
    assert_eq!(server.login(forged, "wrong").status, 401);
    let long = "x".repeat(500);
    assert_eq!(server.login(&long, "wrong").status, 401);
    let log = server.log_with("username=xxx");
    assert!(log.contains(r"mallory\n2026-01-01T00:00:00Z  INFO admin"), "{log}");
    assert!(log.contains(r"\u{1b}[31mRED"), "{log}");
    assert!(!log.contains('\x1b'), "a raw escape in the log: {log:?}");
    assert!(
        !log.lines().any(|line| line.starts_with("2026-01-01T00:00:00")),
        "a forged line: {log}"
    );
    assert!(!log.contains(&"x".repeat(65)), "an untruncated name: {log}");
}

/// Cookie mode: a cross-site form posting to `/login` cannot send the CSRF header, so it is
/// refused `403` and sets no cookie; the page's own request, with the header, signs in.
#[test]
fn a_cross_site_login_is_refused_in_cookie_mode() {
    let server = Running::start(&[("REFRESH_TRANSPORT", "cookie")]);
    let form = [
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("Origin", "https://attacker.example"),
    ];
    let cross_site = server.send("POST", "/login", &form, "username=user1&password=password1");
    assert_eq!(cross_site.status, 403, "{cross_site:?}");
    assert!(cross_site.body.contains(r#""error":"invalid_request""#), "{cross_site:?}");
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
#[test]
fn pages_are_served_with_a_content_security_policy() {
    let server = Running::start(&[]);
    for (page, script) in [("/login.html", "/login.js"), ("/dashboard.html", "/dashboard.js")] {
        let answer = server.send("GET", page, &[], "");
        assert_eq!(answer.status, 200);
        let policy = answer.header("content-security-policy").unwrap();
        assert!(policy.contains("script-src 'self'"), "{policy}");
        let scripts = policy.split(';').find(|d| d.trim().starts_with("script-src"));
        assert_eq!(scripts.map(str::trim), Some("script-src 'self'"), "{policy}");
        assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
        assert_eq!(answer.header("x-content-type-options"), Some("nosniff"));
        assert!(answer.body.contains(&format!(r#"<script src="{script}"></script>"#)));
        assert!(!answer.body.contains("<script>"), "an inline script in {page}");
        let js = server.send("GET", script, &[], "");
        assert_eq!(js.status, 200, "{script}");
        assert_eq!(js.header("content-type"), Some("text/javascript; charset=utf-8"));
        assert_eq!(js.header("x-content-type-options"), Some("nosniff"));
    }
}

/// The `*-dashboard-ceiling` program, loadtest/run.sh's ceiling: the dashboard's API route and
/// handler with the real route's headers but no authentication, said so on stderr; nothing
/// else is served; and bound off loopback it refuses to start.
#[test]
fn the_load_test_ceiling_serves_the_dashboard_route_only_on_loopback() {
    let ceiling = Running::start_program(CEILING_BIN, &[]);
    let answer = ceiling.send("GET", "/api/dashboard", &[], "");
    assert_eq!(answer.status, 200);
    assert!(
        answer.body.contains("Welcome to your dashboard, user1!"),
        "{}",
        answer.body
    );
    assert_eq!(answer.header("cache-control"), Some("no-store"));
    assert_eq!(answer.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(ceiling.send("GET", "/login.html", &[], "").status, 404);
    assert!(ceiling.log_with("WITHOUT authentication").contains("WITHOUT authentication"));
    let refused = program(
        CEILING_BIN,
        &[("HOST", "0.0.0.0"), ("PORT", "0"), ("JWT_SECRET", SECRET)],
    )
    .output()
    .unwrap();
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("loopback only"), "{stderr}");
}

/// A login body neither JSON nor a form, or without the two fields, or too large: refused
/// with the JSON `invalid_request` of the status that says what is wrong.
#[test]
fn malformed_logins_are_refused_with_their_status() {
    let server = Running::start(&[]);
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
        assert!(answer.body.contains(r#""error":"invalid_request""#), "{answer:?}");
        assert_eq!(answer.header("cache-control"), Some("no-store"));
    }
    let form_login = server.send("POST", "/login", &[form], "username=user2&password=password2");
    assert_eq!(form_login.status, 200, "{form_login:?}");
}

/// `METRICS_ADDR`: after a race inside the grace window and a replay after it, its
/// `GET /metrics` counts one grace replay, one reuse and one session revoked for `reuse`; the
/// application's own port has no `/metrics` (it is guarded like any path: `401`). The log
/// names the user and the session of the reuse at `warn`, of the grace replay at `debug`.
#[test]
fn metrics_are_served_on_metrics_addr_only() {
    let server = Running::start(&[
        ("METRICS_ADDR", "127.0.0.1:0"),
        ("REFRESH_REUSE_GRACE", "1s"),
        ("RUST_LOG", "info,dashboard_shared=debug"),
    ]);
    let metrics_addr = server
        .log_with("metrics_addr=")
        .split("metrics_addr=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("no metrics_addr in the log: {}", server.log()));
    let json = [("Content-Type", "application/json")];
    let refresh = |token: &str| {
        server.send("POST", "/token", &json, &format!(r#"{{"refreshToken":"{token}"}}"#))
    };
    let field = |answer: &Answer, name: &str| -> String {
        let at = answer.body.find(&format!(r#""{name}":""#)).unwrap() + name.len() + 4;
        answer.body[at..].split('"').next().unwrap().to_owned()
    };

    let login = server.login("user1", "password1");
    assert_eq!(login.status, 200, "{login:?}");
    let first = field(&login, "refreshToken");
    let access = field(&login, "accessToken");
    let api = server.send("GET", "/api/dashboard", &[("Authorization", &format!("Bearer {access}"))], "");
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
    assert!(scrape.header("content-type").unwrap().starts_with("text/plain"), "{scrape:?}");
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
        (r#"refresh_auth_refreshes_total{outcome="grace_replay"}"#, 1.0),
        (r#"refresh_auth_refreshes_total{outcome="reuse_revoked"}"#, 1.0),
        (r#"refresh_auth_sessions_revoked_total{reason="reuse"}"#, 1.0),
        (r#"refresh_auth_verifications_total{outcome="ok"}"#, 1.0),
        // The login (a public path) and the app's `/metrics`, both without a token.
        (r#"refresh_auth_verifications_total{outcome="missing"}"#, 2.0),
        (r#"refresh_auth_store_duration_seconds_count{op="rotate"}"#, 3.0),
        (r#"refresh_auth_store_duration_seconds_count{op="create"}"#, 1.0),
    ] {
        assert_eq!(value(series), Some(expected), "{series} in\n{}", scrape.body);
    }
    assert!(value(r#"refresh_auth_refreshes_total{outcome="invalid_grant"}"#).is_none());
    assert!(
        scrape.body.contains(r#"refresh_auth_store_duration_seconds_bucket{op="rotate",le="#),
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
    assert!(warn.contains("user=user1") && warn.contains("session="), "{warn}");
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
#[test]
fn sessions_are_listed_and_ended_from_another_device() {
    let server = Running::start(&[]);
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
    assert!(listed.body.contains(r#""userAgent":"Laptop/1.0""#), "{listed:?}");
    assert!(listed.body.contains(r#""userAgent":"Phone/2.0""#), "{listed:?}");
    assert_eq!(listed.body.matches(r#""current":true"#).count(), 1, "{listed:?}");
    // The phone's id: the entry with its user agent.
    let entry = listed
        .body
        .split('{')
        .find(|e| e.contains("Phone/2.0"))
        .unwrap();
    let id = entry.split(r#""id":""#).nth(1).unwrap().split('"').next().unwrap();
    assert!(entry.contains(r#""current":false"#), "{entry}");

    let ended = server.send("DELETE", &format!("/sessions/{id}"), &auth, "");
    assert_eq!(ended.status, 204, "{ended:?}");
    let body = format!(r#"{{"refreshToken":"{}"}}"#, field(&phone, "refreshToken"));
    let refused = server.send("POST", "/token", &[("Content-Type", "application/json")], &body);
    assert_eq!(refused.status, 400, "{refused:?}");
    let again = server.send("DELETE", &format!("/sessions/{id}"), &auth, "");
    assert_eq!(again.status, 404, "{again:?}");
    let listed = server.send("GET", "/sessions", &auth, "");
    assert!(!listed.body.contains("Phone/2.0"), "{listed:?}");
}

/// A test key of the library crate (tower-refresh-auth/tests/keys/README.md).
fn test_key(name: &str) -> String {
    format!(
        "{}/../../tower-refresh-auth/tests/keys/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// A key file that cannot sign stops the server at start: the message names the variable,
/// the file and what is wrong with it, and shows nothing the file holds.
#[test]
fn bad_key_files_stop_it_at_start_naming_the_variable_and_the_file() {
    for (file, problem) in [
        ("missing.pem", "cannot be read"),
        ("README.md", "not a private key"),
        ("cert.pem", "certificate"),
        ("es256.pub.pem", "a public key"),
        ("p521.pem", "P-521 is not supported"),
    ] {
        let path = test_key(file);
        let output = server(&[("JWT_PRIVATE_KEY_FILE", &path)]).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{file} was accepted");
        assert!(
            stderr.contains(&format!("JWT_PRIVATE_KEY_FILE: {path}: ")),
            "{file}: {stderr}"
        );
        assert!(stderr.contains(problem), "{file}: {stderr}");
        assert!(output.stdout.is_empty(), "{file} printed to stdout");
        if let Ok(text) = std::fs::read_to_string(&path) {
            for line in text.lines().filter(|l| l.len() > 16 && !l.starts_with("-----")) {
                assert!(!stderr.contains(line), "{file}: key material in {stderr}");
            }
        }
    }
}

/// With `JWT_PRIVATE_KEY_FILE` alone the server starts, warning that refresh tokens die with
/// it: no `REFRESH_TOKEN_SECRET` (nor `JWT_SECRET`) to key them with across restarts.
#[test]
fn a_key_file_alone_starts_with_a_warning_about_the_refresh_secret() {
    let es256 = test_key("es256.pem");
    let mut child = server(&[("PORT", "0"), ("JWT_PRIVATE_KEY_FILE", &es256)])
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert!(line.starts_with("listening on http://"), "{line:?}; {stderr}");
    assert!(stderr.contains("REFRESH_TOKEN_SECRET"), "{stderr}");
    assert!(!stderr.contains("JWT_SECRET is unset"), "{stderr}");
}

/// `JWT_PRIVATE_KEY_FILE`: the access token verifies with `jsonwebtoken` given only the JWK
/// fetched from `/.well-known/jwks.json`, which carries no private parameter and may be
/// cached; `/token` still rotates the refresh token.
#[test]
fn a_key_file_signs_tokens_that_verify_with_the_published_key_alone() {
    let es256 = test_key("es256.pem");
    let server = Running::start(&[
        ("JWT_PRIVATE_KEY_FILE", &es256),
        ("REFRESH_TOKEN_SECRET", "a refresh-token secret of 32+ bytes"),
    ]);
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
    let refreshed = server.send("POST", "/token", &[("Content-Type", "application/json")], &body);
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
#[test]
fn without_a_key_file_there_is_no_jwks_route() {
    let server = Running::start(&[]);
    let jwks = server.send("GET", "/.well-known/jwks.json", &[], "");
    assert_eq!(jwks.status, 401, "{jwks:?}");
}

/// Feature `openapi`: `GET /openapi.json`, public, lists the application's routes and the
/// layer's (the JWKS route with a key file), the bearer scheme on `/api/dashboard`, and every
/// `$ref` in it resolves.
#[cfg(feature = "openapi")]
#[test]
fn the_openapi_document_lists_every_route() {
    let es256 = test_key("es256.pem");
    let server = Running::start(&[("JWT_PRIVATE_KEY_FILE", &es256)]);
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
    ] {
        assert!(doc["paths"][path][method].is_object(), "{method} {path} missing: {doc}");
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
        let pointer = target.strip_prefix('#').unwrap_or_else(|| panic!("{target}"));
        assert!(doc.pointer(pointer).is_some(), "{target} does not resolve");
    }
    // Without a key file, no JWKS route to describe.
    let hs = Running::start(&[]);
    let doc: serde_json::Value =
        serde_json::from_str(&hs.send("GET", "/openapi.json", &[], "").body).unwrap();
    assert!(doc["paths"].get("/.well-known/jwks.json").is_none(), "{doc}");
    assert!(doc["paths"]["/login"]["post"].is_object());
}
