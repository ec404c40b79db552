//! The `/token` flow against the hyper example: refused without a token, served with one,
//! rotated by `POST /token`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;

use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

async fn server() -> (SocketAddr, oneshot::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let auth = hyper_example::auth(b"the hyper example test secret, 32+ bytes".to_vec()).unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(hyper_example::serve(listener, auth, async {
        let _ = stopped.await;
    }));
    (addr, stop)
}

#[tokio::test]
async fn refused_then_served_then_rotated() {
    let (addr, _stop) = server().await;
    let http = reqwest::Client::new();
    let hello = format!("http://{addr}/api/hello");

    let res = http.get(&hello).send().await.unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(res.headers()["www-authenticate"], "Bearer realm=\"api\"");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "unauthorized");

    let res = http
        .post(format!("http://{addr}/login"))
        .body(r#"{"username":"user1"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let pair: Value = res.json().await.unwrap();
    let access = pair["accessToken"].as_str().unwrap();
    let refresh = pair["refreshToken"].as_str().unwrap();

    let res = http.get(&hello).bearer_auth(access).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "hello, user1");

    let res = http
        .get(&hello)
        .bearer_auth(format!("{access}x"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let challenge = res.headers()["www-authenticate"].to_str().unwrap();
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");

    let res = http
        .post(format!("http://{addr}/token"))
        .json(&serde_json::json!({ "refreshToken": refresh }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let renewed: Value = res.json().await.unwrap();
    let next = renewed["refreshToken"].as_str().unwrap();
    assert_ne!(next, refresh);
    let res = http
        .get(&hello)
        .bearer_auth(renewed["accessToken"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.text().await.unwrap(), "hello, user1");

    // Logout ends the session: its live refresh token is refused from then on.
    let res = http
        .post(format!("http://{addr}/logout"))
        .json(&serde_json::json!({ "refreshToken": next }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let res = http
        .post(format!("http://{addr}/token"))
        .json(&serde_json::json!({ "refreshToken": next }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant");
}
