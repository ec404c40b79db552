//! What the two dashboard examples (`axum-dashboard`, `poem-dashboard`) share, so that they
//! differ only in their framework glue: configuration from the environment, the demo users
//! and their argon2 hashes, the pages, the application's own responses, and shutdown on a
//! signal.
//!
//! Nothing here is about tokens: issuing, verifying, refreshing and logging out are the
//! library's, reached through its axum and poem adapters.

mod config;
mod pages;
mod responses;
mod shutdown;
mod users;

pub use self::config::{Config, ConfigError};
pub use self::pages::{DASHBOARD_PAGE, LOGIN_PAGE, PUBLIC_PATHS};
pub use self::responses::{Credentials, dashboard, html, invalid_credentials, not_found, redirect};
pub use self::shutdown::shutdown_signal;
pub use self::users::Users;

/// Installs the `tracing` subscriber: `RUST_LOG` as an `EnvFilter`, `info` when unset.
pub fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Logs go to stderr: stdout carries only the `listening on` line.
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
