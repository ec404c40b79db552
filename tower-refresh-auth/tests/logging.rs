//! What the layer logs. Alone in its own test binary: the test sets a thread-local
//! subscriber, and tracing caches per callsite whether anyone is interested, so a sibling test
//! on another thread hitting the same `warn!` with no subscriber could make this one miss its
//! line.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

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
