//! `loadtest/run.sh`'s ceiling for the axum dashboard: `GET /api/dashboard` with the
//! dashboard's own handler and response layers, but **without the authentication layer** (the
//! claims of one token issued at start-up stand in for the verified ones); every other path
//! is `404`. It measures what the layer costs on the same route, and is not an example to
//! copy: `src/main.rs` is the server.
//!
//! Run with: `cargo run --release -p axum-dashboard --bin axum-dashboard-ceiling` (the same
//! settings as the server; it refuses any `HOST` but a loopback address).

use std::net::SocketAddr;
use std::process::ExitCode;

use dashboard_shared::{Settings, init_tracing, shutdown_signal};
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> ExitCode {
    init_tracing();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("axum-dashboard-ceiling: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let settings = Settings::from_env()?;
    let addr = settings.bind_addr().parse::<SocketAddr>();
    if !addr.is_ok_and(|a| a.ip().is_loopback()) {
        return Err("this server answers without authentication: loopback only".into());
    }
    let store = settings.connect_store().await?;
    let auth = axum_dashboard::auth_builder(&settings, store).build()?;
    let app = axum_dashboard::ceiling_app(&auth).await?;
    eprintln!("axum-dashboard-ceiling: GET /api/dashboard WITHOUT authentication");
    let listener = TcpListener::bind(settings.bind_addr())
        .await
        .map_err(|err| format!("cannot listen on {}: {err}", settings.bind_addr()))?;
    println!("listening on http://{}", listener.local_addr()?);
    axum_dashboard::serve(listener, app, shutdown_signal()).await?;
    Ok(())
}
