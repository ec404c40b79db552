//! What the tests of `tower-refresh-auth` share, in one place.
//!
//! - The store conformance suite lives in the core, behind its `conformance` feature
//!   (`tower_refresh_auth::store::conformance`, [`conformance_suite!`]); its fixture type and
//!   helpers are re-exported here.
//! - [`fixtures`]: a fresh store per test for each of the core's backends (the `redis`,
//!   `postgres` and `sqlite` features of this crate turn on their fixtures).
//! - [`TestStore`]: the memory store with a switch that makes every call fail, and counters
//!   of what it was asked to do.
//! - [`Reply`] and [`Stack`]: a response read whole, and a service stack that answers with
//!   them, with the requests of the wire contract (`docs/protocol.md`) ready-made.
//! - [`parse_challenges`]: a `WWW-Authenticate` value read as RFC 9110 §11.6.1 defines it.
//! - [`service_url`] and [`require_program`]: the services a test needs. Tests that need one
//!   are `#[ignore]`d with the reason, so `cargo test` reports them as not run; run them with
//!   `-- --include-ignored` once the service is there (see this crate's `README.md`).

// A test-support crate: panicking on an unexpected result is how a test fails.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

mod challenge;
pub mod dpop;
pub mod fixtures;
mod reply;
mod stack;
mod store;

/// The conformance suite, now published by the core (its `conformance` feature): its
/// fixture type and helpers, re-exported for this repository's tests.
pub use tower_refresh_auth::conformance_suite;
pub use tower_refresh_auth::store::conformance::{
    Fixture, block_on, create, expect_conflict, expect_rotated, now_ms, session,
};

pub use challenge::{Challenge, parse_challenges};
pub use reply::{Reply, bearer_get, json_post, logout_request, refresh_body, refresh_request};
pub use stack::{Stack, subject_echo};
pub use store::{Outage, TestStore};

/// Whether this run is CI's (`CI=true`), where every test must run.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|ci| ci == "true")
}

/// The URL in the environment variable `var`, for a test that needs the service behind it.
///
/// Such a test is `#[ignore = "needs VAR …"]`, so a plain `cargo test` reports it as not
/// run; it runs under `-- --include-ignored`, which is how CI runs the suite.
///
/// # Panics
///
/// When `var` is unset or empty: a test asked to run must run, never pass without having
/// tested anything.
pub fn service_url(var: &str) -> String {
    match std::env::var(var) {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "{var} is not set, but a test that needs it was asked to run{}: set it (see \
             tests/support/README.md) or run without --include-ignored",
            if in_ci() { " (CI=true)" } else { "" }
        ),
    }
}

/// The program `name`, found on `PATH` or in the `extra` directories, for a test that needs
/// it (and is `#[ignore]`d like the tests of [`service_url`]).
///
/// # Panics
///
/// When it is not installed.
pub fn require_program(name: &str, extra: &[PathBuf]) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(extra.iter().cloned())
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "{name} is not installed, but a test that needs it was asked to run: install \
                 it (see tests/support/README.md) or run without --include-ignored"
            )
        })
}

/// A suffix unique to this run (process id and clock), so names from two runs sharing a
/// server never meet.
pub fn run_id() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{}{nanos:09}", std::process::id())
}
