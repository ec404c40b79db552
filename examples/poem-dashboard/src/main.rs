//! The refresh-token dashboard demo on poem.
//!
//! Run with: `cargo run -p poem-dashboard`, then open <http://127.0.0.1:3000/>.
//! With a session store other than memory, enable its feature:
//! `STORE_URL=redis://127.0.0.1:6379 cargo run -p poem-dashboard --features redis`
//! (`postgres`, `sqlite` likewise; `--all-features` for every store).
//!
//! Settings come from the environment, or from flags of the same names: `cargo run -p
//! poem-dashboard -- --help` lists them with their defaults (docs/protocol.md §6); e.g.
//! `ACCESS_TOKEN_TTL=10s REFRESH_TRANSPORT=cookie cargo run -p poem-dashboard` to watch the
//! dashboard refresh its token, or `METRICS_ADDR=127.0.0.1:9100` for Prometheus text at
//! <http://127.0.0.1:9100/metrics>. In cookie mode the refresh cookie is `Secure`: browsers keep
//! it over plain HTTP only from `localhost`/`127.0.0.1`, so serve any other host over HTTPS.

use std::process::ExitCode;

use dashboard_shared::{Settings, Users, init_tracing_with, shutdown_signal};
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("poem-dashboard: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    // `--help` prints the settings and exits here.
    let settings = Settings::from_env()?;
    init_tracing_with(&settings.log_filter);
    if let Some(addr) = settings.metrics_addr {
        let metrics = TcpListener::bind(addr)
            .await
            .map_err(|err| format!("cannot listen on METRICS_ADDR={addr}: {err}"))?;
        let app = poem_dashboard::metrics_app(dashboard_shared::install_prometheus()?);
        tracing::info!(metrics_addr = %metrics.local_addr()?, "Prometheus metrics at GET /metrics");
        tokio::spawn(poem_dashboard::serve(metrics, app, std::future::pending()));
    }
    let store = settings.connect_store().await?;
    let auth =
        dashboard_shared::build_auth(&settings, poem_dashboard::auth_builder(&settings, store))
            .await?;
    let app = poem_dashboard::app(auth, Users::demo(), &settings);
    let listener = TcpListener::bind(settings.bind_addr())
        .await
        .map_err(|err| format!("cannot listen on {}: {err}", settings.bind_addr()))?;
    println!("listening on http://{}", listener.local_addr()?);
    poem_dashboard::serve(listener, app, shutdown_signal()).await?;
    Ok(())
}
