//! The load test's no-auth ceiling (`loadtest/run.sh`): one dashboard's `GET /api/dashboard`
//! with its own handler and response layers, but **without the authentication layer** (the
//! claims of one token issued at start-up stand in for the verified ones); every other path is
//! `404`. It measures what the layer costs on the same route, and is not an example to copy:
//! `examples/axum-dashboard` and `examples/poem-dashboard` are the servers.
//!
//! Run with: `cargo run --release -p loadtest-ceiling -- axum` (or `poem`), with the same
//! settings as the dashboard servers; it refuses any `HOST` but a loopback address.

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
            eprintln!("no-auth-ceiling: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let framework = std::env::args().nth(1).unwrap_or_default();
    if !matches!(framework.as_str(), "axum" | "poem") {
        return Err("usage: no-auth-ceiling axum|poem".into());
    }
    // The environment only: the command line is the framework's name.
    let settings = Settings::from_vars(|name| std::env::var_os(name))?;
    let addr = settings.bind_addr().parse::<SocketAddr>();
    if !addr.is_ok_and(|a| a.ip().is_loopback()) {
        return Err("this server answers without authentication: loopback only".into());
    }
    let store = settings.connect_store().await?;
    let listener = TcpListener::bind(settings.bind_addr())
        .await
        .map_err(|err| format!("cannot listen on {}: {err}", settings.bind_addr()))?;
    eprintln!("no-auth-ceiling: {framework}'s GET /api/dashboard WITHOUT authentication");
    if framework == "axum" {
        let builder = axum_dashboard::auth_builder(&settings, store);
        let auth = dashboard_shared::build_auth(&settings, builder).await?;
        let app = axum_dashboard::ceiling_app(&auth).await?;
        println!("listening on http://{}", listener.local_addr()?);
        axum_dashboard::serve(listener, app, shutdown_signal()).await?;
    } else {
        let builder = poem_dashboard::auth_builder(&settings, store);
        let auth = dashboard_shared::build_auth(&settings, builder).await?;
        let app = poem_dashboard::ceiling_app(&auth).await?;
        println!("listening on http://{}", listener.local_addr()?);
        poem_dashboard::serve(listener, app, shutdown_signal()).await?;
    }
    Ok(())
}
