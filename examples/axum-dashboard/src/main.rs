//! The refresh-token dashboard demo on axum.
//!
//! Run with: `cargo run -p axum-dashboard`, then open <http://127.0.0.1:3000/>.
//!
//! Settings come from the environment (`HOST`, `PORT`, `JWT_SECRET`, `ACCESS_TOKEN_TTL`,
//! `REFRESH_TOKEN_TTL`, `REFRESH_REUSE_GRACE`, `STORE_URL`, `REFRESH_TRANSPORT`,
//! `RUST_LOG`); e.g. `ACCESS_TOKEN_TTL=10s REFRESH_TRANSPORT=cookie cargo run -p
//! axum-dashboard` to watch the dashboard refresh its token. In cookie mode the refresh
//! cookie is `Secure`: browsers keep it over plain HTTP only from `localhost`/`127.0.0.1`,
//! so serve any other host over HTTPS.

use std::process::ExitCode;

use dashboard_shared::{Config, Users, init_tracing, shutdown_signal};
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> ExitCode {
    init_tracing();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("axum-dashboard: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let config = Config::from_env()?;
    let store = config.connect_store().await?;
    let auth = config.auth_builder(store).build()?;
    let users = Users::demo();
    let listener = TcpListener::bind(config.bind_addr())
        .await
        .map_err(|err| format!("cannot listen on {}: {err}", config.bind_addr()))?;
    println!("listening on http://{}", listener.local_addr()?);
    axum_dashboard::serve(listener, auth, users, shutdown_signal()).await?;
    Ok(())
}
