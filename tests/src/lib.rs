//! What the cross-crate tests share beyond
//! [`tower_refresh_auth_test_support`] (the conformance suite, its fixtures, the
//! failure-injecting store and the request/response helpers live there).
//!
//! - [`app`]: an application instance (the layer over a trivial service) and the
//!   cross-instance scenario.
//! - [`server`]: throwaway Redis and PostgreSQL servers for the outage tests.
//! - [`cluster`]: a throwaway Redis Cluster for the failover tests.
//! - [`flights`]: a proxy counting round trips.
//! - [`dashboards`]: the example servers run in-process for the end-to-end suite.
//! - [`ring_switch`]: a store whose key-ring operations can be taken down.

pub mod app;
#[cfg(feature = "redis")]
pub mod cluster;
pub mod dashboards;
pub mod flights;
pub mod ring_switch;
pub mod server;

// The README's and the guide's `rust` blocks are compiled and run as doctests, here where
// every crate they use is a dependency. (The guide's `rs` blocks are mdbook includes of
// compiled files; tests/docs.rs checks that every chapter with a `rust` block is here.)
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;

#[cfg(doctest)]
mod guide {
    #[doc = include_str!("../../docs/guide/src/getting-started/tower.md")]
    struct Tower;
    #[doc = include_str!("../../docs/guide/src/wire.md")]
    struct Wire;
    #[doc = include_str!("../../docs/guide/src/stores.md")]
    struct Stores;
    #[doc = include_str!("../../docs/guide/src/dpop.md")]
    struct Dpop;
    #[doc = include_str!("../../docs/guide/src/fleet.md")]
    struct Fleet;
    #[doc = include_str!("../../docs/guide/src/other-services.md")]
    struct OtherServices;
    #[doc = include_str!("../../docs/guide/src/step-up.md")]
    struct StepUp;
    #[doc = include_str!("../../docs/guide/src/observability.md")]
    struct Observability;
}
