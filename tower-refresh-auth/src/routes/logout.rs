//! `POST /logout`: revokes the session of a refresh token (RFC 7009).

use bytes::Bytes;
use http::{Request, Response, StatusCode};

use super::request::{self, Encoding, Form};
use crate::error::AuthError;
use crate::response::empty;
use crate::shared::Shared;
use crate::transport::Transport;

pub(super) async fn answer<B>(
    shared: &Shared,
    req: Request<B>,
) -> Result<Response<Bytes>, AuthError>
where
    B: http_body::Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    if let Transport::Cookie(cookie) = &shared.http.transport {
        if let Some(token) = cookie.refresh_token(req.headers())? {
            shared.sessions.logout(token).await?;
        }
        let mut res = empty(StatusCode::NO_CONTENT);
        cookie.clear(res.headers_mut());
        return Ok(res);
    }
    let (encoding, body) = request::read(shared.http.body_limit, req).await?;
    match encoding {
        Encoding::Json => {
            shared.sessions.logout(&request::json_token(&body)?).await?;
            Ok(empty(StatusCode::NO_CONTENT))
        }
        Encoding::Form => {
            let form = Form::parse(&body)?;
            // RFC 7009 §2.1: `token`, with an optional `token_type_hint` we need not follow.
            shared
                .sessions
                .logout(form.require("token", "token is missing")?)
                .await?;
            // RFC 7009 §2.2: 200 whether or not the token was valid.
            Ok(empty(StatusCode::OK))
        }
    }
}
