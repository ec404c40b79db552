//! [`RouterExt`]: installs the layer on a whole [`Router`].

use axum::Router;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tower_refresh_auth::RefreshAuth;

/// Installs refresh-token authentication on a [`Router`] in one call.
///
/// This trait is sealed: it is implemented for [`Router`] only.
pub trait RouterExt<S>: sealed::Sealed {
    /// Wraps every route of this router *and its fallback* in `auth`'s layer, so the layer
    /// answers `POST /token` and `POST /logout` (which need no route of their own), guards
    /// the routes, and refuses requests for unknown paths without a valid token with `401`
    /// rather than revealing which paths exist.
    ///
    /// It is [`Router::layer`]: call it after adding every route and the fallback, since
    /// routes added later are not wrapped. Make the login route and the pages reachable
    /// without a token with the builder's `.public_path(…)` / `.public_prefix(…)`.
    fn refresh_auth<C>(self, auth: &RefreshAuth<C>) -> Self
    where
        C: Serialize + DeserializeOwned + Clone + Send + Sync + 'static;
}

impl<S> RouterExt<S> for Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    fn refresh_auth<C>(self, auth: &RefreshAuth<C>) -> Self
    where
        C: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
    {
        self.layer(auth.layer())
    }
}

mod sealed {
    pub trait Sealed {}
    impl<S> Sealed for axum::Router<S> {}
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use axum::body::{Body, to_bytes};
    use axum::routing::get;
    use http::{Request, StatusCode, header};
    use tower::ServiceExt;
    use tower_refresh_auth::NoClaims;

    use super::*;
    use crate::AuthClaims;

    fn auth(optional: bool) -> RefreshAuth {
        let builder = RefreshAuth::<NoClaims>::builder()
            .hs256(b"an example secret of at least 32 bytes".to_vec())
            .public_path("/public");
        let builder = if optional {
            builder.optional()
        } else {
            builder
        };
        builder.build().unwrap()
    }

    async fn who(AuthClaims(claims): AuthClaims) -> String {
        claims.sub
    }

    async fn maybe(claims: Option<AuthClaims>) -> String {
        claims.map_or_else(|| "anonymous".to_owned(), |c| c.0.sub)
    }

    fn app(auth: &RefreshAuth) -> Router {
        Router::new()
            .route("/me", get(who))
            .route("/public", get(maybe))
            .route("/strict", get(who))
            .refresh_auth(auth)
    }

    fn get_req(path: &str, token: Option<&str>) -> Request<Body> {
        let mut req = Request::get(path);
        if let Some(token) = token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        req.body(Body::empty()).unwrap()
    }

    async fn text(res: axum::response::Response) -> String {
        String::from_utf8(
            to_bytes(res.into_body(), usize::MAX)
                .await
                .unwrap()
                .to_vec(),
        )
        .unwrap()
    }

    #[tokio::test]
    async fn routes_are_guarded_and_claims_reach_the_handler() {
        let auth = auth(false);
        let pair = auth.issue("user1", NoClaims {}).await.unwrap();
        let res = app(&auth).oneshot(get_req("/me", None)).await.unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            res.headers()[header::WWW_AUTHENTICATE],
            "Bearer realm=\"api\""
        );
        let res = app(&auth)
            .oneshot(get_req("/me", Some(&pair.access_token)))
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(text(res).await, "user1");
    }

    #[tokio::test]
    async fn the_endpoints_and_the_fallback_are_covered() {
        let auth = auth(false);
        let pair = auth.issue("user1", NoClaims {}).await.unwrap();
        // No route for /token: the layer answers it.
        let req = Request::post("/token")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(format!(
                r#"{{"refreshToken":"{}"}}"#,
                pair.refresh_token
            )))
            .unwrap();
        let res = app(&auth).oneshot(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let renewed: serde_json::Value =
            serde_json::from_slice(&to_bytes(res.into_body(), usize::MAX).await.unwrap()).unwrap();
        // No route for /logout either: the layer revokes the session.
        let req = Request::post("/logout")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(format!(
                r#"{{"refreshToken":"{}"}}"#,
                renewed["refreshToken"].as_str().unwrap()
            )))
            .unwrap();
        let res = app(&auth).oneshot(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
        let req = Request::post("/token")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(format!(
                r#"{{"refreshToken":"{}"}}"#,
                renewed["refreshToken"].as_str().unwrap()
            )))
            .unwrap();
        assert_eq!(
            app(&auth).oneshot(req).await.unwrap().status(),
            StatusCode::BAD_REQUEST
        );
        // An unknown path is guarded too: no token, no 404.
        let res = app(&auth).oneshot(get_req("/nowhere", None)).await.unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        let res = app(&auth)
            .oneshot(get_req("/nowhere", Some(&pair.access_token)))
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn option_is_none_without_credentials_and_refuses_a_bad_token() {
        let auth = auth(false);
        let res = app(&auth).oneshot(get_req("/public", None)).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(text(res).await, "anonymous");

        let res = app(&auth)
            .oneshot(get_req("/public", Some("not-a-token")))
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        let challenge = res.headers()[header::WWW_AUTHENTICATE].to_str().unwrap();
        assert!(challenge.starts_with("Bearer realm=\"api\", error=\"invalid_token\""));
    }

    #[tokio::test]
    async fn in_optional_mode_the_extractor_refuses_as_the_layer_would() {
        // The extractor's refusal in optional mode…
        let optional = auth(true);
        let by_extractor = app(&optional)
            .oneshot(get_req("/strict", Some("not-a-token")))
            .await
            .unwrap();
        // …and the layer's own, on a guarded path, for the same credentials.
        let guarded = auth(false);
        let by_layer = app(&guarded)
            .oneshot(get_req("/strict", Some("not-a-token")))
            .await
            .unwrap();
        assert_eq!(by_extractor.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(by_extractor.status(), by_layer.status());
        assert_eq!(by_extractor.headers(), by_layer.headers());
        assert_eq!(text(by_extractor).await, text(by_layer).await);
        // Without credentials, a bare challenge.
        let res = app(&optional)
            .oneshot(get_req("/strict", None))
            .await
            .unwrap();
        assert_eq!(
            res.headers()[header::WWW_AUTHENTICATE],
            "Bearer realm=\"api\""
        );
    }

    #[tokio::test]
    async fn without_the_layer_the_extractor_says_so() {
        let app: Router = Router::new().route("/me", get(who));
        let res = app.oneshot(get_req("/me", None)).await.unwrap();
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(
            text(res)
                .await
                .contains("is the RefreshAuthLayer installed")
        );

        let app: Router = Router::new().route("/public", get(maybe));
        let res = app.oneshot(get_req("/public", None)).await.unwrap();
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }

    /// The application's own error format, on every refusal the layer or an extractor makes.
    fn problem_auth(optional: bool) -> RefreshAuth {
        let builder = RefreshAuth::<NoClaims>::builder()
            .hs256(b"an example secret of at least 32 bytes".to_vec())
            .public_path("/public")
            .error_body(|err: &tower_refresh_auth::AuthError| {
                tower_refresh_auth::error::ErrorBody::new(
                    http::HeaderValue::from_static("application/problem+json"),
                    format!(
                        r#"{{"status":{},"title":"{}"}}"#,
                        err.status().as_u16(),
                        err.error_code().unwrap_or("unauthorized")
                    ),
                )
            });
        if optional {
            builder.optional()
        } else {
            builder
        }
        .build()
        .unwrap()
    }

    #[tokio::test]
    async fn the_applications_error_body_keeps_status_and_challenge() {
        let auth = problem_auth(false);
        // A guarded path, refused by the layer.
        let res = app(&auth)
            .oneshot(get_req("/me", Some("garbage")))
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert!(
            res.headers()[header::WWW_AUTHENTICATE]
                .to_str()
                .unwrap()
                .starts_with("Bearer realm=\"api\", error=\"invalid_token\"")
        );
        assert_eq!(
            res.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
        assert_eq!(res.headers()[header::CACHE_CONTROL], "no-store");
        assert_eq!(text(res).await, r#"{"status":401,"title":"invalid_token"}"#);
        // The refresh route.
        let req = Request::post("/token")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(r#"{"refreshToken":"nope"}"#))
            .unwrap();
        let res = app(&auth).oneshot(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        assert!(!res.headers().contains_key(header::WWW_AUTHENTICATE));
        assert_eq!(text(res).await, r#"{"status":400,"title":"invalid_grant"}"#);
        // The logout route: a wrong method.
        let res = app(&auth).oneshot(get_req("/logout", None)).await.unwrap();
        assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(res.headers()[header::ALLOW], "POST");
        assert_eq!(
            text(res).await,
            r#"{"status":405,"title":"invalid_request"}"#
        );
        // An extractor's refusal in optional mode renders the same way.
        let auth = problem_auth(true);
        let res = app(&auth).oneshot(get_req("/strict", None)).await.unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            res.headers()[header::WWW_AUTHENTICATE],
            "Bearer realm=\"api\""
        );
        assert_eq!(text(res).await, r#"{"status":401,"title":"unauthorized"}"#);
    }
}
