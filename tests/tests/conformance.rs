//! Every store runs the same conformance suite (the core's `conformance` feature), one group
//! per capability it offers; a new backend is one line here.
//!
//! The Redis and PostgreSQL backends need a server, so their tests are `#[ignore]`d: run them
//! with `REDIS_URL=redis://127.0.0.1:6379 DATABASE_URL=postgres://postgres@127.0.0.1/test
//! cargo test -p tower-refresh-auth-tests --test conformance -- --include-ignored`, with
//! `REDIS_CLUSTER_URL=$(tests/redis-cluster.sh start)` for the Redis Cluster.

use tower_refresh_auth_test_support::{conformance_suite, fixtures};

conformance_suite!(
    memory,
    fixtures::memory,
    [subject_index, dpop, reauth, key_ring, revocation_feed]
);
#[cfg(feature = "sqlite")]
conformance_suite!(
    sqlite,
    fixtures::sqlite,
    [
        subject_index,
        dpop,
        reauth,
        key_ring,
        revocation_feed,
        two_instances
    ]
);
#[cfg(feature = "redis")]
conformance_suite!(
    redis,
    fixtures::redis,
    [
        subject_index,
        dpop,
        reauth,
        key_ring,
        revocation_feed,
        two_instances
    ],
    ignore = "needs REDIS_URL (see tests/support/README.md)"
);
#[cfg(feature = "redis")]
conformance_suite!(
    redis_cluster,
    fixtures::redis_cluster,
    [
        subject_index,
        dpop,
        reauth,
        key_ring,
        revocation_feed,
        two_instances
    ],
    ignore = "needs REDIS_CLUSTER_URL (tests/redis-cluster.sh start; see tests/support/README.md)"
);
#[cfg(feature = "postgres")]
conformance_suite!(
    postgres,
    fixtures::postgres,
    [
        subject_index,
        dpop,
        reauth,
        key_ring,
        revocation_feed,
        two_instances
    ],
    ignore = "needs DATABASE_URL (see tests/support/README.md)"
);
