//! Interop: an independent RFC 7662 client — Python Authlib's `OAuth2Session.introspect_token`
//! with `client_secret_basic` — asks both example servers, run with `INTROSPECTION_CLIENT`,
//! about a live access token, a revoked one, a refresh token, garbage, and (after the server's
//! clock moved past its expiry) the expired token, with right, wrong and missing client
//! credentials (`tests/introspection/authlib_client.py`).
//!
//! Needs `python3` with `authlib` and `requests` (`pip install authlib requests`, which
//! `.ci/run` does), so the tests are `#[ignore]`d; asked to run without them (under `CI=true`
//! they always are), they fail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};
use tower_refresh_auth_test_support::require_program;
use tower_refresh_auth_tests::dashboards::{Framework, Server};

const CLIENT_ID: &str = "gateway";
const CLIENT_SECRET: &str = "9d1c4b7e2a6f0e3d8c5b1a7f4e2d9c6b";

async fn login(server: &Server) -> Value {
    let res = server
        .post("/login")
        .json(&json!({"username": "user1", "password": "password1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

/// Runs the script's `checks` with `tokens` in its environment; asserts it passed.
async fn run_script(python: &Path, server: &Server, checks: &str, tokens: &[(&str, String)]) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("introspection/authlib_client.py");
    let mut cmd = Command::new(python);
    cmd.arg(script)
        .arg(checks)
        .env("BASE_URL", server.url(""))
        .env("CLIENT_ID", CLIENT_ID)
        .env("CLIENT_SECRET", CLIENT_SECRET)
        .envs(tokens.iter().map(|(k, v)| (*k, v.as_str())));
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("python3 runs"))
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{checks}: {stdout}\n{stderr}");
    assert!(stdout.contains("authlib: all checks passed"), "{stdout}");
}

async fn authlib_introspects(framework: Framework) {
    let python = python_with_authlib();
    let client = format!("{CLIENT_ID}:{CLIENT_SECRET}");
    let server = Server::start(framework, &[("INTROSPECTION_CLIENT", &client)]).await;
    let live = login(&server).await;
    let revoked = login(&server).await;
    let logout = server
        .post("/logout")
        .json(&json!({"refreshToken": revoked["refreshToken"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 204);
    let session = {
        let res = server
            .get("/sessions")
            .bearer_auth(live["accessToken"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        let body: Value = res.json().await.unwrap();
        body["sessions"][0]["id"].as_str().unwrap().to_owned()
    };
    let field = |v: &Value, name: &str| v[name].as_str().unwrap().to_owned();
    let tokens = [
        ("LIVE_ACCESS", field(&live, "accessToken")),
        ("LIVE_REFRESH", field(&live, "refreshToken")),
        ("LIVE_SESSION", session),
        ("REVOKED_ACCESS", field(&revoked, "accessToken")),
    ];
    run_script(&python, &server, "live", &tokens).await;
    // Past the access token's lifetime (`ACCESS_TOKEN_TTL`, 1 minute by default).
    server.advance(Duration::from_secs(61));
    run_script(&python, &server, "expired", &tokens).await;
    server.stop().await;
}

/// `python3`, having checked that it imports `authlib` and `requests`.
fn python_with_authlib() -> PathBuf {
    let python = require_program("python3", &[]);
    let ok = Command::new(&python)
        .args(["-c", "import authlib, requests"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "python3 cannot import authlib and requests: run `pip install authlib requests`"
    );
    python
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs python3 with authlib and requests (`pip install authlib requests`, see tests/support/README.md)"]
async fn authlib_introspects_at_the_axum_server() {
    authlib_introspects(Framework::Axum).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs python3 with authlib and requests (`pip install authlib requests`, see tests/support/README.md)"]
async fn authlib_introspects_at_the_poem_server() {
    authlib_introspects(Framework::Poem).await;
}
