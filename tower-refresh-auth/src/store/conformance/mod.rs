//! The store conformance suite: the contract of [`RefreshStore`] and of each capability
//! trait, as tests every backend runs — this crate's and yours.
//!
//! Behind the `conformance` feature. A store crate adds this crate with that feature as a
//! dev-dependency and writes one test file; [`conformance_suite!`](crate::conformance_suite)
//! turns it into a module of `#[test]`s, one group per capability the store offers:
//!
//! ```text
//! // tests/conformance.rs
//! use tower_refresh_auth::store::conformance::Fixture;
//!
//! tower_refresh_auth::conformance_suite!(my_store, fixture, [subject_index, dpop, reauth]);
//!
//! /// A fresh, empty store for the test named `test`.
//! async fn fixture(_test: &'static str) -> Fixture<MyStore> {
//!     Fixture::single(MyStore::default())
//! }
//! ```
//!
//! The groups:
//!
//! - always, [`record`]: create, load, the compare-and-swap rotation (including 256 racing
//!   tasks, one winner), revoke, reseal, expiry;
//! - `subject_index`: [`SubjectIndex`], tested through
//!   [`RefreshStore::subject_index`], so a store that forgets to return `Some(self)` fails;
//! - `dpop`: [`DpopStore`], likewise through [`RefreshStore::dpop`];
//! - `reauth`: [`ReauthStore`], likewise through [`RefreshStore::reauth`];
//! - `key_ring`: [`KeyRingStore`](crate::store::KeyRingStore), likewise through
//!   [`RefreshStore::key_ring`]: the fleet key ring's compare-and-swap (32 racing tasks,
//!   across both instances when the fixture has two; one winner);
//! - `revocation_feed`: [`RevocationFeed`], likewise through
//!   [`RefreshStore::revocation_feed`]: numbering, reading back, expiry, pushes in order
//!   (across [`Fixture::second`] too, when there is one);
//! - `two_instances`: the record tests that need [`Fixture::second`], a second instance on
//!   the same data with its own connections (as a second server has), and with `dpop` the
//!   replay memory shared between them. Leave it out for a store that cannot be shared.
//!
//! A last option, `ignore = "reason"`, marks every test `#[ignore]` with that reason, for a
//! backend that needs a service (`cargo test -- --include-ignored` runs them).
//!
//! The macro brings its own runtime: the calling crate needs no `tokio` dependency. The
//! tests panic on a broken contract, which is how a test fails.
//!
//! Times start at the wall clock (truncated to milliseconds), so stores that also expire
//! data by their own clock (Redis) keep every key these tests use; expiry is tested by
//! passing a later `now`, which every store must check for itself.

// The suite's assertions are how a store's test fails.
#![allow(clippy::unwrap_used)]
#![allow(clippy::missing_panics_doc)]

pub mod dpop;
pub mod feed;
pub mod key_ring;
pub mod reauth;
pub mod record;
pub mod subject_index;

use std::any::Any;
use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::session::{Session, SessionId};
use crate::store::{DpopStore, ReauthStore, RefreshStore, RevocationFeed, Rotation, SubjectIndex};

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

/// Runs `test` to completion on a fresh multi-threaded runtime with four workers: what
/// [`conformance_suite!`](crate::conformance_suite) wraps every test in.
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
    Session::new(
        SessionId::random(),
        subject,
        r#"{"role":"user"}"#,
        t0,
        t0 + Duration::from_secs(3600),
        "a-seal-the-store-keeps-byte-for-byte",
    )
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

/// The store's [`SubjectIndex`], as the layer finds it; panics when it offers none.
pub fn index<S: RefreshStore>(store: &S) -> &dyn SubjectIndex {
    store.subject_index().expect(
        "the store implements SubjectIndex, so `RefreshStore::subject_index` returns Some(self)",
    )
}

/// The store's [`DpopStore`], as the layer finds it; panics when it offers none.
pub fn dpop<S: RefreshStore>(store: &S) -> &dyn DpopStore {
    store
        .dpop()
        .expect("the store implements DpopStore, so `RefreshStore::dpop` returns Some(self)")
}

/// The store's [`RevocationFeed`], as the layer finds it; panics when it offers none.
pub fn revocation_feed<S: RefreshStore>(store: &S) -> &dyn RevocationFeed {
    store.revocation_feed().expect(
        "the store implements RevocationFeed, so `RefreshStore::revocation_feed` returns Some",
    )
}

/// The store's [`ReauthStore`], as the layer finds it; panics when it offers none.
pub fn reauth<S: RefreshStore>(store: &S) -> &dyn ReauthStore {
    store
        .reauth()
        .expect("the store implements ReauthStore, so `RefreshStore::reauth` returns Some(self)")
}

/// Runs the conformance suite against one backend, as a module of `#[test]`s named
/// `$backend` (see the [`conformance`](crate::store::conformance) module).
///
/// `$fixture` is an async fn `(&'static str) -> Fixture<S>` (a path as seen where the macro
/// is called), called once per test with the test's name. After it, in brackets, come the
/// capabilities the store offers and `two_instances`, in any order (each a module of tests),
/// then optionally `ignore = "reason"`:
///
/// ```text
/// conformance_suite!(memory, fixtures::memory, [subject_index, dpop, reauth, key_ring]);
/// conformance_suite!(redis, fixtures::redis, [subject_index, dpop, reauth, two_instances], ignore = "needs REDIS_URL");
/// ```
#[macro_export]
macro_rules! conformance_suite {
    (
        $backend:ident, $fixture:path
        $(, [$($group:ident),* $(,)?])?
        $(, ignore = $reason:literal)? $(,)?
    ) => {
        mod $backend {
            // `$fixture` is named as at the macro's call site.
            #[allow(unused_imports)]
            use super::*;

            $crate::conformance_suite!(@groups $fixture, [$(#[ignore = $reason])?];
                record $($(, $group)*)?; [$($($group)*)?]);
        }
    };
    (@groups $fixture:path, $attrs:tt; $($group:ident),*; $all:tt) => {
        $(
            $crate::conformance_suite!(@group $fixture, $attrs, $group; $all);
        )*
    };
    (@group $fixture:path, $attrs:tt, record; $all:tt) => {
        mod record {
            #[allow(unused_imports)]
            use super::*;
            $crate::conformance_suite!(@tests $fixture, $attrs, record;
                create_then_load,
                rotate_moves_counter_and_sliding_expiry,
                stale_counter_conflicts_and_changes_nothing,
                rotate_jumps_forward_and_never_back,
                unknown_id_is_not_found,
                sliding_expiry_reads_as_missing,
                absolute_expiry_reads_as_missing,
                revoke_deletes_one_session,
                reseal_replaces_the_seal_only,
                claims_and_subject_round_trip_byte_for_byte,
                concurrent_rotations_yield_one_winner,
                rotate_unbound_leaves_a_bound_session_alone
            );
        }
    };
    (@group $fixture:path, $attrs:tt, subject_index; $all:tt) => {
        mod subject_index {
            #[allow(unused_imports)]
            use super::*;
            $crate::conformance_suite!(@tests $fixture, $attrs, subject_index;
                revoke_subject_spares_other_subjects,
                list_returns_the_live_sessions_of_one_subject,
                list_leaves_out_dead_sessions,
                list_page_pages_newest_first_once_each
            );
        }
    };
    (@group $fixture:path, $attrs:tt, dpop; $all:tt) => {
        mod dpop {
            #[allow(unused_imports)]
            use super::*;
            $crate::conformance_suite!(@tests $fixture, $attrs, dpop;
                bind_sets_the_key_once_and_old_rows_read_unbound,
                bind_of_a_dead_session_is_none,
                remember_proof_is_set_if_absent_with_expiry,
                concurrent_remember_proof_yields_one_winner
            );
        }
    };
    (@group $fixture:path, $attrs:tt, reauth; $all:tt) => {
        mod reauth {
            #[allow(unused_imports)]
            use super::*;
            $crate::conformance_suite!(@tests $fixture, $attrs, reauth;
                reauthenticate_swaps_counter_claims_and_seal_only,
                reauthenticate_of_a_moved_or_dead_session_changes_nothing,
                concurrent_reauthentications_yield_one_winner
            );
        }
    };
    (@group $fixture:path, $attrs:tt, key_ring; $all:tt) => {
        mod key_ring {
            #[allow(unused_imports)]
            use super::*;
            $crate::conformance_suite!(@tests $fixture, $attrs, key_ring;
                key_ring_starts_empty_and_keeps_the_first_record,
                key_ring_swaps_only_from_the_expected_version,
                concurrent_key_ring_swaps_yield_one_winner
            );
        }
    };
    (@group $fixture:path, $attrs:tt, revocation_feed; $all:tt) => {
        mod revocation_feed {
            #[allow(unused_imports)]
            use super::*;
            $crate::conformance_suite!(@tests $fixture, $attrs, feed;
                publish_numbers_in_order_and_since_reads_them_back,
                since_leaves_out_expired_revocations,
                a_subscription_receives_what_is_published_in_order,
                concurrent_publishes_are_numbered_and_pushed_in_order,
                a_revocation_published_on_one_instance_reaches_the_other
            );
        }
    };
    (@group $fixture:path, $attrs:tt, two_instances; $all:tt) => {
        mod two_instances {
            #[allow(unused_imports)]
            use super::*;
            $crate::conformance_suite!(@tests $fixture, $attrs, record;
                concurrent_rotations_across_instances_yield_one_winner,
                second_instance_sees_first_instances_writes
            );
            $crate::conformance_suite!(@two_instances_dpop $fixture, $attrs; $all);
        }
    };
    (@two_instances_dpop $fixture:path, $attrs:tt; [dpop $($rest:ident)*]) => {
        $crate::conformance_suite!(@tests $fixture, $attrs, dpop;
            a_proof_remembered_by_one_instance_is_a_replay_on_the_other
        );
    };
    (@two_instances_dpop $fixture:path, $attrs:tt; [$other:ident $($rest:ident)*]) => {
        $crate::conformance_suite!(@two_instances_dpop $fixture, $attrs; [$($rest)*]);
    };
    (@two_instances_dpop $fixture:path, $attrs:tt; []) => {};
    (@group $fixture:path, $attrs:tt, $unknown:ident; $all:tt) => {
        ::core::compile_error!(::core::concat!(
            "unknown conformance group `", ::core::stringify!($unknown),
            "`: expected subject_index, dpop, reauth, key_ring, revocation_feed or two_instances"
        ));
    };
    (@tests $fixture:path, $attrs:tt, $module:ident; $($test:ident),*) => {
        $(
            $crate::conformance_suite!(@test $fixture, $attrs, $module, $test);
        )*
    };
    (@test $fixture:path, [$($attr:tt)*], $module:ident, $test:ident) => {
        #[test]
        $($attr)*
        fn $test() {
            $crate::store::conformance::block_on(async {
                let fixture = $fixture(::core::stringify!($test)).await;
                $crate::store::conformance::$module::$test(&fixture).await;
            });
        }
    };
}
