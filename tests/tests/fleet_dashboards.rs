//! The example dashboards with `KEY_ROTATION` (docs/protocol.md §6, §13): an axum and a poem
//! dashboard on one SQLite file share the key ring — one first key, the same JWKS, a login on
//! one verified and refreshed on the other — and a wrong `KEY_ENCRYPTION_KEY` stops a start
//! naming the variable.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::ffi::OsString;

use dashboard_shared::{Settings, Users};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tower_refresh_auth_tests::dashboards::Framework;

const KEK: &str = "kSLE4f1bIdGV3BzOmAntt7dcmIMb-G30wtgCcQvMe-o";
const OTHER_KEK: &str = "3q2-7wABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGho";

fn settings(store_url: &str, kek: &str) -> Settings {
    let vars: HashMap<&str, OsString> = [
        ("STORE_URL", store_url),
        ("KEY_ROTATION", "30d"),
        ("SIGNING_ALG", "EdDSA"),
        ("KEY_ENCRYPTION_KEY", kek),
    ]
    .into_iter()
    .map(|(k, v)| (k, OsString::from(v)))
    .collect();
    Settings::from_vars(|name| vars.get(name).cloned()).unwrap()
}

/// Serves `framework`'s dashboard on a free port; its base URL and its stop switch.
async fn serve(
    framework: Framework,
    settings: &Settings,
) -> Result<(String, oneshot::Sender<()>), Box<dyn std::error::Error>> {
    let store = settings.connect_store().await?;
    let builder = match framework {
        Framework::Axum => axum_dashboard::auth_builder(settings, store),
        Framework::Poem => poem_dashboard::auth_builder(settings, store),
    };
    let auth = dashboard_shared::build_auth(settings, builder).await?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let (tx, rx) = oneshot::channel::<()>();
    let shutdown = async move {
        let _ = rx.await;
    };
    match framework {
        Framework::Axum => tokio::spawn(axum_dashboard::serve(
            listener,
            axum_dashboard::app(auth, Users::demo(), settings),
            shutdown,
        )),
        Framework::Poem => tokio::spawn(poem_dashboard::serve(
            listener,
            poem_dashboard::app(auth, Users::demo(), settings),
            shutdown,
        )),
    };
    Ok((base, tx))
}

async fn jwks(client: &reqwest::Client, base: &str) -> Value {
    let res = client
        .get(format!("{base}/.well-known/jwks.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "the JWKS route is on with KEY_ROTATION");
    assert!(
        res.headers()["cache-control"]
            .to_str()
            .unwrap()
            .starts_with("public, max-age=")
    );
    res.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_dashboards_share_the_key_ring() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("fleet.db").display());
    let (a, stop_a) = serve(Framework::Axum, &settings(&url, KEK)).await.unwrap();
    let (b, stop_b) = serve(Framework::Poem, &settings(&url, KEK)).await.unwrap();
    let client = reqwest::Client::new();

    let (keys_a, keys_b) = (jwks(&client, &a).await, jwks(&client, &b).await);
    assert_eq!(keys_a, keys_b, "one ring, one key set");
    assert_eq!(keys_a["keys"].as_array().unwrap().len(), 1);
    assert_eq!(keys_a["keys"][0]["alg"], "EdDSA");
    assert!(keys_a["keys"][0].get("d").is_none());

    let login: Value = client
        .post(format!("{a}/login"))
        .json(&json!({"username": "user1", "password": "password1"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = login["accessToken"].as_str().unwrap();
    let res = client
        .get(format!("{b}/api/dashboard"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        200,
        "a token of one instance verifies on the other"
    );
    let res = client
        .post(format!("{b}/token"))
        .json(&json!({"refreshToken": login["refreshToken"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "and its refresh token refreshes there");

    // A third start with another key-encryption key stops, naming the variable.
    let err = serve(Framework::Axum, &settings(&url, OTHER_KEK))
        .await
        .expect_err("a wrong key-encryption key stops the start")
        .to_string();
    assert!(err.starts_with("KEY_ENCRYPTION_KEY: "), "{err}");
    assert!(!err.contains(OTHER_KEK) && !err.contains(KEK), "{err}");

    let _ = (stop_a.send(()), stop_b.send(()));
}
