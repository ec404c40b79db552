//! The conformance suite every [`RefreshStore`] runs, and what the end-to-end tests share.
//!
//! - [`suite`]: the conformance tests, generic over the store; [`conformance_suite!`] runs
//!   them all against one backend.
//! - [`fixtures`]: a fresh store per test, for each backend.
//! - [`app`]: an application instance (the layer over a trivial service) and the
//!   cross-instance scenario.
//! - [`server`]: throwaway Redis and PostgreSQL servers for the outage tests.
//! - [`flights`]: a proxy counting round trips.
//! - [`dashboards`]: the example servers run in-process for the end-to-end suite.
//!
//! A backend joins the suite with one line in `tests/conformance.rs`:
//!
//! ```text
//! tower_refresh_auth_tests::conformance_suite!(my_backend, my_crate::my_fixture_fn);
//! ```
//!
//! where `my_fixture_fn(test_name).await` returns `Some(Fixture)` holding a fresh, empty
//! store (and, for stores shared between processes, a second independent instance on the
//! same data), or `None` when the service it needs is not configured (see [`service_url`]).

// A test-support crate: panicking on an unexpected result is how a test fails.
#![allow(clippy::unwrap_used)]

use std::any::Any;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tower_refresh_auth::session::{Session, SessionId};
use tower_refresh_auth::store::{RefreshStore, Rotation};

pub mod app;
pub mod dashboards;
pub mod fixtures;
pub mod flights;
pub mod server;
pub mod suite;

/// A store set up for one test.
#[derive(Debug)]
pub struct Fixture<S> {
    /// The store under test.
    pub store: S,
    /// A second instance on the same data with its own connections, as a second
    /// application instance would have; `None` for stores that cannot be shared.
    pub second: Option<S>,
    /// Whatever must live as long as the stores (a temporary directory, say).
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

/// The URL in the environment variable `var`, or `None` when the tests needing it should be
/// skipped.
///
/// # Panics
///
/// When `var` is unset and `CI` is `true`: CI must never skip a backend silently.
pub fn service_url(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").is_ok_and(|ci| ci == "true") => {
            panic!("{var} is not set, and CI=true: CI must run the tests that need it")
        }
        _ => {
            eprintln!("skipped: {var} not set");
            None
        }
    }
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
        // Stores keep it as given; only the layer can make a real one.
        seal: "a-seal-the-store-keeps-byte-for-byte".to_owned(),
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

/// Runs every conformance test against one backend.
///
/// `$fixture` is an async fn `(&'static str) -> Option<Fixture<S>>`, called once per test
/// with the test's name. Add `two_instances` to also run the tests that need
/// [`Fixture::second`].
#[macro_export]
macro_rules! conformance_suite {
    ($backend:ident, $fixture:path) => {
        $crate::conformance_suite!(@module $backend, $fixture;);
    };
    ($backend:ident, $fixture:path, two_instances) => {
        $crate::conformance_suite!(@module $backend, $fixture;
            concurrent_rotations_across_instances_yield_one_winner,
            second_instance_sees_first_instances_writes
        );
    };
    (@module $backend:ident, $fixture:path; $($extra:ident),*) => {
        mod $backend {
            $crate::conformance_suite!(@tests $fixture;
                create_then_load,
                rotate_moves_counter_and_sliding_expiry,
                stale_counter_conflicts_and_changes_nothing,
                unknown_id_is_not_found,
                sliding_expiry_reads_as_missing,
                absolute_expiry_reads_as_missing,
                revoke_deletes_one_session,
                revoke_subject_spares_other_subjects,
                claims_and_subject_round_trip_byte_for_byte,
                concurrent_rotations_yield_one_winner
                $(, $extra)*
            );
        }
    };
    (@tests $fixture:path; $($test:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $test() {
                if let Some(fixture) = $fixture(stringify!($test)).await {
                    $crate::suite::$test(&fixture).await;
                }
            }
        )*
    };
}

// The README's snippets are compiled and run as doctests, here where every crate they use is
// a dependency.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
