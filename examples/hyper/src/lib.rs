//! tower-refresh-auth in front of a bare hyper 1 service, with no framework at all: a
//! `tower::service_fn` wrapped in the layer, served by hyper-util's `TowerToHyperService`.
//!
//! Routes: `POST /login` (JSON `{"username": "…"}`; a stand-in that checks no password, see
//! below) answers the pair of docs/protocol.md §3; `GET /api/hello` needs a bearer token and
//! greets its subject; `POST /token` and `POST /logout` are answered by the layer itself.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use serde::Deserialize;
use tokio::net::TcpListener;
use tower::{ServiceBuilder, service_fn};
use tower_refresh_auth::{Claims, ConfigError, NoClaims, RefreshAuth};

/// The layer's configuration: `/login` is public, every other path but the layer's own
/// routes needs a token.
///
/// # Errors
///
/// A [`ConfigError`] for a secret shorter than 32 bytes.
// ANCHOR: auth
pub fn auth(jwt_secret: impl Into<Vec<u8>>) -> Result<RefreshAuth, ConfigError> {
    RefreshAuth::builder()
        .hs256(jwt_secret)
        .public_path("/login")
        .build()
}
// ANCHOR_END: auth

#[derive(Deserialize)]
struct Login {
    username: String,
}

/// The application, behind the layer: by the time a request gets here its token has been
/// verified (or its path is public).
// ANCHOR: app
async fn app(
    auth: RefreshAuth,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let res = match (req.method(), req.uri().path()) {
        (&Method::POST, "/login") => login(&auth, req).await,
        (&Method::GET, "/api/hello") => match req.extensions().get::<Arc<Claims>>() {
            Some(claims) => text(StatusCode::OK, format!("hello, {}", claims.sub)),
            // Guarded paths never get here without claims.
            None => text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "is the layer installed?".into(),
            ),
        },
        _ => text(StatusCode::NOT_FOUND, "not found".into()),
    };
    Ok(res)
}
// ANCHOR_END: app

/// A stand-in for a login. A real one checks the password first, against an argon2 hash
/// (examples/axum-dashboard); this one signs in whoever it is told, to keep the example
/// about the layer.
async fn login(auth: &RefreshAuth, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let body = match Limited::new(req.into_body(), 4096).collect().await {
        Ok(body) => body.to_bytes(),
        Err(_) => return text(StatusCode::BAD_REQUEST, "unreadable body".into()),
    };
    let Ok(Login { username }) = serde_json::from_slice(&body) else {
        return text(StatusCode::BAD_REQUEST, "send {\"username\": \"…\"}".into());
    };
    match auth.issue(username, NoClaims {}).await {
        // The pair as the layer's own routes answer it: JSON, `Cache-Control: no-store`.
        Ok(pair) => auth.token_response(&pair).map(Full::new),
        Err(err) => auth.rejection(err).into_response().map(Full::new),
    }
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut res = Response::new(Full::new(Bytes::from(body)));
    *res.status_mut() = status;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    res
}

/// Serves HTTP/1.1 on `listener` until `shutdown` completes; connections in flight are not
/// waited for.
///
/// # Errors
///
/// An accept error from the listener.
pub async fn serve(
    listener: TcpListener,
    auth: RefreshAuth,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    // ANCHOR: service
    let service = ServiceBuilder::new()
        .layer(auth.layer())
        .service(service_fn({
            let auth = auth.clone();
            move |req| app(auth.clone(), req)
        }));
    // ANCHOR_END: service
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => accepted?,
            () = &mut shutdown => return Ok(()),
        };
        let service = TowerToHyperService::new(service.clone());
        tokio::spawn(async move {
            if let Err(err) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(error = %err, "connection ended with an error");
            }
        });
    }
}
