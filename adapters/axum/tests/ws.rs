//! A WebSocket behind the layer closes with code 1008 when its session ends: the handler
//! selects on the socket and the `SessionWatch`, and the client sees the close frame.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use axum::routing::any;
use futures_util::{SinkExt, StreamExt};
use http::HeaderValue;
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message as ClientMessage};
use tower_refresh_auth::store::MemoryStore;
use tower_refresh_auth::{NoClaims, RefreshAuth, SessionChecking, SessionWatch};
use tower_refresh_auth_axum::ws::close_message;
use tower_refresh_auth_axum::{AuthClaims, RouterExt};

/// The longest the close frame is waited for.
const BOUND: Duration = Duration::from_secs(10);

async fn live(
    upgrade: WebSocketUpgrade,
    State(auth): State<RefreshAuth>,
    AuthClaims(claims): AuthClaims,
) -> Response {
    let watch = auth.watch(&claims);
    upgrade.on_upgrade(move |socket| echo(socket, watch))
}

async fn echo(mut socket: WebSocket, mut watch: SessionWatch) {
    loop {
        tokio::select! {
            end = &mut watch => {
                let _ = socket.send(close_message(end)).await;
                return;
            }
            message = socket.recv() => match message {
                Some(Ok(Message::Text(text))) => {
                    if socket.send(Message::Text(text)).await.is_err() {
                        return;
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return,
            },
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_closes_with_1008_when_its_session_is_revoked() {
    let auth = RefreshAuth::<NoClaims>::builder()
        .hs256(b"the axum websocket test secret, 32+ bytes".to_vec())
        .store(MemoryStore::new())
        .check_sessions(SessionChecking::Feed)
        .build()
        .unwrap();
    let app = Router::new()
        .route("/ws", any(live))
        .with_state(auth.clone())
        .refresh_auth(&auth);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let connect = |bearer: Option<String>| async move {
        let mut request = format!("ws://{addr}/ws").into_client_request().unwrap();
        if let Some(token) = bearer {
            let value = HeaderValue::from_str(&format!("Bearer {token}")).unwrap();
            request.headers_mut().insert("authorization", value);
        }
        tokio_tungstenite::connect_async(request).await
    };

    // Without a token the upgrade is refused by the layer.
    match connect(None).await {
        Err(tungstenite::Error::Http(res)) => assert_eq!(res.status(), 401),
        other => panic!("expected a 401: {other:?}"),
    }

    let pair = auth.issue("alice", NoClaims {}).await.unwrap();
    let other = auth.issue("bob", NoClaims {}).await.unwrap();
    let (mut socket, _) = connect(Some(pair.access_token.clone())).await.unwrap();
    let (mut bystander, _) = connect(Some(other.access_token.clone())).await.unwrap();
    socket.send(ClientMessage::text("ping")).await.unwrap();
    let echoed = tokio::time::timeout(BOUND, socket.next()).await.unwrap();
    assert_eq!(echoed.unwrap().unwrap(), ClientMessage::text("ping"));

    assert!(auth.revoke_session(&pair.session_id).await.unwrap());
    let closed = loop {
        match tokio::time::timeout(BOUND, socket.next()).await.unwrap() {
            Some(Ok(ClientMessage::Close(frame))) => break frame.expect("a close frame"),
            Some(Ok(_)) => {}
            other => panic!("expected a close frame: {other:?}"),
        }
    };
    assert_eq!(closed.code, CloseCode::Policy);
    assert_eq!(u16::from(closed.code), 1008);
    assert_eq!(closed.reason.as_str(), "session ended");

    // Another session's connection stays open: it still echoes.
    bystander
        .send(ClientMessage::text("still here"))
        .await
        .unwrap();
    let echoed = tokio::time::timeout(BOUND, bystander.next()).await.unwrap();
    assert_eq!(echoed.unwrap().unwrap(), ClientMessage::text("still here"));
}
