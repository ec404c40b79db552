//! tower-refresh-auth in front of a bare hyper 1 service.
//!
//! Run with: `cargo run -p hyper-example`, then
//!
//! ```sh
//! curl -s 127.0.0.1:3000/api/hello -i                       # 401, WWW-Authenticate: Bearer realm="api"
//! curl -s 127.0.0.1:3000/login -d '{"username":"user1"}'   # {"accessToken": …, "refreshToken": …}
//! curl -s 127.0.0.1:3000/api/hello -H "authorization: Bearer $ACCESS"        # hello, user1
//! curl -s 127.0.0.1:3000/token -H 'content-type: application/json' -d "{\"refreshToken\":\"$REFRESH\"}"
//! ```
//!
//! Settings: `HOST` (default `127.0.0.1`), `PORT` (default `3000`), `JWT_SECRET` (at least 32
//! bytes; random per start when unset), `RUST_LOG`.

use std::process::ExitCode;

use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("hyper-example: {err}");
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
    let auth = hyper_example::auth(secret)?;
    let host = std::env::var("HOST").unwrap_or_else(|_| "127.0.0.1".into());
    let port = std::env::var("PORT").unwrap_or_else(|_| "3000".into());
    let listener = TcpListener::bind(format!("{host}:{port}")).await?;
    println!("listening on http://{}", listener.local_addr()?);
    hyper_example::serve(listener, auth, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}
