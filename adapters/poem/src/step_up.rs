//! [`StepUpClaims`]: the verified claims, once the login meets the endpoint's step-up
//! requirement (RFC 9470, `docs/protocol.md` §15).

use std::ops::Deref;

use poem::{FromRequest, Request, RequestBody};
use tower_refresh_auth::step_up::StepUp;
use tower_refresh_auth::{Claims, NoClaims, RefreshAuth};

use crate::ClaimsRejection;
use crate::extract::claims;

/// The verified [`Claims`] of the request's access token, when the user authenticated
/// recently enough (and in the way) the endpoint requires: its [`StepUp`], given to the
/// endpoint as data (`.data(StepUp::max_age(…))`), beside the [`RefreshAuth<C>`] the
/// middleware was built from (`.data(auth)`), whose clock and error format it uses.
///
/// Otherwise the request is refused as [`RefreshAuth::step_up`] renders it: `401` with
/// `WWW-Authenticate: Bearer …, error="insufficient_user_authentication", …, max_age=N` (or
/// `acr_values="…"`, RFC 9470 §3) and the JSON body of `docs/protocol.md` §1 — or the
/// application's [error body](tower_refresh_auth::RefreshAuthBuilder::error_body). The client
/// has the user confirm who they are; the application checks it and calls
/// [`RefreshAuth::reauthenticate`], and the client retries with the new access token.
///
/// Without the requirement or the authority in the endpoint's data, or without the
/// middleware, the extractor refuses with a `500` that says what is missing
/// ([`ClaimsRejection::StepUpMissing`], [`ClaimsRejection::LayerMissing`]).
///
/// ```
/// use std::time::Duration;
/// use poem::{EndpointExt, Route, handler, post};
/// use tower_refresh_auth::step_up::StepUp;
/// use tower_refresh_auth::{NoClaims, RefreshAuth};
/// use tower_refresh_auth_poem::{RefreshAuthMiddleware, StepUpClaims};
///
/// #[handler]
/// fn delete_account(StepUpClaims(claims): StepUpClaims) -> String {
///     format!("{}'s account is gone", claims.sub)
/// }
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let auth = RefreshAuth::<NoClaims>::builder()
///     .hs256(b"an example secret of at least 32 bytes".to_vec())
///     .build()?;
/// let app = Route::new()
///     // Logged in (or re-authenticated) within the last five minutes.
///     .at("/account/delete", post(delete_account).data(StepUp::max_age(Duration::from_secs(300))))
///     .data(auth.clone())
///     .with(RefreshAuthMiddleware::new(auth));
/// # let _ = app;
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

impl<'a, C> FromRequest<'a> for StepUpClaims<C>
where
    C: Clone + Send + Sync + 'static,
{
    async fn from_request(req: &'a Request, _body: &mut RequestBody) -> poem::Result<Self> {
        let claims = claims::<C>(req)?;
        let (Some(requirement), Some(auth)) = (req.data::<StepUp>(), req.data::<RefreshAuth<C>>())
        else {
            return Err(ClaimsRejection::StepUpMissing.into());
        };
        auth.step_up(&claims, requirement)
            .map_err(ClaimsRejection::Refused)?;
        Ok(Self(claims))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::time::Duration;

    use poem::http::StatusCode;
    use poem::test::TestClient;
    use poem::{Endpoint, EndpointExt, Route, handler, post};
    use tower_refresh_auth::AuthError;
    use tower_refresh_auth::clock::ManualClock;
    use tower_refresh_auth::error::ErrorBody;

    use super::*;
    use crate::RefreshAuthMiddleware;

    #[handler]
    fn sensitive(StepUpClaims(claims): StepUpClaims) -> String {
        format!("ok {}", claims.sub)
    }

    fn app(auth: &RefreshAuth, step_up: Option<StepUp>) -> impl Endpoint {
        let endpoint = match step_up {
            Some(step_up) => post(sensitive).data(step_up).boxed(),
            None => post(sensitive).boxed(),
        };
        Route::new()
            .at("/sensitive", endpoint)
            .data(auth.clone())
            .with(RefreshAuthMiddleware::new(auth.clone()))
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
        let client = TestClient::new(app(&auth, Some(StepUp::max_age(Duration::from_secs(60)))));
        let pair = auth.issue("user1", NoClaims {}).await.unwrap();
        let bearer = format!("Bearer {}", pair.access_token);
        let res = client
            .post("/sensitive")
            .header("authorization", &bearer)
            .send()
            .await;
        res.assert_status_is_ok();

        clock.advance(Duration::from_secs(61));
        let res = client
            .post("/sensitive")
            .header("authorization", &bearer)
            .send()
            .await;
        res.assert_status(StatusCode::UNAUTHORIZED);
        res.assert_header("cache-control", "no-store");
        res.assert_header(
            "www-authenticate",
            "Bearer realm=\"api\", error=\"insufficient_user_authentication\", \
             error_description=\"the login is older than this request allows\", max_age=60",
        );
        res.assert_text(r#"{"code":"insufficient_user_authentication"}"#)
            .await;

        let fresh = auth
            .reauthenticate(&pair.session_id, Default::default())
            .await
            .unwrap();
        let res = client
            .post("/sensitive")
            .header("authorization", format!("Bearer {}", fresh.access_token))
            .send()
            .await;
        res.assert_status_is_ok();
    }

    #[tokio::test]
    async fn an_endpoint_without_a_requirement_is_a_500_that_says_so() {
        let auth = RefreshAuth::<NoClaims>::builder()
            .hs256(b"an example secret of at least 32 bytes".to_vec())
            .build()
            .unwrap();
        let pair = auth.issue("user1", NoClaims {}).await.unwrap();
        let res = TestClient::new(app(&auth, None))
            .post("/sensitive")
            .header("authorization", format!("Bearer {}", pair.access_token))
            .send()
            .await;
        res.assert_status(StatusCode::INTERNAL_SERVER_ERROR);
        assert!(
            res.0
                .into_body()
                .into_string()
                .await
                .unwrap()
                .contains(".data(StepUp")
        );
    }
}
