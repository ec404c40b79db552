//! Interop: a standard DPoP client — panva's npm `dpop` (RFC 9449), pinned by
//! `tests/interop/package-lock.json` — logs in, calls the API, refreshes and is refused a
//! replay, with ES256 and Ed25519 keys of its own, against both example servers running with
//! `DPOP=required`.
//!
//! Needs `node` and `npm ci --prefix tests/interop` (which `.ci/run` does), so the tests are
//! `#[ignore]`d; asked to run without them (under `CI=true` they always are), they fail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

use tower_refresh_auth_test_support::require_program;
use tower_refresh_auth_tests::dashboards::{Framework, Server};

async fn run_client(framework: Framework) {
    let node = require_program("node", &[]);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("interop");
    assert!(
        dir.join("node_modules/dpop/package.json").is_file(),
        "the interop client's packages are missing: run `npm ci --prefix tests/interop`"
    );
    let server = Server::start(framework, &[("DPOP", "required")]).await;
    let base = server.url("");
    let out = tokio::task::spawn_blocking(move || {
        Command::new(node)
            .arg("dpop-client.mjs")
            .current_dir(dir)
            .env("BASE_URL", base)
            .output()
            .expect("node runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("interop: all checks passed"), "{stdout}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs node and `npm ci --prefix tests/interop` (see tests/support/README.md)"]
async fn panva_dpop_client_against_the_axum_server() {
    run_client(Framework::Axum).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs node and `npm ci --prefix tests/interop` (see tests/support/README.md)"]
async fn panva_dpop_client_against_the_poem_server() {
    run_client(Framework::Poem).await;
}
