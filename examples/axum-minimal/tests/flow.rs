//! The built `axum-minimal` binary through the seed's whole flow, and its refusal to start
//! without `JWT_SECRET`.
#![allow(clippy::unwrap_used)]

use examples_test_support::{Running, command, seed_flow};

const BIN: &str = env!("CARGO_BIN_EXE_axum-minimal");

#[test]
fn login_dashboard_refresh_logout() {
    seed_flow(&Running::start(BIN, &[]));
}

#[test]
fn it_refuses_to_start_without_a_secret() {
    let output = command(BIN, &[("PORT", "0")]).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success(),
        "started without JWT_SECRET: {stderr}"
    );
    assert!(stderr.contains("JWT_SECRET"), "{stderr}");
    assert!(output.stdout.is_empty(), "it printed to stdout");
}
