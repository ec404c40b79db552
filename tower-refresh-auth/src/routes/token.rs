//! `POST /token`, the refresh route: trades a refresh token for a new pair (RFC 6749 §6),
//! and the pair's response in each shape a client may ask for (the session lifecycle behind
//! it is [`sessions`](crate::sessions); the token's format, [`crate::token::refresh_token`]).

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use serde::Serialize;

use super::request::{self, Encoding, Form};
use crate::error::{AuthError, invalid_request};
use crate::response::json_sized;
use crate::shared::Shared;
use crate::token::TokenPair;
use crate::transport::Transport;

pub(super) async fn answer<B>(
    shared: &Shared,
    req: Request<B>,
) -> Result<Response<Bytes>, AuthError>
where
    B: http_body::Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    // RFC 9449 §5: the proof (with DPoP on) is checked before the token is looked at.
    let proof = shared
        .sessions
        .refresh_proof(req.method(), req.uri(), req.headers())
        .await?;
    let proof = proof.as_ref();
    if let Transport::Cookie(cookie) = &shared.http.transport {
        let token = cookie
            .refresh_token(req.headers())?
            .ok_or_else(|| invalid_request("the refresh cookie is missing"))?;
        let pair = shared.sessions.refresh(token, proof).await?;
        return Ok(pair_response(shared, &pair, PairShape::CamelCase));
    }
    let (encoding, body) = request::read(shared.http.body_limit, req).await?;
    // The token is borrowed from the body (or the parsed form) for the rotation.
    match encoding {
        Encoding::Json => {
            let token = request::json_token(&body)?;
            let pair = shared.sessions.refresh(&token, proof).await?;
            Ok(pair_response(shared, &pair, PairShape::CamelCase))
        }
        Encoding::Form => {
            let form = Form::parse(&body)?;
            match form.get("grant_type") {
                None => return Err(invalid_request("grant_type is missing")),
                Some("refresh_token") => {}
                Some(_) => return Err(AuthError::UnsupportedGrantType),
            }
            let token = form.require("refresh_token", "refresh_token is missing")?;
            let pair = shared.sessions.refresh(token, proof).await?;
            Ok(pair_response(shared, &pair, PairShape::Oauth))
        }
    }
}

/// The field names of a token pair response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PairShape {
    /// `accessToken`, `refreshToken`, `tokenType`, `expiresIn`: the original app's names, for
    /// JSON requests, logins and cookie mode.
    CamelCase,
    /// `access_token`, `token_type`, `expires_in`, `refresh_token`: RFC 6749 §5.1, for form
    /// requests.
    Oauth,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CamelCasePair<'a> {
    access_token: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<&'a str>,
    token_type: &'static str,
    expires_in: u64,
}

/// RFC 6749 §5.1.
#[derive(Serialize)]
struct OauthPair<'a> {
    access_token: &'a str,
    token_type: &'static str,
    expires_in: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<&'a str>,
}

/// A pair as the client receives it, with `Cache-Control: no-store`; in cookie mode the
/// refresh token goes into `Set-Cookie` instead of the body.
pub(crate) fn pair_response(
    shared: &Shared,
    pair: &TokenPair,
    shape: PairShape,
) -> Response<Bytes> {
    let in_body = match &shared.http.transport {
        Transport::Body => Some(pair.refresh_token.as_str()),
        Transport::Cookie(_) => None,
    };
    // The two tokens and at most ~90 bytes of names and punctuation: one allocation.
    let capacity = pair.access_token.len() + in_body.map_or(0, str::len) + 96;
    let mut res = match shape {
        PairShape::CamelCase => json_sized(
            StatusCode::OK,
            &CamelCasePair {
                access_token: &pair.access_token,
                refresh_token: in_body,
                token_type: pair.token_type(),
                expires_in: pair.expires_in,
            },
            capacity,
        ),
        PairShape::Oauth => json_sized(
            StatusCode::OK,
            &OauthPair {
                access_token: &pair.access_token,
                token_type: pair.token_type(),
                expires_in: pair.expires_in,
                refresh_token: in_body,
            },
            capacity,
        ),
    };
    if let Transport::Cookie(cookie) = &shared.http.transport {
        cookie.set(res.headers_mut(), &pair.refresh_token);
    }
    // RFC 9449 §8.2: with server nonces on, every pair comes with the current nonce, so a
    // client rarely needs a `use_dpop_nonce` round trip.
    if let Some(nonces) = shared.dpop.settings().and_then(|d| d.rules.nonces.as_ref())
        && let Ok(nonce) = http::HeaderValue::try_from(nonces.issue(shared.clock.now()))
    {
        res.headers_mut().insert(crate::response::DPOP_NONCE, nonce);
    }
    res
}
