//! The world every fuzz target runs in: a layer with a fixed secret and a stopped clock, one
//! live session, the test-support crate's store that counts its calls, and helpers to send
//! requests through the tower stack without an async runtime (nothing in the layer waits on
//! anything when the body is in memory and the store is the memory store).
//!
//! Inputs may contain placeholders that the targets replace before use, so the fuzzer can
//! reach the code behind a valid MAC or signature without knowing the secret:
//!
//! | placeholder | replaced with |
//! |---|---|
//! | `@RT@` | the session's live refresh token |
//! | `@AT@` | the session's access token |
//! | `@KID@` | the signing key's `kid` |
//! | `@SID@` | the session's id |
//! | `@NOW@` | the clock's time, in seconds |
//! | `@EXP@` | one minute later, in seconds |

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use tower::{Layer, ServiceExt, service_fn};
use tower_refresh_auth::clock::{Clock, ManualClock};
use tower_refresh_auth::store::RefreshStore;
use tower_refresh_auth::{Claims, NoClaims, RefreshAuth, RefreshAuthBuilder, TokenPair};
pub use tower_refresh_auth_test_support::{Reply, TestStore};

/// The HS256 secret of the world.
pub const SECRET: &[u8] = b"the fuzzing secret, at least 32 bytes long";
/// The subject of the world's one session.
pub const SUBJECT: &str = "fuzz-user";

/// The clock's fixed time.
pub fn t0() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

/// A layer, its store and clock, and one live session.
pub struct World {
    pub auth: RefreshAuth<NoClaims>,
    pub clock: ManualClock,
    pub store: TestStore,
    pub pair: TokenPair,
}

impl World {
    /// A world with the default configuration.
    pub fn new() -> Self {
        Self::with(|b| b)
    }

    /// A world whose builder is adjusted by `configure`.
    pub fn with(
        configure: impl FnOnce(RefreshAuthBuilder<NoClaims>) -> RefreshAuthBuilder<NoClaims>,
    ) -> Self {
        let clock = ManualClock::new(t0());
        let store = TestStore::new();
        let builder = RefreshAuth::<NoClaims>::builder()
            .hs256(SECRET.to_vec())
            .clock(clock.clone())
            .store(store.clone());
        let auth = configure(builder).build().expect("a valid configuration");
        let pair =
            block_on(auth.issue(SUBJECT, NoClaims {})).expect("the memory store never fails");
        store.reset_calls();
        Self {
            auth,
            clock,
            store,
            pair,
        }
    }

    /// Replaces the placeholders of the [crate docs](crate) in `input`.
    pub fn substitute(&self, input: &[u8]) -> Vec<u8> {
        let now = t0()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let kid = header_kid(&self.pair.access_token).unwrap_or_default();
        let replacements: [(&[u8], Vec<u8>); 6] = [
            (b"@RT@", self.pair.refresh_token.clone().into_bytes()),
            (b"@AT@", self.pair.access_token.clone().into_bytes()),
            (b"@KID@", kid.into_bytes()),
            (b"@SID@", self.pair.session_id.to_string().into_bytes()),
            (b"@NOW@", now.to_string().into_bytes()),
            (b"@EXP@", (now + 60).to_string().into_bytes()),
        ];
        let mut out = Vec::with_capacity(input.len());
        let mut rest = input;
        'outer: while !rest.is_empty() {
            for (from, to) in &replacements {
                if rest.starts_with(from) {
                    out.extend_from_slice(to);
                    rest = &rest[from.len()..];
                    continue 'outer;
                }
            }
            out.push(rest[0]);
            rest = &rest[1..];
        }
        out
    }

    /// Sends `req` through the layer in front of a service that reports the claims it saw.
    pub fn send(&self, req: Request<Full<Bytes>>) -> Reply {
        let svc = self.auth.layer().layer(service_fn(echo));
        let res = block_on(svc.oneshot(req)).unwrap_or_else(|never| match never {});
        block_on(Reply::read(res))
    }

    /// The session's counter, if the session is live.
    pub fn session_counter(&self) -> Option<u64> {
        block_on(
            self.store
                .inner
                .load(&self.pair.session_id, self.clock.now()),
        )
        .expect("the memory store never fails")
        .map(|s| s.counter)
    }
}

impl Default for World {
    fn default() -> Self {
        Self::new()
    }
}

/// The `kid` in a JWT's header.
fn header_kid(token: &str) -> Option<String> {
    use base64::Engine as _;
    let header = token.split('.').next()?;
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .ok()?;
    let value: serde_json::Value = serde_json::from_slice(&json).ok()?;
    value.get("kid")?.as_str().map(str::to_owned)
}

/// Signs `header.payload` (raw JSON bytes, base64url-encoded here) with the world's secret.
pub fn sign_hs256(header: &[u8], payload: &[u8]) -> String {
    use base64::Engine as _;
    use hmac::Mac as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let signing_input = format!("{}.{}", b64.encode(header), b64.encode(payload));
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET).expect("any key length");
    mac.update(signing_input.as_bytes());
    format!(
        "{signing_input}.{}",
        b64.encode(mac.finalize().into_bytes())
    )
}

/// The inner service: answers with the subject and session of the claims it was given.
async fn echo(req: Request<Full<Bytes>>) -> Result<Response<Full<Bytes>>, Infallible> {
    let body = match req.extensions().get::<Arc<Claims<NoClaims>>>() {
        Some(c) => format!("sub={} sid={}", c.sub, c.session().map_or(String::new(), ToString::to_string)),
        None => "anonymous".to_owned(),
    };
    Ok(Response::new(Full::new(Bytes::from(body))))
}

/// Runs a future that must complete without waiting: everything in the world is in memory.
pub fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..64 {
        if let Poll::Ready(out) = f.as_mut().poll(&mut cx) {
            return out;
        }
    }
    panic!("a future over an in-memory body and store did not complete");
}

/// Checks what every response the layer writes itself must satisfy.
pub fn assert_well_formed_error(reply: &Reply) {
    assert_ne!(
        reply.status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "a 500: {reply:?}"
    );
    assert_eq!(
        reply.headers.get("cache-control").map(|v| v.as_bytes()),
        Some(&b"no-store"[..]),
        "{reply:?}"
    );
    let json: serde_json::Value =
        serde_json::from_slice(&reply.body).unwrap_or_else(|e| panic!("not JSON ({e}): {reply:?}"));
    assert!(json["error"].is_string(), "{reply:?}");
    assert!(json["error_description"].is_string(), "{reply:?}");
}

/// Whether `haystack` contains `needle`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

/// The content types a body target chooses from with the low three bits of its first byte.
const CONTENT_TYPES: [Option<&str>; 8] = [
    Some("application/json"),
    Some("application/x-www-form-urlencoded"),
    Some("application/json; charset=utf-8"),
    Some("Application/X-WWW-Form-Urlencoded ; charset=utf-8"),
    Some("text/plain"),
    None,
    Some("application/json, application/x-www-form-urlencoded"),
    Some("multipart/form-data; boundary=x"),
];

/// The body limit of the body targets: small, so the fuzzer reaches `413` too.
pub const BODY_LIMIT: usize = 512;

/// A `POST` to `path` built from a body target's input: the first byte picks the content type
/// (bits 0–2) and whether a `Content-Length` is declared, truthfully (bit 3) or as a lie
/// (bit 4); the rest, with placeholders replaced, is the body.
pub fn body_request(world: &World, path: &str, data: &[u8]) -> Option<BodyRequest> {
    let (&first, rest) = data.split_first()?;
    let body = world.substitute(rest);
    let content_type = CONTENT_TYPES[usize::from(first & 7)];
    let json_object = body
        .iter()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
        == Some(&b'{');
    let mut req = Request::post(path);
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    if first & 8 != 0 {
        req = req.header("content-length", body.len());
    } else if first & 16 != 0 {
        req = req.header("content-length", "3");
    }
    let request = req.body(Full::new(Bytes::from(body))).ok()?;
    Some(BodyRequest {
        request,
        content_type,
        json_object,
    })
}

/// A request built by [`body_request`], with what the targets check the answer against.
pub struct BodyRequest {
    pub request: Request<Full<Bytes>>,
    /// The `Content-Type` sent, if any.
    pub content_type: Option<&'static str>,
    /// Whether the body is a JSON object (its first non-whitespace byte is `{`).
    pub json_object: bool,
}

impl BodyRequest {
    /// Whether the request was sent as JSON.
    pub fn is_json(&self) -> bool {
        self.content_type.is_some_and(|ct| {
            ct.to_ascii_lowercase().starts_with("application/json;") || ct == "application/json"
        })
    }
}

/// Checks an endpoint error: its status, its RFC 6749 §5.2 code, the shape of the body.
pub fn assert_endpoint_error(reply: &Reply) {
    assert_well_formed_error(reply);
    let json: serde_json::Value = serde_json::from_slice(&reply.body).expect("checked above");
    let code = json["error"].as_str().expect("checked above");
    match reply.status.as_u16() {
        400 => assert!(
            matches!(
                code,
                "invalid_request" | "invalid_grant" | "unsupported_grant_type"
            ),
            "{reply:?}"
        ),
        413 | 415 => assert_eq!(code, "invalid_request", "{reply:?}"),
        other => panic!("unexpected status {other}: {reply:?}"),
    }
    // Endpoint errors carry no challenge (RFC 6749 §5.2).
    assert!(reply.headers.get("www-authenticate").is_none(), "{reply:?}");
}
