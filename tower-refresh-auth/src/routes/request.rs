//! Reading the body of a refresh or logout request: its encoding, its size, its fields.

use std::borrow::Cow;

use bytes::Bytes;
use http::Request;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::Deserialize;

use crate::error::{AuthError, invalid_request};

/// How a request body is encoded, which decides the shape of the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    /// `application/json` with a camelCase `refreshToken`: the original app's wire format.
    Json,
    /// `application/x-www-form-urlencoded`: the parameters of RFC 6749 / RFC 7009.
    Form,
}

/// Reads the body after checking its declared type and size.
pub(crate) async fn read<B>(limit: usize, req: Request<B>) -> Result<(Encoding, Bytes), AuthError>
where
    B: http_body::Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let encoding = match req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    {
        Some(ct) => {
            let essence = ct.split(';').next().unwrap_or("").trim();
            if essence.eq_ignore_ascii_case("application/json") {
                Encoding::Json
            } else if essence.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
                Encoding::Form
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
        Ok(collected) => Ok((encoding, collected.to_bytes())),
        Err(e) if e.is::<LengthLimitError>() => Err(AuthError::PayloadTooLarge(limit)),
        Err(_) => Err(invalid_request("the request body could not be read")),
    }
}

#[derive(Deserialize)]
struct JsonToken<'a> {
    /// Borrowed from the body unless the JSON string has escapes (a genuine token has none).
    #[serde(rename = "refreshToken", borrow)]
    refresh_token: Option<Cow<'a, str>>,
}

/// The `refreshToken` of a JSON body, borrowed from it.
pub(crate) fn json_token(body: &[u8]) -> Result<Cow<'_, str>, AuthError> {
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
    let parsed: JsonToken<'_> = serde_json::from_slice(body).map_err(|_| not_an_object())?;
    parsed
        .refresh_token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| invalid_request("refreshToken is missing"))
}

/// The parameters of a form body, each at most once (RFC 6749 §3.1).
pub(crate) struct Form(Vec<(String, String)>);

impl Form {
    pub(crate) fn parse(body: &[u8]) -> Result<Self, AuthError> {
        let params: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
            .map_err(|_| invalid_request("the form body is malformed"))?;
        // RFC 6749 §3.1: parameters must not be included more than once.
        for (i, (name, _)) in params.iter().enumerate() {
            if params[..i].iter().any(|(n, _)| n == name) {
                return Err(invalid_request("a parameter was sent more than once"));
            }
        }
        Ok(Self(params))
    }

    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// A parameter that must be present and non-empty.
    pub(crate) fn require(&self, name: &str, missing: &'static str) -> Result<&str, AuthError> {
        self.get(name)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| invalid_request(missing))
    }
}
