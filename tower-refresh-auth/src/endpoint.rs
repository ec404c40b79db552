//! The two routes the layer answers itself: refresh (`POST /token`, RFC 6749 §6) and
//! logout (`POST /logout`, RFC 7009).

use bytes::Bytes;
use cookie::{Cookie, SameSite};
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, SET_COOKIE};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use serde::{Deserialize, Serialize};

use crate::auth::Inner;
use crate::config::{CookieSettings, Transport};
use crate::credentials::cookie_value;
use crate::error::{AuthError, invalid_request};
use crate::response::{empty, error_response, json};
use crate::token::TokenPair;

/// Which route a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    Refresh,
    Logout,
}

/// The shape a request came in, which decides the shape of the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// `application/json`, camelCase fields: the original app's wire format.
    Json,
    /// `application/x-www-form-urlencoded`: RFC 6749 / RFC 7009.
    Form,
}

/// Answers a refresh or logout request; never fails, every error becomes its response.
pub(crate) async fn handle<B>(
    inner: &Inner,
    which: Endpoint,
    req: Request<B>,
) -> Response<Full<Bytes>>
where
    B: http_body::Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let result = if req.method() != Method::POST {
        Err(AuthError::MethodNotAllowed)
    } else {
        match &inner.transport {
            Transport::Body => body_mode(inner, which, req).await,
            Transport::Cookie(settings) => cookie_mode(inner, settings, which, req.headers()).await,
        }
    };
    result.unwrap_or_else(|err| {
        let mut res = error_response(&err, &inner.realm);
        // A cookie that can never refresh again is cleared, so the browser stops sending it.
        if let (AuthError::InvalidGrant, Transport::Cookie(settings)) = (&err, &inner.transport) {
            set_cookies(inner, settings, res.headers_mut(), None);
        }
        res
    })
}

async fn body_mode<B>(
    inner: &Inner,
    which: Endpoint,
    req: Request<B>,
) -> Result<Response<Full<Bytes>>, AuthError>
where
    B: http_body::Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (format, body) = read_body(inner.body_limit, req).await?;
    match (which, format) {
        (Endpoint::Refresh, Format::Json) => {
            let token = json_token(&body)?;
            let pair = inner.refresh(&token).await?;
            Ok(pair_response(inner, &pair, Format::Json))
        }
        (Endpoint::Refresh, Format::Form) => {
            let params = form_params(&body)?;
            match param(&params, "grant_type") {
                None => return Err(invalid_request("grant_type is missing")),
                Some("refresh_token") => {}
                Some(_) => return Err(AuthError::UnsupportedGrantType),
            }
            let token = param(&params, "refresh_token")
                .filter(|t| !t.is_empty())
                .ok_or_else(|| invalid_request("refresh_token is missing"))?;
            let pair = inner.refresh(token).await?;
            Ok(pair_response(inner, &pair, Format::Form))
        }
        (Endpoint::Logout, Format::Json) => {
            let token = json_token(&body)?;
            inner.logout(&token).await?;
            Ok(empty(StatusCode::NO_CONTENT))
        }
        (Endpoint::Logout, Format::Form) => {
            let params = form_params(&body)?;
            // RFC 7009 §2.1: `token`, with an optional `token_type_hint` we need not follow.
            let token = param(&params, "token")
                .filter(|t| !t.is_empty())
                .ok_or_else(|| invalid_request("token is missing"))?;
            inner.logout(token).await?;
            // RFC 7009 §2.2: 200 whether or not the token was valid.
            Ok(empty(StatusCode::OK))
        }
    }
}

async fn cookie_mode(
    inner: &Inner,
    settings: &CookieSettings,
    which: Endpoint,
    headers: &HeaderMap,
) -> Result<Response<Full<Bytes>>, AuthError> {
    let token = cookie_value(headers, &settings.name).filter(|t| !t.is_empty());
    // SameSite=Strict keeps the cookie off cross-site requests; the custom header is the
    // second defence: a cross-site form cannot set it without a CORS preflight.
    if token.is_some() && !headers.contains_key(&settings.csrf_header) {
        return Err(AuthError::MissingCsrfHeader(settings.csrf_header.clone()));
    }
    match which {
        Endpoint::Refresh => {
            let token = token.ok_or_else(|| invalid_request("the refresh cookie is missing"))?;
            let pair = inner.refresh(token).await?;
            Ok(pair_response(inner, &pair, Format::Json))
        }
        Endpoint::Logout => {
            if let Some(token) = token {
                inner.logout(token).await?;
            }
            let mut res = empty(StatusCode::NO_CONTENT);
            set_cookies(inner, settings, res.headers_mut(), None);
            Ok(res)
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonPair<'a> {
    access_token: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<&'a str>,
    token_type: &'static str,
    expires_in: u64,
}

/// RFC 6749 §5.1.
#[derive(Serialize)]
struct FormPair<'a> {
    access_token: &'a str,
    token_type: &'static str,
    expires_in: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<&'a str>,
}

/// A pair as the client receives it: JSON in the request's style, and in cookie mode the
/// refresh token in `Set-Cookie` instead of the body.
pub(crate) fn pair_response(
    inner: &Inner,
    pair: &TokenPair,
    format: Format,
) -> Response<Full<Bytes>> {
    let in_body = match &inner.transport {
        Transport::Body => Some(pair.refresh_token.as_str()),
        Transport::Cookie(_) => None,
    };
    let mut res = match format {
        Format::Json => json(
            StatusCode::OK,
            &JsonPair {
                access_token: &pair.access_token,
                refresh_token: in_body,
                token_type: "Bearer",
                expires_in: pair.expires_in,
            },
        ),
        Format::Form => json(
            StatusCode::OK,
            &FormPair {
                access_token: &pair.access_token,
                token_type: "Bearer",
                expires_in: pair.expires_in,
                refresh_token: in_body,
            },
        ),
    };
    if let Transport::Cookie(settings) = &inner.transport {
        set_cookies(
            inner,
            settings,
            res.headers_mut(),
            Some(&pair.refresh_token),
        );
    }
    res
}

/// One cookie per route, each scoped to its path, so the refresh token is sent to nothing
/// else. `None` clears them.
fn set_cookies(
    inner: &Inner,
    settings: &CookieSettings,
    headers: &mut HeaderMap,
    token: Option<&str>,
) {
    for path in [&inner.refresh_path, &inner.logout_path] {
        let mut cookie = Cookie::build((settings.name.as_str(), token.unwrap_or("")))
            .http_only(true)
            .secure(settings.secure)
            .same_site(SameSite::Strict)
            .path(path.as_str())
            .build();
        match token {
            Some(_) => cookie.set_max_age(cookie::time::Duration::seconds(
                i64::try_from(inner.refresh_ttl.as_secs()).unwrap_or(i64::MAX),
            )),
            None => cookie.make_removal(),
        }
        if let Ok(value) = HeaderValue::try_from(cookie.to_string()) {
            headers.append(SET_COOKIE, value);
        }
    }
}

/// Reads the body after checking its declared type and size.
async fn read_body<B>(limit: usize, req: Request<B>) -> Result<(Format, Bytes), AuthError>
where
    B: http_body::Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let format = match req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    {
        Some(ct) => {
            let essence = ct.split(';').next().unwrap_or("").trim();
            if essence.eq_ignore_ascii_case("application/json") {
                Format::Json
            } else if essence.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
                Format::Form
            } else {
                return Err(AuthError::UnsupportedMediaType);
            }
        }
        None => return Err(AuthError::UnsupportedMediaType),
    };
    // Refuse a declared oversize body without reading a byte of it.
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(AuthError::PayloadTooLarge(limit));
    }
    match Limited::new(req.into_body(), limit).collect().await {
        Ok(collected) => Ok((format, collected.to_bytes())),
        Err(e) if e.is::<LengthLimitError>() => Err(AuthError::PayloadTooLarge(limit)),
        Err(_) => Err(invalid_request("the request body could not be read")),
    }
}

#[derive(Deserialize)]
struct JsonToken {
    #[serde(rename = "refreshToken")]
    refresh_token: Option<String>,
}

fn json_token(body: &[u8]) -> Result<String, AuthError> {
    let not_an_object =
        || invalid_request("the body must be a JSON object with a string refreshToken");
    // A derived struct also deserializes from a JSON array (`["<token>"]`); only an object is
    // the documented shape. RFC 8259 §2: the text may start with whitespace.
    if body
        .iter()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
        != Some(&b'{')
    {
        return Err(not_an_object());
    }
    let parsed: JsonToken = serde_json::from_slice(body).map_err(|_| not_an_object())?;
    parsed
        .refresh_token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| invalid_request("refreshToken is missing"))
}

fn form_params(body: &[u8]) -> Result<Vec<(String, String)>, AuthError> {
    let params: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
        .map_err(|_| invalid_request("the form body is malformed"))?;
    // RFC 6749 §3.1: parameters must not be included more than once.
    for (i, (name, _)) in params.iter().enumerate() {
        if params[..i].iter().any(|(n, _)| n == name) {
            return Err(invalid_request("a parameter was sent more than once"));
        }
    }
    Ok(params)
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}
