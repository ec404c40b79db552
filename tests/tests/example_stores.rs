//! The example servers on every `STORE_URL` (docs/protocol.md §6): the store is connected and
//! migrated from the URL exactly as at start, and the login → dashboard → refresh → logout flow
//! works on each, for both frameworks. SQLite always runs; Redis, Redis Cluster and PostgreSQL when
//! `REDIS_URL` / `REDIS_CLUSTER_URL` / `DATABASE_URL` are set (always under `CI=true`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::ffi::OsString;

use dashboard_shared::{Settings, Users};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tower_refresh_auth::RefreshAuth;
use tower_refresh_auth_test_support::service_url;
use tower_refresh_auth_tests::dashboards::Framework;

/// Serves `framework`'s example on a free port with `STORE_URL=store_url`, runs the flow
/// against it, and stops it.
async fn flow(framework: Framework, store_url: &str) {
    let vars: HashMap<&str, OsString> = [
        ("STORE_URL", store_url),
        ("JWT_SECRET", "example-stores test secret, 32 bytes or more"),
    ]
    .into_iter()
    .map(|(k, v)| (k, OsString::from(v)))
    .collect();
    let settings = Settings::from_vars(|name| vars.get(name).cloned()).unwrap();
    let store = settings.connect_store().await.expect("the store connects");
    let auth: RefreshAuth = match framework {
        Framework::Axum => axum_dashboard::auth_builder(&settings, store),
        Framework::Poem => poem_dashboard::auth_builder(&settings, store),
    }
    .build()
    .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let shutdown = async move {
        let _ = rx.await;
    };
    let users = Users::demo();
    let task = match framework {
        Framework::Axum => tokio::spawn(axum_dashboard::serve(
            listener,
            axum_dashboard::app(auth, users, &settings),
            shutdown,
        )),
        Framework::Poem => tokio::spawn(poem_dashboard::serve(
            listener,
            poem_dashboard::app(auth, users, &settings),
            shutdown,
        )),
    };
    let client = reqwest::Client::new();

    let login: Value = client
        .post(format!("{base}/login"))
        .json(&json!({"username": "user2", "password": "password2"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = login["accessToken"].as_str().unwrap();
    let refresh = login["refreshToken"].as_str().unwrap();

    let dashboard = client
        .get(format!("{base}/api/dashboard"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(dashboard.status(), 200, "{framework:?} on {store_url}");
    assert!(dashboard.text().await.unwrap().contains("user2"));

    let res = client
        .post(format!("{base}/token"))
        .json(&json!({"refreshToken": refresh}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{framework:?} on {store_url}");
    let renewed: Value = res.json().await.unwrap();
    let next = renewed["refreshToken"].as_str().unwrap();
    assert_ne!(next, refresh);

    let res = client
        .post(format!("{base}/logout"))
        .json(&json!({"refreshToken": next}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let res = client
        .post(format!("{base}/token"))
        .json(&json!({"refreshToken": next}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        400,
        "{framework:?} on {store_url}: logout did not revoke"
    );
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant");

    let _ = tx.send(());
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn sqlite_file_is_created_and_serves_the_flow() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sessions.db");
    let url = format!("sqlite://{}", file.display());
    for framework in Framework::ALL {
        flow(framework, &url).await;
    }
    assert!(file.exists());
}

#[tokio::test]
#[ignore = "needs REDIS_URL (see tests/support/README.md)"]
async fn redis() {
    let url = service_url("REDIS_URL");
    for framework in Framework::ALL {
        flow(framework, &url).await;
    }
}

#[tokio::test]
#[ignore = "needs REDIS_CLUSTER_URL (tests/redis-cluster.sh start; see tests/support/README.md)"]
async fn redis_cluster() {
    let url = service_url("REDIS_CLUSTER_URL");
    assert!(url.starts_with("redis+cluster://"), "{url}");
    for framework in Framework::ALL {
        flow(framework, &url).await;
    }
}

#[tokio::test]
#[ignore = "needs DATABASE_URL (see tests/support/README.md)"]
async fn postgres() {
    let url = service_url("DATABASE_URL");
    for framework in Framework::ALL {
        flow(framework, &url).await;
    }
}
