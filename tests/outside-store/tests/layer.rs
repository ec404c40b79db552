//! The outside store behind the layer, and what the builder says about a store that lacks a
//! capability the configuration needs.

use std::time::Duration;
use tower_refresh_auth::dpop::Dpop;

use outside_store::{CoreOnly, MapStore};

use tower_refresh_auth::{AuthError, NoClaims, RefreshAuth};

const SECRET: &[u8] = b"an outside store test secret of 32+ bytes";

#[tokio::test]
async fn a_login_refreshes_lists_and_logs_out_on_the_outside_store() {
    let auth = RefreshAuth::<NoClaims>::builder()
        .hs256(SECRET.to_vec())
        .sessions_route()
        .store(MapStore::default())
        .build()
        .expect("a valid configuration");
    let first = auth.issue("user1", NoClaims {}).await.expect("issue");
    let second = auth
        .refresh(&first.refresh_token)
        .await
        .expect("the token refreshes");
    assert_ne!(second.refresh_token, first.refresh_token);
    assert_eq!(auth.sessions("user1").await.expect("listed").len(), 1);

    auth.logout(&second.refresh_token).await.expect("logout");
    assert!(matches!(
        auth.refresh(&second.refresh_token).await,
        Err(AuthError::InvalidGrant)
    ));
    assert!(auth.sessions("user1").await.expect("listed").is_empty());
}

#[test]
fn the_sessions_routes_need_a_subject_index_and_the_builder_says_so() {
    let err = RefreshAuth::<NoClaims>::builder()
        .hs256(SECRET.to_vec())
        .sessions_route()
        .store(CoreOnly::default())
        .build()
        .expect_err("a store without SubjectIndex cannot serve the sessions routes");
    let message = err.to_string();
    assert!(message.contains("`sessions_route()`"), "{message}");
    assert!(message.contains("SubjectIndex"), "{message}");
    assert!(message.contains("RefreshStore::subject_index"), "{message}");
}

#[test]
fn dpop_needs_a_dpop_store_and_the_builder_says_so() {
    let err = RefreshAuth::<NoClaims>::builder()
        .hs256(SECRET.to_vec())
        .dpop(Dpop::optional().origin("https://api.example.com"))
        .store(CoreOnly::default())
        .build()
        .expect_err("a store without DpopStore cannot do DPoP");
    let message = err.to_string();
    assert!(message.contains("DPoP"), "{message}");
    assert!(message.contains("DpopStore"), "{message}");
}

#[tokio::test]
async fn a_core_only_store_runs_the_rest_and_refuses_log_out_everywhere_as_a_server_error() {
    let auth = RefreshAuth::<NoClaims>::builder()
        .hs256(SECRET.to_vec())
        .refresh_ttl(Duration::from_secs(3600))
        .store(CoreOnly::default())
        .build()
        .expect("the core operations are all a plain refresh needs");
    let pair = auth.issue("user1", NoClaims {}).await.expect("issue");
    let next = auth.refresh(&pair.refresh_token).await.expect("refresh");
    let err = auth
        .revoke_subject("user1")
        .await
        .expect_err("no subject index");
    assert_eq!(err.status(), http::StatusCode::INTERNAL_SERVER_ERROR);
    assert!(err.to_string().contains("SubjectIndex"), "{err}");
    auth.logout(&next.refresh_token).await.expect("logout");
}
