//! [`StepUpClaims`]: the verified claims, once the login meets the route's step-up
//! requirement (RFC 9470, `docs/protocol.md` §15).

use std::ops::Deref;

use axum::extract::{FromRef, FromRequestParts};
use http::request::Parts;
use tower_refresh_auth::step_up::StepUp;
use tower_refresh_auth::{Claims, NoClaims, RefreshAuth};

use crate::{AuthClaims, ClaimsRejection};

/// The verified [`Claims`] of the request's access token, when the user authenticated
/// recently enough (and in the way) the route requires: its [`StepUp`], installed on the
/// route with `.route_layer(Extension(StepUp::max_age(…)))`.
///
/// Otherwise the request is refused as [`RefreshAuth::step_up`] renders it: `401` with
/// `WWW-Authenticate: Bearer …, error="insufficient_user_authentication", …, max_age=N` (or
/// `acr_values="…"`, RFC 9470 §3) and the JSON body of `docs/protocol.md` §1 — or the
/// application's [error body](tower_refresh_auth::RefreshAuthBuilder::error_body). The client
/// has the user confirm who they are; the application checks it and calls
/// [`RefreshAuth::reauthenticate`], and the client retries with the new access token.
///
/// The authority comes from the router's state (`RefreshAuth<C>: FromRef<S>`, so a state of
/// `RefreshAuth` itself works as is), for its clock and its error format. Without a
/// requirement on the route, or without the layer, the extractor refuses with a `500` that
/// says what is missing ([`ClaimsRejection::StepUpMissing`], [`ClaimsRejection::LayerMissing`]).
///
/// ```
/// use std::time::Duration;
/// use axum::{Extension, Router, routing::post};
/// use tower_refresh_auth::step_up::StepUp;
/// use tower_refresh_auth::{NoClaims, RefreshAuth};
/// use tower_refresh_auth_axum::{RouterExt, StepUpClaims};
///
/// async fn delete_account(StepUpClaims(claims): StepUpClaims) -> String {
///     format!("{}'s account is gone", claims.sub)
/// }
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let auth = RefreshAuth::<NoClaims>::builder()
///     .hs256(b"an example secret of at least 32 bytes".to_vec())
///     .build()?;
/// let app: Router = Router::new()
///     .route("/account/delete", post(delete_account))
///     // Logged in (or re-authenticated) within the last five minutes.
///     .route_layer(Extension(StepUp::max_age(Duration::from_secs(300))))
///     .with_state(auth.clone())
///     .refresh_auth(&auth);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct StepUpClaims<C = NoClaims>(pub Claims<C>);

impl<C> StepUpClaims<C> {
    /// The claims.
    pub fn into_inner(self) -> Claims<C> {
        self.0
    }
}

impl<C> Deref for StepUpClaims<C> {
    type Target = Claims<C>;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl<S, C> FromRequestParts<S> for StepUpClaims<C>
where
    S: Send + Sync,
    C: Clone + Send + Sync + 'static,
    RefreshAuth<C>: FromRef<S>,
{
    type Rejection = ClaimsRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let AuthClaims(claims) = AuthClaims::<C>::from_request_parts(parts, state).await?;
        let Some(requirement) = parts.extensions.get::<StepUp>() else {
            return Err(ClaimsRejection::StepUpMissing);
        };
        RefreshAuth::<C>::from_ref(state)
            .step_up(&claims, requirement)
            .map_err(ClaimsRejection::Refused)?;
        Ok(Self(claims))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::time::Duration;

    use axum::body::{Body, to_bytes};
    use axum::routing::post;
    use axum::{Extension, Router};
    use http::{Request, StatusCode, header};
    use tower::ServiceExt;
    use tower_refresh_auth::AuthError;
    use tower_refresh_auth::clock::ManualClock;
    use tower_refresh_auth::error::ErrorBody;

    use super::*;
    use crate::RouterExt;

    async fn sensitive(StepUpClaims(claims): StepUpClaims) -> String {
        format!("ok {}", claims.sub)
    }

    fn app(auth: &RefreshAuth, step_up: Option<StepUp>) -> Router {
        let routes = Router::new().route("/sensitive", post(sensitive));
        let routes = match step_up {
            Some(step_up) => routes.route_layer(Extension(step_up)),
            None => routes,
        };
        routes.with_state(auth.clone()).refresh_auth(auth)
    }

    fn post_with(token: &str) -> Request<Body> {
        Request::post("/sensitive")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap()
    }

    #[tokio::test]
    async fn a_fresh_login_passes_and_a_stale_one_gets_the_challenge_in_the_apps_format() {
        let clock = ManualClock::default();
        let auth = RefreshAuth::<NoClaims>::builder()
            .hs256(b"an example secret of at least 32 bytes".to_vec())
            .clock(clock.clone())
            .access_ttl(Duration::from_secs(600))
            .error_body(|err: &AuthError| {
                ErrorBody::json(&serde_json::json!({ "code": err.error_code() }))
            })
            .build()
            .unwrap();
        let app = app(&auth, Some(StepUp::max_age(Duration::from_secs(60))));
        let pair = auth.issue("user1", NoClaims {}).await.unwrap();
        let res = app
            .clone()
            .oneshot(post_with(&pair.access_token))
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);

        clock.advance(Duration::from_secs(61));
        let res = app
            .clone()
            .oneshot(post_with(&pair.access_token))
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(res.headers()[header::CACHE_CONTROL], "no-store");
        assert_eq!(
            res.headers()[header::WWW_AUTHENTICATE],
            "Bearer realm=\"api\", error=\"insufficient_user_authentication\", \
             error_description=\"the login is older than this request allows\", max_age=60"
        );
        let body = to_bytes(res.into_body(), usize::MAX).await.unwrap();
        assert_eq!(
            body.as_ref(),
            br#"{"code":"insufficient_user_authentication"}"#
        );

        // Re-authenticated: the same session passes again.
        let fresh = auth
            .reauthenticate(&pair.session_id, Default::default())
            .await
            .unwrap();
        let res = app.oneshot(post_with(&fresh.access_token)).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn a_route_without_a_requirement_is_a_500_that_says_so() {
        let auth = RefreshAuth::<NoClaims>::builder()
            .hs256(b"an example secret of at least 32 bytes".to_vec())
            .build()
            .unwrap();
        let pair = auth.issue("user1", NoClaims {}).await.unwrap();
        let res = app(&auth, None)
            .oneshot(post_with(&pair.access_token))
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = to_bytes(res.into_body(), usize::MAX).await.unwrap();
        assert!(String::from_utf8_lossy(&body).contains("Extension(StepUp"));
    }
}
