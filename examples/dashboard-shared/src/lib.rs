//! What the two dashboard examples (`axum-dashboard`, `poem-dashboard`) share, so that they
//! differ only in their framework glue: settings from the environment, the store connection,
//! the library configured from them ([`auth_builder`]), the demo users and their password
//! checker, the pages, the login's refusals, shutdown on a signal, the log setup, and the
//! security-event log and Prometheus recorder.
//!
//! Each example puts the layer in front of its routes itself, in its `lib.rs`, and issues,
//! verifies, refreshes and logs out through the library's adapters.

mod auth;
mod fleet;
mod logged;
#[cfg(feature = "openapi")]
pub mod openapi;
mod pages;
mod responses;
mod settings;
mod shutdown;
mod telemetry;
mod users;
pub mod variables;

pub use self::auth::auth_builder;
pub use self::fleet::{FleetSettingsError, build_auth};
pub use self::logged::{LoggedName, LoggedPath, PATH_LOG_LIMIT, USERNAME_LOG_LIMIT};
pub use self::pages::{
    CONTENT_SECURITY_POLICY, CSRF_HEADER, DASHBOARD_PAGE, DASHBOARD_SCRIPT, JAVASCRIPT, LOGIN_PAGE,
    LOGIN_SCRIPT, PUBLIC_PATHS,
};
pub use self::responses::{
    Credentials, Done, LOGIN_BODY_LIMIT, LoginBody, Reauthentication, Welcome, login_refused,
    malformed_login, malformed_reauth,
};
pub use self::settings::{Settings, SettingsError, StoreKind};
pub use self::shutdown::shutdown_signal;
pub use self::telemetry::{PROMETHEUS_TEXT, install_prometheus, log_security_event};
pub use self::users::{Refusal, Users};
pub use metrics_exporter_prometheus::PrometheusHandle;

/// Installs the `tracing` subscriber: `RUST_LOG` as an `EnvFilter`, `info` when unset.
pub fn init_tracing() {
    init_tracing_with(&std::env::var("RUST_LOG").unwrap_or_else(|_| "info".to_owned()));
}

/// Installs the `tracing` subscriber with `filter` as an `EnvFilter` (the dashboards give
/// [`Settings::log_filter`]), `info` when it does not parse.
pub fn init_tracing_with(filter: &str) {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    // Logs go to stderr: stdout carries only the `listening on` line. Colours only on a
    // terminal, so a log file holds no escape sequences but those a value carries escaped.
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}
