//! [`RefreshAuthMiddleware`]: the tower layer's behaviour as a native poem middleware.

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use poem::{Endpoint, IntoResponse, Middleware, Request, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tower_refresh_auth::{RefreshAuth, adapter::Decision};

use crate::response::from_core;

/// Refresh-token authentication for a poem endpoint; wrap a [`Route`](poem::Route) with it
/// via [`EndpointExt::with`](poem::EndpointExt::with).
///
/// For each request it follows the core's [`RefreshAuth::decide`], exactly as
/// [`RefreshAuthLayer`](tower_refresh_auth::RefreshAuthLayer) does:
///
/// 1. the refresh and logout routes (`POST /token`, `POST /logout` by default) are answered
///    here, never reaching the endpoint;
/// 2. otherwise the request is [authenticated](RefreshAuth::authenticate); on success its
///    [`Claims<C>`](tower_refresh_auth::Claims) go into the request extensions;
/// 3. on failure a guarded path is refused with the RFC 6750 response, while a public path
///    (or any path in optional mode) reaches the endpoint with an
///    [`AuthRejection`](tower_refresh_auth::AuthRejection) in the extensions instead.
///
/// Wrapping the whole route tree also guards its unknown paths: without a valid token they
/// are `401`, not `404`.
pub struct RefreshAuthMiddleware<C> {
    auth: RefreshAuth<C>,
}

impl<C> RefreshAuthMiddleware<C> {
    /// A middleware answering for `auth`.
    pub fn new(auth: RefreshAuth<C>) -> Self {
        Self { auth }
    }
}

impl<C> Clone for RefreshAuthMiddleware<C> {
    fn clone(&self) -> Self {
        Self {
            auth: self.auth.clone(),
        }
    }
}

impl<C> std::fmt::Debug for RefreshAuthMiddleware<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefreshAuthMiddleware")
            .field("auth", &self.auth)
            .finish()
    }
}

impl<E, C> Middleware<E> for RefreshAuthMiddleware<C>
where
    E: Endpoint,
    C: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
{
    type Output = RefreshAuthEndpoint<E, C>;

    fn transform(&self, inner: E) -> Self::Output {
        RefreshAuthEndpoint {
            inner,
            auth: self.auth.clone(),
        }
    }
}

/// The endpoint made by [`RefreshAuthMiddleware`].
pub struct RefreshAuthEndpoint<E, C> {
    inner: E,
    auth: RefreshAuth<C>,
}

impl<E: std::fmt::Debug, C> std::fmt::Debug for RefreshAuthEndpoint<E, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefreshAuthEndpoint")
            .field("inner", &self.inner)
            .field("auth", &self.auth)
            .finish()
    }
}

impl<E, C> Endpoint for RefreshAuthEndpoint<E, C>
where
    E: Endpoint,
    C: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
{
    type Output = Response;

    async fn call(&self, mut req: Request) -> poem::Result<Self::Output> {
        let auth = &self.auth;
        let verdict = match auth.decide(req.method(), req.uri(), req.headers()) {
            Decision::Endpoint(route) => {
                let req: http::Request<BoxBody<Bytes, std::io::Error>> = req.into();
                return Ok(from_core(auth.answer(route, req).await));
            }
            Decision::Verdict(verdict) => verdict,
            Decision::StoreCheck(check) => check.run().await,
        };
        if let Err(refused) = verdict.admit(req.extensions_mut()) {
            return Ok(from_core(refused.response_to(req.headers())));
        }
        self.inner.call(req).await.map(IntoResponse::into_response)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use http::{StatusCode, header};
    use poem::test::{TestClient, TestResponse};
    use poem::{EndpointExt, Route, get, handler};
    use tower_refresh_auth::NoClaims;

    use super::*;
    use crate::{AuthClaims, OptionalAuthClaims};

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

    #[handler]
    fn who(AuthClaims(claims): AuthClaims) -> String {
        claims.sub
    }

    #[handler]
    fn maybe(OptionalAuthClaims(claims): OptionalAuthClaims) -> String {
        claims.map_or_else(|| "anonymous".to_owned(), |c| c.sub)
    }

    fn routes() -> Route {
        Route::new()
            .at("/me", get(who))
            .at("/public", get(maybe))
            .at("/strict", get(who))
    }

    async fn send(auth: &RefreshAuth, path: &str, token: Option<&str>) -> TestResponse {
        let client = TestClient::new(routes().with(RefreshAuthMiddleware::new(auth.clone())));
        let mut req = client.get(path);
        if let Some(token) = token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        req.send().await
    }

    #[tokio::test]
    async fn routes_are_guarded_and_claims_reach_the_handler() {
        let auth = auth(false);
        let pair = auth.issue("user1", NoClaims {}).await.unwrap();
        let res = send(&auth, "/me", None).await;
        res.assert_status(StatusCode::UNAUTHORIZED);
        res.assert_header(header::WWW_AUTHENTICATE, "Bearer realm=\"api\"");
        res.assert_header(header::CACHE_CONTROL, "no-store");
        let res = send(&auth, "/me", Some(&pair.access_token)).await;
        res.assert_status_is_ok();
        res.assert_text("user1").await;
    }

    #[tokio::test]
    async fn the_endpoints_and_unknown_paths_are_covered() {
        let auth = auth(false);
        let pair = auth.issue("user1", NoClaims {}).await.unwrap();
        let client = TestClient::new(routes().with(RefreshAuthMiddleware::new(auth.clone())));
        let res = client
            .post("/token")
            .content_type("application/json")
            .body(format!(r#"{{"refreshToken":"{}"}}"#, pair.refresh_token))
            .send()
            .await;
        res.assert_status_is_ok();
        res.assert_header(header::CACHE_CONTROL, "no-store");
        let renewed: serde_json::Value =
            serde_json::from_slice(&res.0.into_body().into_bytes().await.unwrap()).unwrap();
        let renewed = renewed["refreshToken"].as_str().unwrap().to_owned();
        let res = client.get("/token").send().await;
        res.assert_status(StatusCode::METHOD_NOT_ALLOWED);
        res.assert_header(header::ALLOW, "POST");
        // /logout is answered too, and revokes the session.
        let res = client
            .post("/logout")
            .content_type("application/json")
            .body(format!(r#"{{"refreshToken":"{renewed}"}}"#))
            .send()
            .await;
        res.assert_status(StatusCode::NO_CONTENT);
        let res = client
            .post("/token")
            .content_type("application/json")
            .body(format!(r#"{{"refreshToken":"{renewed}"}}"#))
            .send()
            .await;
        res.assert_status(StatusCode::BAD_REQUEST);
        let res = client.get("/logout").send().await;
        res.assert_status(StatusCode::METHOD_NOT_ALLOWED);

        send(&auth, "/nowhere", None)
            .await
            .assert_status(StatusCode::UNAUTHORIZED);
        send(&auth, "/nowhere", Some(&pair.access_token))
            .await
            .assert_status(StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn optional_claims_are_none_without_credentials_and_refuse_a_bad_token() {
        let auth = auth(false);
        let res = send(&auth, "/public", None).await;
        res.assert_status_is_ok();
        res.assert_text("anonymous").await;
        let res = send(&auth, "/public", Some("not-a-token")).await;
        res.assert_status(StatusCode::UNAUTHORIZED);
        let challenge = res.0.headers()[header::WWW_AUTHENTICATE].to_str().unwrap();
        assert!(challenge.starts_with("Bearer realm=\"api\", error=\"invalid_token\""));
    }

    #[tokio::test]
    async fn in_optional_mode_the_extractor_refuses_as_the_middleware_would() {
        // The extractor's refusal in optional mode, and the middleware's on a guarded path,
        // for the same credentials: the same answer.
        let by_extractor = send(&auth(true), "/strict", Some("not-a-token")).await;
        let by_middleware = send(&auth(false), "/strict", Some("not-a-token")).await;
        by_extractor.assert_status(StatusCode::UNAUTHORIZED);
        assert_eq!(by_extractor.0.status(), by_middleware.0.status());
        assert_eq!(by_extractor.0.headers(), by_middleware.0.headers());
        assert_eq!(
            by_extractor.0.into_body().into_bytes().await.unwrap(),
            by_middleware.0.into_body().into_bytes().await.unwrap()
        );
        let res = send(&auth(true), "/strict", None).await;
        res.assert_header(header::WWW_AUTHENTICATE, "Bearer realm=\"api\"");
        res.assert_header(header::CACHE_CONTROL, "no-store");
    }

    #[tokio::test]
    async fn without_the_middleware_the_extractors_say_so() {
        let client = TestClient::new(routes());
        let res = client.get("/me").send().await;
        res.assert_status(StatusCode::INTERNAL_SERVER_ERROR);
        let text = res.0.into_body().into_string().await.unwrap();
        assert!(text.contains("is the RefreshAuthLayer installed?"));
        client
            .get("/public")
            .send()
            .await
            .assert_status(StatusCode::INTERNAL_SERVER_ERROR);
    }

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
        let client = TestClient::new(routes().with(RefreshAuthMiddleware::new(auth.clone())));
        // A guarded path, refused by the middleware.
        let res = send(&auth, "/me", Some("garbage")).await;
        res.assert_status(StatusCode::UNAUTHORIZED);
        let challenge = res.0.headers()[header::WWW_AUTHENTICATE].to_str().unwrap();
        assert!(challenge.starts_with("Bearer realm=\"api\", error=\"invalid_token\""));
        res.assert_header(header::CONTENT_TYPE, "application/problem+json");
        res.assert_header(header::CACHE_CONTROL, "no-store");
        res.assert_text(r#"{"status":401,"title":"invalid_token"}"#)
            .await;
        // The refresh route.
        let res = client
            .post("/token")
            .content_type("application/json")
            .body(r#"{"refreshToken":"nope"}"#)
            .send()
            .await;
        res.assert_status(StatusCode::BAD_REQUEST);
        res.assert_header_is_not_exist(header::WWW_AUTHENTICATE);
        res.assert_text(r#"{"status":400,"title":"invalid_grant"}"#)
            .await;
        // The logout route: a wrong method.
        let res = client.get("/logout").send().await;
        res.assert_status(StatusCode::METHOD_NOT_ALLOWED);
        res.assert_header(header::ALLOW, "POST");
        res.assert_text(r#"{"status":405,"title":"invalid_request"}"#)
            .await;
        // An extractor's refusal in optional mode renders the same way.
        let auth = problem_auth(true);
        let res = send(&auth, "/strict", None).await;
        res.assert_status(StatusCode::UNAUTHORIZED);
        res.assert_header(header::WWW_AUTHENTICATE, "Bearer realm=\"api\"");
        res.assert_text(r#"{"status":401,"title":"unauthorized"}"#)
            .await;
    }
}
