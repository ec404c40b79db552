//! Every store runs the same conformance suite; a new backend is one line here.
//!
//! Run with `REDIS_URL=redis://127.0.0.1:6379 DATABASE_URL=postgres://postgres@127.0.0.1/test
//! cargo test -p tower-refresh-auth-tests --test conformance`.

use tower_refresh_auth_tests::conformance_suite;

conformance_suite!(memory, tower_refresh_auth_tests::fixtures::memory);
#[cfg(feature = "sqlite")]
conformance_suite!(
    sqlite,
    tower_refresh_auth_tests::fixtures::sqlite,
    two_instances
);
#[cfg(feature = "redis")]
conformance_suite!(
    redis,
    tower_refresh_auth_tests::fixtures::redis,
    two_instances
);
#[cfg(feature = "postgres")]
conformance_suite!(
    postgres,
    tower_refresh_auth_tests::fixtures::postgres,
    two_instances
);
