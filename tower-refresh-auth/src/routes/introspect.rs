//! `POST /introspect`: token introspection (RFC 7662) for the configured client
//! (`docs/protocol.md` §14; see [`crate::introspection`]).
//!
//! The order of the checks is the point: the client's credentials before anything else, so
//! an unauthenticated caller learns nothing, not even whether its body would have been read;
//! then the body; then the token, every way of not being live answered alike.

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{Request, Response, StatusCode};
use serde::Serialize;

use super::request::{self, Encoding, Form};
use crate::error::{AuthError, invalid_request};
use crate::introspection::Presented;
use crate::response::{empty, json};
use crate::session::SessionId;
use crate::shared::Shared;
use crate::telemetry::{self, Introspection};
use crate::token::{Claims, Confirmation, NoClaims};

/// The answer about a live token (RFC 7662 §2.2), or `{"active": false}`.
#[derive(Serialize)]
struct Answer<'a> {
    active: bool,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    live: Option<Live<'a>>,
}

/// What an authenticated client learns of a live access token.
#[derive(Serialize)]
struct Live<'a> {
    sub: &'a str,
    exp: u64,
    iat: u64,
    sid: String,
    /// RFC 7662 §2.2: the type of RFC 6749 §5.1 — `Bearer`, or `DPoP` for a bound token
    /// (RFC 9449 §6.2).
    token_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    iss: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cnf: Option<&'a Confirmation>,
}

pub(super) async fn answer<B>(
    shared: &Shared,
    req: Request<B>,
) -> Result<Response<Bytes>, AuthError>
where
    B: http_body::Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let Some(introspection) = &shared.introspection else {
        // The route is mounted only when configured.
        return Ok(empty(StatusCode::NOT_FOUND));
    };
    let outcome = async {
        let presented = Presented::of(req.headers());
        // No credentials, no guess: nothing to count.
        if presented == Presented::Missing {
            return Err(AuthError::InvalidClient);
        }
        // While failures are over their bound, credentials are not even compared.
        if let Some(retry_after_secs) = introspection.throttle.throttled() {
            return Err(AuthError::TooManyRequests { retry_after_secs });
        }
        if !introspection.client.accepts(&presented) {
            tracing::warn!("introspection: client authentication failed");
            return Err(match introspection.throttle.failed() {
                Some(retry_after_secs) => AuthError::TooManyRequests { retry_after_secs },
                None => AuthError::InvalidClient,
            });
        }
        introspect(shared, req).await
    }
    .await;
    telemetry::introspected(match &outcome {
        Ok((_, true)) => Introspection::Active,
        Ok((_, false)) => Introspection::Inactive,
        Err(AuthError::InvalidClient) => Introspection::InvalidClient,
        Err(AuthError::TooManyRequests { .. }) => Introspection::Throttled,
        Err(AuthError::Store(_)) => Introspection::StoreError,
        Err(_) => Introspection::InvalidRequest,
    });
    outcome.map(|(res, _)| res)
}

/// Answers an authenticated client: the response, and whether the token was live.
async fn introspect<B>(
    shared: &Shared,
    req: Request<B>,
) -> Result<(Response<Bytes>, bool), AuthError>
where
    B: http_body::Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    // RFC 7662 §2.1: the parameters are form-encoded, nothing else.
    let form_encoded = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|ct| ct.split(';').next())
        .is_some_and(|essence| {
            essence
                .trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !form_encoded {
        return Err(invalid_request(
            "send the token form-encoded (application/x-www-form-urlencoded, RFC 7662 §2.1)",
        ));
    }
    let (encoding, body) = request::read(shared.http.body_limit, req).await?;
    debug_assert_eq!(encoding, Encoding::Form);
    let form = Form::parse(&body)?;
    let token = form.require("token", "token is missing")?;
    // RFC 7662 §2.1: `token_type_hint` may be ignored; every token is looked up as an access
    // token, and a refresh token is never live here (no oracle for refresh tokens).
    let now = shared.clock.now();
    let Ok(claims) = shared.access.verify::<NoClaims>(token, now) else {
        return Ok((inactive(), false));
    };
    // Live means its session has not ended either: the gateway asks so that it need not.
    let sid = claims.session()?;
    match shared.sessions.check_session(sid).await {
        Ok(()) => Ok((active(&claims, sid), true)),
        Err(AuthError::InvalidToken(_)) => Ok((inactive(), false)),
        // The store cannot say: a 503 the gateway retries, never a guess either way.
        Err(err) => Err(err),
    }
}

fn inactive() -> Response<Bytes> {
    json(
        StatusCode::OK,
        &Answer {
            active: false,
            live: None,
        },
    )
}

fn active(claims: &Claims<NoClaims>, sid: &SessionId) -> Response<Bytes> {
    json(
        StatusCode::OK,
        &Answer {
            active: true,
            live: Some(Live {
                sub: &claims.sub,
                exp: claims.exp,
                iat: claims.iat,
                sid: sid.to_string(),
                token_type: if claims.cnf.is_some() {
                    "DPoP"
                } else {
                    "Bearer"
                },
                iss: claims.iss.as_deref(),
                cnf: claims.cnf.as_ref(),
            }),
        },
    )
}
