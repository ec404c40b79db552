//! What a dashboard binary serves besides the API: the pages and their policy, the metrics
//! on their own address, the API document.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::{Answer, Running, test_key};

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
