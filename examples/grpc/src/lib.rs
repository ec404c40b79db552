//! tower-refresh-auth in front of a tonic gRPC server: the layer verifies the bearer token of
//! every call and answers refusals as gRPC statuses — `UNAUTHENTICATED` (16) with the
//! RFC 6750 challenge in the `www-authenticate` metadata — instead of the JSON body an HTTP
//! client gets (docs/protocol.md §1b).
//!
//! The guarded service is tonic-health's `grpc.health.v1.Health`, whose generated code ships
//! inside the `tonic-health` crate: the example needs no `.proto` file and no `protoc`. An
//! interceptor after the layer shows where a gRPC handler finds the verified claims: in the
//! request extensions, as in every tower stack.
//!
//! The layer follows its store's revocation feed (`SessionChecking::Feed`): a revoked
//! session's token is refused at its next call, and a `Watch` stream already open ends with
//! `UNAUTHENTICATED` ("session ended") as soon as the revocation arrives, or at the token's
//! expiry ("token expired"): see [`stream`].
//!
//! The server also accepts HTTP/1.1, so `POST /token` and `POST /logout` — answered by the
//! layer before any routing — work with `curl` on the same port.

pub mod stream;

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;
use tonic::service::InterceptorLayer;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Status};
use tonic_health::pb::health_server::HealthServer;
use tonic_health::server::HealthService;
use tower_refresh_auth::{Claims, ConfigError, RefreshAuth, SessionChecking};

use self::stream::GuardedHealth;

/// The layer's configuration: every path guarded, the realm named for the service, sessions
/// checked through the (in-process) revocation feed.
///
/// # Errors
///
/// A [`ConfigError`] for a secret shorter than 32 bytes, or when called outside a tokio
/// runtime (the feed's follower is a task on it).
pub fn auth(jwt_secret: impl Into<Vec<u8>>) -> Result<RefreshAuth, ConfigError> {
    RefreshAuth::builder()
        .hs256(jwt_secret)
        .realm("grpc")
        .check_sessions(SessionChecking::Feed)
        .build()
}

/// Serves the health service behind the layer on `listener` until `shutdown` completes.
///
/// # Errors
///
/// The transport's error if serving fails.
pub async fn serve(
    listener: TcpListener,
    auth: RefreshAuth,
    shutdown: impl Future<Output = ()>,
) -> Result<(), tonic::transport::Error> {
    // ANCHOR: serve
    let (reporter, _) = tonic_health::server::health_reporter();
    // `Watch` streams end with the caller's session (see `stream`).
    let health = GuardedHealth::new(HealthService::from_health_reporter(reporter), auth.clone());
    Server::builder()
        .accept_http1(true)
        // The first layer is the outermost: tokens are checked before anything else runs.
        .layer(auth.layer())
        .layer(InterceptorLayer::new(log_caller))
        .add_service(HealthServer::new(health))
        .serve_with_incoming_shutdown(TcpIncoming::from(listener), shutdown)
        .await
    // ANCHOR_END: serve
}

/// Runs after the layer, so every call that gets here carries verified claims.
// ANCHOR: claims
fn log_caller(req: Request<()>) -> Result<Request<()>, Status> {
    match req.extensions().get::<Arc<Claims>>() {
        Some(claims) => {
            tracing::info!(
                subject = %claims.sub,
                session = claims.sid.as_ref().map(tracing::field::display),
                "authenticated call"
            );
            Ok(req)
        }
        // Only reachable if the layer was left out of the stack.
        None => Err(Status::unauthenticated(
            "no verified claims: is the layer installed?",
        )),
    }
}
// ANCHOR_END: claims
