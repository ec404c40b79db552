//! The `no-auth-ceiling` program, loadtest/run.sh's ceiling: for each dashboard, its API route
//! and handler with the real route's headers but no authentication, said so on stderr; nothing
//! else is served; bound off loopback it refuses to start; without a framework it says how to
//! call it.
#![allow(clippy::unwrap_used)]

use examples_test_support::{Running, SECRET, command};

const BIN: &str = env!("CARGO_BIN_EXE_no-auth-ceiling");

/// The program with `framework` as its argument.
fn ceiling(framework: &str, vars: &[(&str, &str)]) -> std::process::Command {
    let mut cmd = command(BIN, vars);
    cmd.arg(framework);
    cmd
}

#[test]
fn the_load_test_ceiling_serves_the_dashboard_route_only_on_loopback() {
    for framework in ["axum", "poem"] {
        let ceiling_server = Running::spawn(
            BIN,
            ceiling(
                framework,
                &[("PORT", "0"), ("JWT_SECRET", SECRET), ("RUST_LOG", "info")],
            ),
        );
        let answer = ceiling_server.send("GET", "/api/dashboard", &[], "");
        assert_eq!(answer.status, 200, "{framework}");
        assert!(
            answer.body.contains("Welcome to your dashboard, user1!"),
            "{}",
            answer.body
        );
        assert_eq!(answer.header("cache-control"), Some("no-store"));
        assert_eq!(answer.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(
            ceiling_server.send("GET", "/login.html", &[], "").status,
            404
        );
        assert!(
            ceiling_server
                .log_with("WITHOUT authentication")
                .contains("WITHOUT authentication")
        );
        let refused = ceiling(
            framework,
            &[("HOST", "0.0.0.0"), ("PORT", "0"), ("JWT_SECRET", SECRET)],
        )
        .output()
        .unwrap();
        assert!(!refused.status.success());
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(stderr.contains("loopback only"), "{stderr}");
    }
    let usage = ceiling("", &[("PORT", "0"), ("JWT_SECRET", SECRET)])
        .output()
        .unwrap();
    assert!(!usage.status.success());
    assert!(String::from_utf8_lossy(&usage.stderr).contains("usage: no-auth-ceiling axum|poem"));
}
