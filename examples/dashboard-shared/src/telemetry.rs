//! What the servers report: the library's security events in the log, and its metrics
//! (`docs/protocol.md` §9) as Prometheus text for the `METRICS_ADDR` listener.

use std::time::Duration;

use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder, PrometheusHandle};
use tower_refresh_auth::SecurityEvent;

use crate::logged::LoggedName;

/// The content type of Prometheus' text exposition format.
pub const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Logs a security event of the library (`RefreshAuthBuilder::on_security_event`): a reuse
/// at `warn` with the user and the session, a grace replay at `debug` (two tabs refreshing
/// at once is not an attack), revocations at `info`.
pub fn log_security_event(event: &SecurityEvent) {
    match event {
        SecurityEvent::ReuseDetected { session, subject } => tracing::warn!(
            user = %LoggedName(subject),
            %session,
            "a spent refresh token was replayed after the grace window; the session is revoked"
        ),
        SecurityEvent::GraceReplay { session, subject } => tracing::debug!(
            user = %LoggedName(subject),
            %session,
            "a spent refresh token was replayed inside the grace window"
        ),
        SecurityEvent::RolledForward {
            session,
            subject,
            generations,
        } => tracing::warn!(
            user = %LoggedName(subject),
            %session,
            generations,
            "the session store had lost rotations; the session rolled forward to its newest token"
        ),
        SecurityEvent::SessionRevoked {
            session,
            subject,
            reason,
        } => tracing::info!(
            user = %LoggedName(subject.as_deref().unwrap_or("-")),
            %session,
            %reason,
            "session revoked"
        ),
        SecurityEvent::SubjectRevoked { subject, sessions } => tracing::info!(
            user = %LoggedName(subject),
            sessions,
            "every session of a user revoked"
        ),
        other => tracing::info!(event = ?other, "security event"),
    }
}

// ANCHOR: prometheus
/// The buckets of `refresh_auth_store_duration_seconds`, from a local Redis round trip to a
/// store timing out.
const STORE_BUCKETS: &[f64] = &[
    0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// Installs the Prometheus recorder as the process' `metrics` recorder, and a task that
/// keeps its histograms drained. Render a scrape with [`PrometheusHandle::render`].
///
/// # Errors
///
/// When a recorder is already installed.
pub fn install_prometheus() -> Result<PrometheusHandle, BuildError> {
    let handle = PrometheusBuilder::new()
        // A histogram (`_bucket`, `_sum`, `_count`), as the protocol document says, rather
        // than the exporter's default summary.
        .set_buckets_for_metric(
            Matcher::Full("refresh_auth_store_duration_seconds".into()),
            STORE_BUCKETS,
        )?
        .install_recorder()?;
    let upkeep = handle.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(5));
        loop {
            every.tick().await;
            upkeep.run_upkeep();
        }
    });
    Ok(handle)
}
// ANCHOR_END: prometheus
