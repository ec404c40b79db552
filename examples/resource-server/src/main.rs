//! A resource server: verifies the access tokens of an issuer it knows by URL alone.
//!
//! Run with: `ISSUER_URL=http://127.0.0.1:3000 cargo run -p resource-server`, next to a
//! dashboard started with `PUBLIC_URL=http://127.0.0.1:3000` and `JWT_PRIVATE_KEY_FILE` (so it
//! publishes its keys and metadata). Then `GET /api/profile` with the dashboard's access token.
//!
//! Settings come from the environment (docs/protocol.md §12): `HOST`, `PORT`, `ISSUER_URL`
//! (or `JWKS_URL` with an optional `ISSUER`), `AUDIENCE`, `JWKS_REFETCH_COOLDOWN`,
//! `JWKS_MAX_STALENESS`, `VERIFIED_TOKEN_CACHE`, `DPOP`, `PUBLIC_URL`, `METRICS_ADDR`,
//! `RUST_LOG`.

use std::process::ExitCode;

use dashboard_shared::{init_tracing, shutdown_signal};
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> ExitCode {
    init_tracing();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("resource-server: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let settings = resource_server::Settings::from_vars(|name| std::env::var_os(name))?;
    if let Some(addr) = settings.metrics_addr {
        let metrics = TcpListener::bind(addr)
            .await
            .map_err(|err| format!("cannot listen on METRICS_ADDR={addr}: {err}"))?;
        let app = resource_server::metrics_app(dashboard_shared::install_prometheus()?);
        tokio::spawn(async move { axum::serve(metrics, app).await });
    }
    // Fetches the issuer's metadata and keys; stops here, naming the variable, when it cannot.
    let server = resource_server::start(&settings).await?;
    let listener = TcpListener::bind(settings.bind_addr())
        .await
        .map_err(|err| format!("cannot listen on {}: {err}", settings.bind_addr()))?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, resource_server::app(&server))
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    Ok(())
}
