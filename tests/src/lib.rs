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

// The README's snippets are compiled and run as doctests, here where every crate they use is
// a dependency.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
