//! A tonic client against the example server: refusals arrive as gRPC statuses with the
//! RFC 6750 challenge in the metadata, a valid token gets through, and the layer's own
//! `POST /token` answers HTTP/1.1 on the same port.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;
use tonic::{Code, Request};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};
use tower_refresh_auth::{NoClaims, RefreshAuth};

const SECRET: &[u8] = b"the gRPC example test secret, 32+ bytes";

struct Server {
    addr: SocketAddr,
    auth: RefreshAuth,
    _stop: oneshot::Sender<()>,
}

async fn server() -> Server {
    serve(grpc_example::auth(SECRET).unwrap()).await
}

async fn serve(auth: RefreshAuth) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(grpc_example::serve(listener, auth.clone(), async {
        let _ = stopped.await;
    }));
    Server {
        addr,
        auth,
        _stop: stop,
    }
}

async fn check(
    addr: SocketAddr,
    authorization: Option<&str>,
) -> Result<HealthCheckResponse, tonic::Status> {
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = HealthClient::new(channel);
    let mut req = Request::new(HealthCheckRequest::default());
    if let Some(value) = authorization {
        req.metadata_mut()
            .insert("authorization", MetadataValue::try_from(value).unwrap());
    }
    client.check(req).await.map(tonic::Response::into_inner)
}

fn challenge(status: &tonic::Status) -> &str {
    status
        .metadata()
        .get("www-authenticate")
        .expect("the challenge is in the metadata")
        .to_str()
        .unwrap()
}

#[tokio::test]
async fn a_call_without_a_token_is_unauthenticated_with_a_bare_challenge() {
    let server = server().await;
    let status = check(server.addr, None).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert_eq!(status.message(), "authentication required");
    assert_eq!(challenge(&status), "Bearer realm=\"grpc\"");
}

#[tokio::test]
async fn a_bad_or_malformed_token_is_unauthenticated_and_says_why() {
    let server = server().await;
    let status = check(server.addr, Some("Bearer not.a.token"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert!(
        challenge(&status).starts_with("Bearer realm=\"grpc\", error=\"invalid_token\""),
        "{}",
        challenge(&status)
    );

    // Another deployment's token: the signature does not verify.
    let other = RefreshAuth::<NoClaims>::builder()
        .hs256(b"another deployment's secret, 32+ bytes".to_vec())
        .build()
        .unwrap();
    let pair = other.issue("mallory", NoClaims {}).await.unwrap();
    let status = check(server.addr, Some(&format!("Bearer {}", pair.access_token)))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(status.message(), "the signature does not verify");

    // RFC 6750's 400 invalid_request is UNAUTHENTICATED too, told apart by the challenge.
    let status = check(server.addr, Some("Bearer")).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert!(
        challenge(&status).contains("error=\"invalid_request\""),
        "{}",
        challenge(&status)
    );
}

#[tokio::test]
async fn a_valid_token_gets_through() {
    let server = server().await;
    let pair = server.auth.issue("user1", NoClaims {}).await.unwrap();
    let res = check(server.addr, Some(&format!("Bearer {}", pair.access_token)))
        .await
        .unwrap();
    assert_eq!(res.status(), ServingStatus::Serving);
}

#[tokio::test]
async fn with_session_checking_a_revoked_session_is_unauthenticated() {
    // The refusal after the store's answer takes the other branch of the layer.
    let auth = RefreshAuth::builder()
        .hs256(SECRET.to_vec())
        .realm("grpc")
        .check_sessions(true)
        .build()
        .unwrap();
    let server = serve(auth).await;
    let pair = server.auth.issue("user1", NoClaims {}).await.unwrap();
    let bearer = format!("Bearer {}", pair.access_token);
    assert!(check(server.addr, Some(&bearer)).await.is_ok());

    assert!(server.auth.revoke_session(&pair.session_id).await.unwrap());
    let status = check(server.addr, Some(&bearer)).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert_eq!(status.message(), "the session has been revoked");
    assert!(
        challenge(&status).contains("error=\"invalid_token\""),
        "{}",
        challenge(&status)
    );
}

#[tokio::test]
async fn the_refresh_route_answers_http_1_on_the_same_port() {
    let server = server().await;
    let pair = server.auth.issue("user1", NoClaims {}).await.unwrap();
    let res = reqwest::Client::new()
        .post(format!("http://{}/token", server.addr))
        .json(&serde_json::json!({ "refreshToken": pair.refresh_token }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    let renewed = body["accessToken"].as_str().unwrap();
    assert_ne!(body["refreshToken"], pair.refresh_token.as_str());

    let res = check(server.addr, Some(&format!("Bearer {renewed}")))
        .await
        .unwrap();
    assert_eq!(res.status(), ServingStatus::Serving);
}

/// Opens `grpc.health.v1.Health/Watch` with `bearer`.
async fn watch(addr: SocketAddr, bearer: &str) -> tonic::Streaming<HealthCheckResponse> {
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut req = Request::new(HealthCheckRequest::default());
    req.metadata_mut()
        .insert("authorization", MetadataValue::try_from(bearer).unwrap());
    HealthClient::new(channel)
        .watch(req)
        .await
        .unwrap()
        .into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_stream_ends_unauthenticated_when_its_session_is_revoked() {
    const BOUND: std::time::Duration = std::time::Duration::from_secs(10);
    let server = server().await;
    let pair = server.auth.issue("user1", NoClaims {}).await.unwrap();
    let mut stream = watch(server.addr, &format!("Bearer {}", pair.access_token)).await;
    let first = tokio::time::timeout(BOUND, stream.message()).await.unwrap();
    assert_eq!(first.unwrap().unwrap().status(), ServingStatus::Serving);

    assert!(server.auth.revoke_session(&pair.session_id).await.unwrap());
    let status = tokio::time::timeout(BOUND, stream.message())
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert_eq!(status.message(), "session ended");
    let end = tokio::time::timeout(BOUND, stream.message()).await.unwrap();
    assert!(matches!(end, Ok(None)), "the stream has ended: {end:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_stream_ends_unauthenticated_when_its_token_expires() {
    const BOUND: std::time::Duration = std::time::Duration::from_secs(10);
    // A token that expires within two seconds of its issue, by the system clock.
    let auth = RefreshAuth::builder()
        .hs256(SECRET.to_vec())
        .realm("grpc")
        .access_ttl(std::time::Duration::from_secs(2))
        .build()
        .unwrap();
    let server = serve(auth).await;
    let pair = server.auth.issue("user1", NoClaims {}).await.unwrap();
    let mut stream = watch(server.addr, &format!("Bearer {}", pair.access_token)).await;
    let first = tokio::time::timeout(BOUND, stream.message()).await.unwrap();
    assert_eq!(first.unwrap().unwrap().status(), ServingStatus::Serving);
    let status = tokio::time::timeout(BOUND, stream.message())
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert_eq!(status.message(), "token expired");
}
