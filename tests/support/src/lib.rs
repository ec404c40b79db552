//! What the tests of `tower-refresh-auth` share, in one place.
//!
//! - [`suite`]: the [`RefreshStore`] conformance tests, generic over the store;
//!   [`conformance_suite!`] runs them all against one backend.
//! - [`fixtures`]: a fresh store per test for each of the core's backends (the `redis`,
//!   `postgres` and `sqlite` features of this crate turn on their fixtures).
//! - [`TestStore`]: the memory store with a switch that makes every call fail, and counters
//!   of what it was asked to do.
//! - [`Reply`] and [`Stack`]: a response read whole, and a service stack that answers with
//!   them, with the requests of the wire contract (`docs/protocol.md`) ready-made.
//! - [`service_url`] and [`require_program`]: the services a test needs. Tests that need one
//!   are `#[ignore]`d with the reason, so `cargo test` reports them as not run; run them with
//!   `-- --include-ignored` once the service is there (see this crate's `README.md`).
//!
//! # Running the conformance suite on your own store
//!
//! A store crate outside this repository adds this crate as a dev-dependency (a git or path
//! dependency: it is not published) and writes one test file:
//!
//! ```text
//! // tests/conformance.rs
//! tower_refresh_auth_test_support::conformance_suite!(my_store, my_fixture, two_instances);
//!
//! use tower_refresh_auth_test_support::Fixture;
//!
//! /// A fresh, empty store for the test named `test`, and a second instance on the same data
//! /// with its own connections (as a second server would have).
//! async fn my_fixture(test: &'static str) -> Fixture<MyStore> {
//!     let table = format!("sessions_{test}_{}", tower_refresh_auth_test_support::run_id());
//!     let store = MyStore::connect(URL, &table).await.unwrap();
//!     let second = MyStore::connect(URL, &table).await.unwrap();
//!     Fixture { store, second: Some(second), guard: Some(Box::new(DropTableOnDrop(table))) }
//! }
//! ```
//!
//! Leave out `two_instances` for a store that cannot be shared between processes (and
//! return [`Fixture::single`]); add `ignore = "needs MY_URL"` to mark every test of the
//! backend as needing a service. The macro brings its own runtime: the calling crate needs
//! no `tokio` dependency.

// A test-support crate: panicking on an unexpected result is how a test fails.
#![allow(clippy::unwrap_used)]

use std::any::Any;
use std::future::Future;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tower_refresh_auth::session::{Session, SessionId, SessionMetadata};
use tower_refresh_auth::store::{RefreshStore, Rotation};

pub mod dpop;
pub mod fixtures;
mod reply;
mod stack;
mod store;
pub mod suite;

pub use reply::{Reply, bearer_get, json_post, logout_request, refresh_body, refresh_request};
pub use stack::{Stack, subject_echo};
pub use store::TestStore;

/// A store set up for one test.
#[derive(Debug)]
pub struct Fixture<S> {
    /// The store under test.
    pub store: S,
    /// A second instance on the same data with its own connections, as a second
    /// application instance would have; `None` for stores that cannot be shared.
    pub second: Option<S>,
    /// Whatever must live as long as the stores (a temporary directory, a guard that
    /// deletes the test's keys or table).
    pub guard: Option<Box<dyn Any + Send + Sync>>,
}

impl<S> Fixture<S> {
    /// A fixture with one instance and nothing to keep alive.
    pub fn single(store: S) -> Self {
        Self {
            store,
            second: None,
            guard: None,
        }
    }
}

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

/// Runs `test` to completion on a fresh multi-threaded runtime with four workers: what
/// [`conformance_suite!`] wraps every test in.
///
/// # Panics
///
/// If the runtime cannot be built, or with `test`'s panic.
pub fn block_on<F: Future>(test: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(test)
}

/// The current time, truncated to the millisecond precision every store keeps.
pub fn now_ms() -> SystemTime {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_millis();
    UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).expect("a sane clock"))
}

/// A new session of `subject` created at `t0`, sliding expiry one hour later.
pub fn session(subject: &str, t0: SystemTime) -> Session {
    Session {
        id: SessionId::random(),
        subject: subject.to_owned(),
        claims: r#"{"role":"user"}"#.to_owned(),
        counter: 0,
        created_at: t0,
        rotated_at: t0,
        expires_at: t0 + Duration::from_secs(3600),
        absolute_expires_at: None,
        seal: "a-seal-the-store-keeps-byte-for-byte".to_owned(),
        jkt: None,
        metadata: SessionMetadata::new(),
    }
}

/// The session inside a [`Rotation::Rotated`]; panics on anything else.
pub fn expect_rotated(rotation: Rotation) -> Session {
    match rotation {
        Rotation::Rotated(session) => session,
        other => panic!("expected Rotated, got {other:?}"),
    }
}

/// The session inside a [`Rotation::Conflict`]; panics on anything else.
pub fn expect_conflict(rotation: Rotation) -> Session {
    match rotation {
        Rotation::Conflict(session) => session,
        other => panic!("expected Conflict, got {other:?}"),
    }
}

/// Stores `session`, panicking on failure.
pub async fn create(store: &impl RefreshStore, session: &Session) {
    store.create(session).await.expect("create");
}

/// Runs every conformance test of [`suite`] against one backend, as a module of `#[test]`s
/// named `$backend`.
///
/// `$fixture` is an async fn `(&'static str) -> Fixture<S>` (a path as seen where the macro
/// is called), called once per test with the test's name. Options, after the fixture and in this order:
///
/// - `two_instances`: also run the tests that need [`Fixture::second`];
/// - `ignore = "reason"`: mark every test `#[ignore]` with that reason, for a backend that
///   needs a service (`cargo test -- --include-ignored` runs them).
///
/// ```text
/// conformance_suite!(memory, fixtures::memory);
/// conformance_suite!(redis, fixtures::redis, two_instances, ignore = "needs REDIS_URL");
/// ```
#[macro_export]
macro_rules! conformance_suite {
    ($backend:ident, $fixture:path $(, ignore = $reason:literal)? $(,)?) => {
        $crate::conformance_suite!(@module $backend, $fixture, [$(#[ignore = $reason])?];);
    };
    ($backend:ident, $fixture:path, two_instances $(, ignore = $reason:literal)? $(,)?) => {
        $crate::conformance_suite!(@module $backend, $fixture, [$(#[ignore = $reason])?];
            concurrent_rotations_across_instances_yield_one_winner,
            second_instance_sees_first_instances_writes,
            a_proof_remembered_by_one_instance_is_a_replay_on_the_other
        );
    };
    (@module $backend:ident, $fixture:path, $attrs:tt; $($extra:ident),*) => {
        mod $backend {
            // `$fixture` is named as at the macro's call site.
            #[allow(unused_imports)]
            use super::*;

            $crate::conformance_suite!(@tests $fixture, $attrs;
                create_then_load,
                rotate_moves_counter_and_sliding_expiry,
                stale_counter_conflicts_and_changes_nothing,
                rotate_jumps_forward_and_never_back,
                unknown_id_is_not_found,
                sliding_expiry_reads_as_missing,
                absolute_expiry_reads_as_missing,
                revoke_deletes_one_session,
                reseal_replaces_the_seal_only,
                revoke_subject_spares_other_subjects,
                claims_and_subject_round_trip_byte_for_byte,
                list_returns_the_live_sessions_of_one_subject,
                list_leaves_out_dead_sessions,
                list_page_pages_newest_first_once_each,
                concurrent_rotations_yield_one_winner,
                bind_sets_the_key_once_and_old_rows_read_unbound,
                bind_of_a_dead_session_is_none,
                remember_proof_is_set_if_absent_with_expiry,
                concurrent_remember_proof_yields_one_winner
                $(, $extra)*
            );
        }
    };
    (@tests $fixture:path, $attrs:tt; $($test:ident),*) => {
        $(
            $crate::conformance_suite!(@test $fixture, $attrs, $test);
        )*
    };
    (@test $fixture:path, [$($attr:tt)*], $test:ident) => {
        #[test]
        $($attr)*
        fn $test() {
            $crate::block_on(async {
                let fixture = $fixture(stringify!($test)).await;
                $crate::suite::$test(&fixture).await;
            });
        }
    };
}
