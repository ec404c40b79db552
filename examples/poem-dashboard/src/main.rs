//! The refresh-token dashboard demo on poem.
//!
//! Run with: `cargo run -p poem-dashboard`, then open <http://127.0.0.1:3000/>.
//! With a session store other than memory, enable its feature:
//! `STORE_URL=redis://127.0.0.1:6379 cargo run -p poem-dashboard --features redis`
//! (`postgres`, `sqlite` likewise; `--all-features` for every store).
//!
//! Settings come from the environment (`HOST`, `PORT`, `JWT_SECRET`, `JWT_PRIVATE_KEY_FILE`,
//! `REFRESH_TOKEN_SECRET`, `ACCESS_TOKEN_TTL`, `REFRESH_TOKEN_TTL`, `REFRESH_REUSE_GRACE`,
//! `SESSION_LIFETIME`, `STORE_URL`, `REFRESH_TRANSPORT`, `CHECK_SESSIONS`,
//! `VERIFIED_TOKEN_CACHE`, `METRICS_ADDR`, `RUST_LOG`); e.g.
//! `ACCESS_TOKEN_TTL=10s REFRESH_TRANSPORT=cookie cargo run -p poem-dashboard` to watch the
//! dashboard refresh its token, or `METRICS_ADDR=127.0.0.1:9100` for Prometheus text at
//! <http://127.0.0.1:9100/metrics>. In cookie mode the refresh cookie is `Secure`: browsers keep
//! it over plain HTTP only from `localhost`/`127.0.0.1`, so serve any other host over HTTPS.

use std::process::ExitCode;

use dashboard_shared::{Settings, Users, init_tracing, shutdown_signal};
use poem::EndpointExt as _;
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> ExitCode {
    init_tracing();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("poem-dashboard: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let settings = Settings::from_env()?;
    if let Some(addr) = settings.metrics_addr {
        let metrics = TcpListener::bind(addr)
            .await
            .map_err(|err| format!("cannot listen on METRICS_ADDR={addr}: {err}"))?;
        let app = poem_dashboard::metrics_app(dashboard_shared::install_prometheus()?);
        tracing::info!(metrics_addr = %metrics.local_addr()?, "Prometheus metrics at GET /metrics");
        tokio::spawn(poem_dashboard::serve(metrics, app, std::future::pending()));
    }
    let store = settings.connect_store().await?;
    let auth = poem_dashboard::auth_builder(&settings, store).build()?;
    // loadtest/run.sh's ceiling: the dashboard's route and handler without the middleware.
    let app = if std::env::var_os("LOADTEST_CEILING").is_some_and(|v| v == "1") {
        let addr = settings.bind_addr().parse::<std::net::SocketAddr>();
        if !addr.is_ok_and(|a| a.ip().is_loopback()) {
            return Err("LOADTEST_CEILING=1 serves without authentication: loopback only".into());
        }
        eprintln!("poem-dashboard: LOADTEST_CEILING=1: GET /api/dashboard WITHOUT authentication");
        poem_dashboard::ceiling_app(&auth).await?.boxed()
    } else {
        poem_dashboard::app(auth, Users::demo(), settings.transport).boxed()
    };
    let listener = TcpListener::bind(settings.bind_addr())
        .await
        .map_err(|err| format!("cannot listen on {}: {err}", settings.bind_addr()))?;
    println!("listening on http://{}", listener.local_addr()?);
    poem_dashboard::serve(listener, app, shutdown_signal()).await?;
    Ok(())
}
