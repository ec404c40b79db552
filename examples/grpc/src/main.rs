//! tower-refresh-auth in front of a tonic gRPC server.
//!
//! Run with: `cargo run -p grpc-example`, then call the health service with the access token
//! it prints (any gRPC client; with grpcurl:
//! `grpcurl -plaintext -H "authorization: Bearer $TOKEN" 127.0.0.1:50051 grpc.health.v1.Health/Check`).
//! Without the header the call fails with `Unauthenticated` and the challenge in the
//! `www-authenticate` metadata. A `Watch` stream
//! (`grpcurl … grpc.health.v1.Health/Watch`) ends with `Unauthenticated` ("session ended")
//! once `curl -X POST 127.0.0.1:50051/logout -H 'content-type: application/json'
//! -d '{"refreshToken":"…"}'` ends the session, or when the access token expires. The refresh
//! token it prints is rotated by
//! `curl -X POST 127.0.0.1:50051/token -H 'content-type: application/json' -d '{"refreshToken":"…"}'`.
//!
//! Settings: `HOST` (default `127.0.0.1`), `PORT` (default `50051`), `JWT_SECRET` (at least 32
//! bytes; random per start when unset), `RUST_LOG`.

use std::process::ExitCode;

use tokio::net::TcpListener;
use tower_refresh_auth::NoClaims;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("grpc-example: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let secret = match std::env::var("JWT_SECRET") {
        Ok(secret) => secret.into_bytes(),
        Err(_) => {
            tracing::warn!(
                "JWT_SECRET is not set: using a random secret, tokens die with the process"
            );
            rand::random::<[u8; 48]>().to_vec()
        }
    };
    let auth = grpc_example::auth(secret)?;
    let host = std::env::var("HOST").unwrap_or_else(|_| "127.0.0.1".into());
    let port = std::env::var("PORT").unwrap_or_else(|_| "50051".into());
    let listener = TcpListener::bind(format!("{host}:{port}")).await?;
    println!("listening on http://{}", listener.local_addr()?);

    // A stand-in for a login: a real application issues pairs from its login handler, once
    // the password has been checked (see examples/axum-dashboard).
    let pair = auth.issue("demo", NoClaims {}).await?;
    println!("access token for `demo`: {}", pair.access_token);
    println!("refresh token for `demo`: {}", pair.refresh_token);

    grpc_example::serve(listener, auth, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}
