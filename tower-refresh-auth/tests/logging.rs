//! What the layer logs. Alone in its own test binary: the test sets a thread-local
//! subscriber, and tracing caches per callsite whether anyone is interested, so a sibling test
//! on another thread hitting the same `warn!` with no subscriber could make this one miss its
//! line.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;
use tower_refresh_auth::dpop::Dpop;

use common::Harness;

/// A writer that keeps what the subscriber wrote, for asserting on logs.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn reuse_is_logged_with_the_session_and_never_the_token() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    // Callsites hit before (by nothing else in this binary, but to be sure) may have cached
    // "no subscriber is interested": make them ask again.
    tracing::callsite::rebuild_interest_cache();

    let h = Harness::new();
    let pair = h.login().await;
    let res = h.refresh(&pair.refresh_token).await;
    let successor = res.json()["refreshToken"].as_str().unwrap().to_owned();
    h.clock.advance(Duration::from_secs(11));
    h.refresh(&pair.refresh_token)
        .await
        .assert_error(400, "invalid_grant");

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let warning = text
        .lines()
        .find(|l| l.contains("WARN") && l.contains("reuse detected"))
        .unwrap_or_else(|| panic!("no reuse warning in {text}"));
    assert!(warning.contains(&pair.session_id.to_string()), "{warning}");
    for secret in [&pair.refresh_token, &successor, &pair.access_token] {
        assert!(
            !text.contains(secret.as_str()),
            "a token was logged: {text}"
        );
    }
}

/// Issue 24, item 1: a flood of refused DPoP proofs (here, one captured proof replayed 50
/// times) costs the log one line per interval, not one per request.
#[tokio::test]
async fn refused_proofs_are_logged_once_per_interval_not_once_each() {
    use http::Request;
    use serde_json::json;
    use tower_refresh_auth_test_support::dpop::DpopKey;

    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    tracing::callsite::rebuild_interest_cache();

    const ORIGIN: &str = "https://api.example.com";
    let h = Harness::with(|b| b.dpop(Dpop::optional().origin(ORIGIN)));
    let iat = common::t0()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let key = DpopKey::es256();
    let sign = |method: &str, path: &str, token: Option<&str>| {
        let mut claims = key.claims(method, &format!("{ORIGIN}{path}"), token);
        claims["iat"] = json!(iat);
        key.sign(&key.header(), &claims)
    };
    let req = Request::post("/login")
        .header("dpop", sign("POST", "/login", None))
        .body(())
        .unwrap();
    let metadata = h
        .auth
        .login_metadata(req.method(), req.uri(), req.headers())
        .await
        .unwrap();
    let pair = h
        .auth
        .issue_with("user1", common::admin(), metadata)
        .await
        .unwrap();
    let captured = sign("GET", "/api/data", Some(&pair.access_token));
    let call = || {
        Request::get("/api/data")
            .header("authorization", format!("DPoP {}", pair.access_token))
            .header("dpop", captured.clone())
            .body(String::new())
            .unwrap()
    };
    assert_eq!(h.send(call()).await.status, 200);
    for _ in 0..50 {
        h.send(call()).await.assert_error(401, "invalid_dpop_proof");
    }

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let lines = text
        .lines()
        .filter(|l| l.contains("WARN") && l.contains("DPoP proof replayed"))
        .count();
    assert_eq!(lines, 1, "{text}");
}
