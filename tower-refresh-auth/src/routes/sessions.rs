//! `GET /sessions`, `DELETE /sessions/{id}`, `DELETE /sessions`: the caller's own sessions,
//! listed and ended (`docs/protocol.md` §8).
//!
//! Guarded by the access token like any path, and more: the caller's own session must still
//! be live in the store, whatever the session-checking setting, so a device whose session
//! has ended cannot end anyone else's. A session of someone else and an unknown id get the
//! same `404`: the answer is no oracle.
//!
//! `GET` answers a page at a time, newest first: at most [`DEFAULT_PAGE`] sessions, or
//! `?limit=` (capped at [`MAX_PAGE`]), and the cursor of the next page as `next`, which
//! `?cursor=` takes back.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{ALLOW, AUTHORIZATION};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode, Uri};
use serde::{Deserialize, Serialize};

use crate::error::AuthError;
use crate::response::{empty, json};
use crate::session::{PageCursor, SessionId, SessionInfoPage};
use crate::shared::Shared;
use crate::token::{Claims, NoClaims};
use crate::transport::Transport;

/// How many sessions `GET /sessions` lists without `?limit=`.
pub(crate) const DEFAULT_PAGE: usize = 50;

/// The most sessions one `GET /sessions` lists, whatever `?limit=` asks.
pub(crate) const MAX_PAGE: usize = 100;

/// What a request names: the caller's sessions, or one of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target<'a> {
    /// `/sessions`.
    All,
    /// `/sessions/{id}`, the id as sent.
    One(&'a str),
}

pub(super) async fn answer<B>(shared: &Shared, req: Request<B>) -> Response<Bytes> {
    let path = req.uri().path();
    let rest = shared
        .http
        .guard
        .sessions_path
        .as_deref()
        .and_then(|base| path.strip_prefix(base))
        .unwrap_or_default();
    let target = match rest.strip_prefix('/') {
        None => Target::All,
        Some(id) => Target::One(id),
    };
    let (allowed, allow) = match target {
        Target::All => (
            req.method() == Method::GET || req.method() == Method::DELETE,
            "GET, DELETE",
        ),
        Target::One(_) => (req.method() == Method::DELETE, "DELETE"),
    };
    if !allowed {
        let mut res = empty(StatusCode::METHOD_NOT_ALLOWED);
        res.headers_mut()
            .insert(ALLOW, HeaderValue::from_static(allow));
        return res;
    }
    match respond(shared, target, req.method(), req.uri(), req.headers()).await {
        Ok(res) => res,
        Err(err) => shared.http.renderer.render(&err),
    }
}

async fn respond(
    shared: &Shared,
    target: Target<'_>,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<Response<Bytes>, AuthError> {
    if method == Method::DELETE {
        csrf(shared, headers)?;
    }
    let claims = authenticate(shared, method, uri, headers).await?;
    let sid = *claims.session()?;
    match target {
        Target::All if method == Method::GET => {
            let (limit, cursor) = page_query(uri)?;
            let page = shared
                .sessions
                .sessions_page(&claims.sub, limit, cursor.as_ref())
                .await?;
            // A page holding the caller's session tells it is live; any other page needs a
            // second store call to tell.
            if !page.sessions.iter().any(|s| s.id == sid) {
                shared.sessions.check_session(&sid).await?;
            }
            Ok(json(StatusCode::OK, &Listing::new(&page, sid)))
        }
        Target::All => {
            shared.sessions.check_session(&sid).await?;
            shared.sessions.revoke_subject(&claims.sub).await?;
            Ok(empty(StatusCode::NO_CONTENT))
        }
        Target::One(id) => {
            shared.sessions.check_session(&sid).await?;
            let ended = match id.parse::<SessionId>() {
                Ok(id) => shared.sessions.revoke_own(&claims.sub, &id).await?,
                Err(_) => false,
            };
            Ok(if ended {
                empty(StatusCode::NO_CONTENT)
            } else {
                not_found()
            })
        }
    }
}

/// The caller's token, verified and counted as on any guarded path (its DPoP proof too,
/// spent); any claims of the application's are ignored.
async fn authenticate(
    shared: &Shared,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<Arc<Claims<NoClaims>>, AuthError> {
    // The route checks the caller's session itself, whatever the session-checking setting.
    shared.authenticate(method, uri, headers, false).await
}

/// An access token that may have come from a cookie ends sessions only with the CSRF header
/// (`docs/protocol.md` §5): a cross-site form cannot send it.
fn csrf(shared: &Shared, headers: &HeaderMap) -> Result<(), AuthError> {
    if shared.http.access_cookie.is_none() || headers.contains_key(AUTHORIZATION) {
        return Ok(());
    }
    let header = csrf_header(shared);
    if headers.contains_key(header) {
        Ok(())
    } else {
        Err(AuthError::MissingCsrfHeader(header.clone()))
    }
}

/// The header a `DELETE` whose access token came in a cookie must carry: cookie mode's CSRF
/// header, or `X-Requested-With` in body transport.
pub(crate) fn csrf_header(shared: &Shared) -> &HeaderName {
    static DEFAULT: HeaderName = HeaderName::from_static("x-requested-with");
    match &shared.http.transport {
        Transport::Cookie(cookie) => &cookie.csrf_header,
        Transport::Body => &DEFAULT,
    }
}

/// `?limit=` and `?cursor=` of a listing; any other parameter is ignored.
#[derive(Deserialize)]
struct PageQuery {
    limit: Option<String>,
    cursor: Option<String>,
}

/// The page a listing asks for: its size (default [`DEFAULT_PAGE`], capped at [`MAX_PAGE`])
/// and where it starts.
fn page_query(uri: &Uri) -> Result<(usize, Option<PageCursor>), AuthError> {
    let bad = |what: &'static str| AuthError::InvalidRequest(what.into());
    let query: PageQuery = serde_urlencoded::from_str(uri.query().unwrap_or_default())
        .map_err(|_| bad("the query string is not one `limit` and one `cursor`"))?;
    let limit = match query.limit.as_deref() {
        None => DEFAULT_PAGE,
        Some(limit) => match limit.parse::<usize>() {
            Ok(0) | Err(_) => return Err(bad("`limit` must be a whole number of at least 1")),
            Ok(n) => n.min(MAX_PAGE),
        },
    };
    let cursor = query
        .cursor
        .map(|c| c.parse::<PageCursor>())
        .transpose()
        .map_err(|_| bad("`cursor` must be the `next` of an earlier page"))?;
    Ok((limit, cursor))
}

/// The same answer for an unknown session and for someone else's.
fn not_found() -> Response<Bytes> {
    json(
        StatusCode::NOT_FOUND,
        &serde_json::json!({"error": "not_found", "error_description": "no such session"}),
    )
}

/// `{"sessions": [...], "next": "…"}`, newest first; `next` only when a page follows.
#[derive(Serialize)]
struct Listing<'a> {
    sessions: Vec<Entry<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Entry<'a> {
    id: SessionId,
    current: bool,
    created_at: String,
    last_refreshed_at: String,
    expires_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_agent: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    label: Option<&'a str>,
}

impl<'a> Listing<'a> {
    fn new(page: &'a SessionInfoPage, current: SessionId) -> Self {
        Self {
            next: page.next.map(|c| c.to_string()),
            sessions: page
                .sessions
                .iter()
                .map(|s| Entry {
                    id: s.id,
                    current: s.id == current,
                    created_at: rfc3339(s.created_at),
                    last_refreshed_at: rfc3339(s.last_refreshed_at),
                    expires_at: rfc3339(s.expires_at),
                    user_agent: s.metadata.user_agent(),
                    label: s.metadata.label(),
                })
                .collect(),
        }
    }
}

/// `t` as an RFC 3339 UTC timestamp to the second, `2027-01-15T08:00:00Z`.
fn rfc3339(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The proleptic Gregorian date `days` after 1970-01-01 (H. Hinnant's `civil_from_days`).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn times_are_rfc3339_utc() {
        let at = |secs| UNIX_EPOCH + Duration::from_secs(secs);
        assert_eq!(rfc3339(at(0)), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(at(951_782_400)), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(at(1_800_000_000)), "2027-01-15T08:00:00Z");
        assert_eq!(rfc3339(at(4_102_444_799)), "2099-12-31T23:59:59Z");
        assert_eq!(
            rfc3339(at(1_700_000_000) + Duration::from_millis(999)),
            "2023-11-14T22:13:20Z"
        );
    }
}
