//! The attack matrix: one test per row, each asserting the status and error code
//! `docs/protocol.md` gives and, where a session is involved, that it is exactly as it was
//! before the attack.
//!
//! Forged access tokens are signed with the layer's *own* secret wherever that makes the
//! attack stronger, so the one check under test is the only thing that can refuse them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};
use tower_refresh_auth::dpop::Dpop;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use bytes::Bytes;
use common::{Harness, SECRET, admin};
use hmac::{Hmac, Mac};
use http::{HeaderValue, Request, Response, StatusCode};
use http_body::Frame;
use serde_json::{Value, json};
use sha2::Sha256;
use tower::{Layer, ServiceBuilder, ServiceExt, service_fn};
use tower_refresh_auth::clock::Clock;
use tower_refresh_auth::keys::{SigningKey, VerifyingKey};
use tower_refresh_auth::session::SessionId;
use tower_refresh_auth::store::RefreshStore;
use tower_refresh_auth::{Algorithm, TokenPair, transport::RefreshTransport};
use tower_refresh_auth_test_support::Reply;

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// `header.payload.signature` with an HS256 MAC under `key`, from raw JSON text (so that
/// duplicate keys and odd spellings survive).
fn hs256(header: &str, payload: &str, key: &[u8]) -> String {
    let input = format!("{}.{}", B64.encode(header), B64.encode(payload));
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(input.as_bytes());
    format!("{input}.{}", B64.encode(mac.finalize().into_bytes()))
}

/// The decoded header and payload of a genuine token, as JSON text.
fn parts(token: &str) -> (String, String) {
    let mut it = token.split('.');
    let mut next = || String::from_utf8(B64.decode(it.next().unwrap()).unwrap()).unwrap();
    (next(), next())
}

/// A genuine header with some fields replaced or added.
fn header_with(token: &str, changes: Value) -> String {
    let mut header: Value = serde_json::from_str(&parts(token).0).unwrap();
    for (k, v) in changes.as_object().unwrap() {
        header[k] = v.clone();
    }
    header.to_string()
}

/// A genuine payload with raw JSON text inserted before its closing brace.
fn payload_plus(token: &str, extra: &str) -> String {
    let payload = parts(token).1;
    format!("{},{extra}}}", &payload[..payload.len() - 1])
}

/// The session as the store holds it: `(counter, expires_at)`, or `None` when not live.
async fn session(h: &Harness, id: &SessionId) -> Option<(u64, SystemTime)> {
    h.store
        .inner
        .load(id, h.clock.now())
        .await
        .unwrap()
        .map(|s| (s.counter, s.expires_at))
}

/// A logged-in session and a snapshot of its state, to compare after an attack.
async fn victim(h: &Harness) -> (TokenPair, Option<(u64, SystemTime)>) {
    let pair = h.login().await;
    let state = session(h, &pair.session_id).await;
    assert_eq!(state.map(|s| s.0), Some(0));
    (pair, state)
}

#[track_caller]
fn assert_invalid_token(res: &Reply, what: &str) {
    assert_eq!(res.status, 401, "{what}: {}", res.text());
    res.assert_challenge(401, "invalid_token");
}

#[track_caller]
fn assert_invalid_request(res: &Reply, what: &str) {
    assert_eq!(res.status, 400, "{what}: {}", res.text());
    res.assert_challenge(400, "invalid_request");
}

async fn get_with(h: &Harness, authorization: &[&[u8]], cookie: Option<&str>) -> Reply {
    let mut req = Request::get("/api/dashboard");
    for value in authorization {
        req = req.header("authorization", HeaderValue::from_bytes(value).unwrap());
    }
    if let Some(cookie) = cookie {
        req = req.header("cookie", cookie);
    }
    h.send(req.body(String::new()).unwrap()).await
}

// ---------------------------------------------------------------------------------------
// Access tokens: header parameters
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn alg_none_in_every_spelling_is_refused() {
    let h = Harness::new();
    let pair = h.login().await;
    let payload = B64.encode(parts(&pair.access_token).1);
    let genuine_sig = pair.access_token.rsplit('.').next().unwrap();
    for alg in [
        "none",
        "None",
        "NONE",
        "nOnE",
        "none ",
        " none",
        "none\u{0}",
    ] {
        let header = B64.encode(header_with(&pair.access_token, json!({ "alg": alg })).as_bytes());
        for sig in ["", genuine_sig] {
            let token = format!("{header}.{payload}.{sig}");
            assert_invalid_token(&h.get("/x", Some(&token)).await, alg);
        }
        // The same, MACed with the real secret: `alg` itself is what refuses it.
        let token = hs256(
            &header_with(&pair.access_token, json!({ "alg": alg })),
            &parts(&pair.access_token).1,
            SECRET,
        );
        assert_invalid_token(&h.get("/x", Some(&token)).await, alg);
    }
    assert_eq!(h.get("/x", Some(&pair.access_token)).await.status, 200);
}

#[tokio::test]
async fn hs256_signed_with_the_public_key_is_refused() {
    // RFC 8725 §3.1: the classic key-confusion attack against asymmetric deployments.
    for (alg, private, public) in [
        (
            Algorithm::RS256,
            &include_bytes!("keys/rsa.pem")[..],
            &include_bytes!("keys/rsa.pub.pem")[..],
        ),
        (
            Algorithm::ES256,
            include_bytes!("keys/es256.pem"),
            include_bytes!("keys/es256.pub.pem"),
        ),
        (
            Algorithm::EdDSA,
            include_bytes!("keys/ed25519.pem"),
            include_bytes!("keys/ed25519.pub.pem"),
        ),
    ] {
        let key = SigningKey::from_pem(alg, private, public).unwrap();
        let h = Harness::with(|b| {
            b.signing_key(key)
                .refresh_secret(b"a refresh-token secret of 32+ bytes".to_vec())
        });
        let pair = h.login().await;
        assert_eq!(h.get("/x", Some(&pair.access_token)).await.status, 200);
        let header = header_with(&pair.access_token, json!({ "alg": "HS256" }));
        let payload = parts(&pair.access_token).1;
        let pem = std::str::from_utf8(public).unwrap();
        let der = B64
            .decode(
                pem.lines()
                    .filter(|l| !l.starts_with("-----"))
                    .collect::<String>()
                    .replace('+', "-")
                    .replace('/', "_")
                    .trim_end_matches('='),
            )
            .unwrap();
        for secret in [public, pem.trim_end().as_bytes(), &der] {
            let token = hs256(&header, &payload, secret);
            assert_invalid_token(&h.get("/x", Some(&token)).await, &format!("{alg:?}"));
        }
    }
}

#[tokio::test]
async fn unknown_huge_and_path_kids_are_refused() {
    let h = Harness::new();
    let rotated = Harness::with(|b| {
        b.previous_key(VerifyingKey::hmac(Algorithm::HS256, vec![7; 32]).with_kid("old"))
    });
    for h in [&h, &rotated] {
        let pair = h.login().await;
        let payload = parts(&pair.access_token).1;
        for kid in [
            json!("unknown"),
            json!("../../etc/passwd"),
            json!("/dev/zero"),
            json!("' OR '1'='1"),
            json!("x".repeat(6000)),
            json!(""),
            json!(42),
            json!(["old"]),
        ] {
            let token = hs256(
                &header_with(&pair.access_token, json!({ "kid": kid })),
                &payload,
                SECRET,
            );
            assert_invalid_token(&h.get("/x", Some(&token)).await, &kid.to_string());
        }
        // No kid at all, or a null one (RFC 7515 §4.1.4: optional): accepted when exactly
        // one key could have signed it, refused as "no kid" when several could.
        let mut header: Value = serde_json::from_str(&parts(&pair.access_token).0).unwrap();
        header.as_object_mut().unwrap().remove("kid");
        let absent = hs256(&header.to_string(), &payload, SECRET);
        let null = hs256(
            &header_with(&pair.access_token, json!({ "kid": null })),
            &payload,
            SECRET,
        );
        for token in [absent, null] {
            let res = h.get("/x", Some(&token)).await;
            if std::ptr::eq(h, &rotated) {
                assert_invalid_token(&res, "no kid");
                assert!(
                    res.text().contains("the token has no kid"),
                    "{}",
                    res.text()
                );
            } else {
                assert_eq!(res.status, 200, "{}", res.text());
            }
        }
        assert_eq!(h.get("/x", Some(&pair.access_token)).await.status, 200);
    }
    // A real kid of another key, with a token MACed under the current secret: the kid pins
    // the key, so the token is checked under the old key and fails.
    let pair = rotated.login().await;
    let token = hs256(
        &header_with(&pair.access_token, json!({ "kid": "old" })),
        &parts(&pair.access_token).1,
        SECRET,
    );
    assert_invalid_token(&rotated.get("/x", Some(&token)).await, "kid of the old key");
}

/// A `TcpListener` on loopback that records whether anyone connected.
fn trap() -> (std::net::TcpListener, String) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}/keys", listener.local_addr().unwrap());
    (listener, url)
}

#[track_caller]
fn assert_never_fetched(listener: &std::net::TcpListener) {
    match listener.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("the layer connected to a URL from a token header: {other:?}"),
    }
}

#[tokio::test]
async fn jku_x5u_x5c_and_jwk_never_supply_the_key() {
    // RFC 8725 §3.10 and the CVE-2018-0114 family: a token that brings its own key (or a URL
    // to one) and is signed with it.
    let h = Harness::new();
    let pair = h.login().await;
    let payload = parts(&pair.access_token).1;
    let (listener, url) = trap();
    let attacker = b"the attacker's own secret, 32+ bytes long";
    let jwk = json!({ "kty": "oct", "k": B64.encode(attacker) });
    for extra in [
        json!({ "jwk": jwk }),
        json!({ "jku": url }),
        json!({ "x5u": url }),
        json!({ "x5c": [B64.encode(b"not a certificate")] }),
        json!({ "jwk": jwk, "jku": url, "x5u": url }),
    ] {
        let token = hs256(
            &header_with(&pair.access_token, extra.clone()),
            &payload,
            attacker,
        );
        assert_invalid_token(&h.get("/x", Some(&token)).await, &extra.to_string());
    }
    assert_never_fetched(&listener);
}

#[tokio::test]
async fn jku_x5u_x5c_and_jwk_on_an_otherwise_valid_token_are_ignored() {
    // `docs/protocol.md` §1 lists what refuses a token; these headers are not on it. RFC 7515
    // §4.1.2–§4.1.5 make them optional hints, and the layer's keys are pinned by
    // configuration, so a token that verifies under a configured key is accepted and the
    // hints are never followed.
    let h = Harness::new();
    let pair = h.login().await;
    let payload = parts(&pair.access_token).1;
    let (listener, url) = trap();
    let jwk = json!({ "kty": "oct", "k": B64.encode(b"some other key material, 32 bytes!") });
    let header = header_with(
        &pair.access_token,
        json!({ "jku": url, "x5u": url, "jwk": jwk, "x5c": [B64.encode(b"not a certificate")] }),
    );
    let token = hs256(&header, &payload, SECRET);
    let res = h.get("/x", Some(&token)).await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert!(res.text().starts_with("claims sub=user1"));
    assert_never_fetched(&listener);
}

#[tokio::test]
async fn crit_is_refused() {
    // RFC 7515 §4.1.11: an extension we do not understand must make the token invalid.
    let h = Harness::new();
    let pair = h.login().await;
    let payload = parts(&pair.access_token).1;
    for extra in [
        json!({ "crit": ["x-unknown"], "x-unknown": true }),
        json!({ "crit": ["exp"] }),
        json!({ "crit": [] }),
        json!({ "crit": ["b64"], "b64": false }),
    ] {
        let token = hs256(
            &header_with(&pair.access_token, extra.clone()),
            &payload,
            SECRET,
        );
        assert_invalid_token(&h.get("/x", Some(&token)).await, &extra.to_string());
    }
}

#[tokio::test]
async fn wrong_typ_is_refused() {
    let h = Harness::new();
    let pair = h.login().await;
    let payload = parts(&pair.access_token).1;
    for typ in [
        json!("JWT"),
        json!("jwt"),
        json!("at+jwt "),
        json!(null),
        json!(1),
    ] {
        let token = hs256(
            &header_with(&pair.access_token, json!({ "typ": typ })),
            &payload,
            SECRET,
        );
        assert_invalid_token(&h.get("/x", Some(&token)).await, &typ.to_string());
    }
}

// ---------------------------------------------------------------------------------------
// Access tokens: size and claims
// ---------------------------------------------------------------------------------------

/// A genuinely signed token of exactly `len` bytes, padded with an extra claim.
fn token_of_len(genuine: &str, len: usize) -> String {
    let sign = |pad: usize| {
        hs256(
            &parts(genuine).0,
            &payload_plus(genuine, &format!(r#""pad":"{}""#, "p".repeat(pad))),
            SECRET,
        )
    };
    // Each padding byte adds 4/3 of a character: start just below the estimate.
    let estimate = (len - sign(0).len()) * 3 / 4;
    for pad in estimate.saturating_sub(8)..estimate + 8 {
        for header_pad in 0..4 {
            let header = header_with(genuine, json!({ "x": "h".repeat(header_pad) }));
            let token = hs256(
                &header,
                &payload_plus(genuine, &format!(r#""pad":"{}""#, "p".repeat(pad))),
                SECRET,
            );
            if token.len() == len {
                return token;
            }
        }
    }
    panic!("no padding gives a token of {len} bytes");
}

#[tokio::test]
async fn tokens_over_8_kib_are_refused_before_parsing() {
    // The limit is 8 KiB (8192 bytes) of token; our own tokens are a few hundred bytes.
    let h = Harness::new();
    let pair = h.login().await;
    let at_limit = token_of_len(&pair.access_token, 8192);
    assert_eq!(h.get("/x", Some(&at_limit)).await.status, 200);
    let over = token_of_len(&pair.access_token, 8193);
    let res = h.get("/x", Some(&over)).await;
    assert_invalid_token(&res, "8193 bytes");
    assert_eq!(res.json()["error_description"], "the token is too long");
    // Garbage over the limit gets the same answer, not a parse error: nothing was parsed.
    let junk = "A".repeat(8193);
    let res = h.get("/x", Some(&junk)).await;
    assert_eq!(res.json()["error_description"], "the token is too long");
    // A megabyte of it is refused just the same.
    let huge = format!("{}.{}.{}", "A".repeat(1 << 20), "B", "C");
    assert_invalid_token(&h.get("/x", Some(&huge)).await, "1 MiB");
}

#[tokio::test]
async fn deeply_nested_claims_are_refused_without_overflowing_the_stack() {
    let h = Harness::new();
    let pair = h.login().await;
    // Shallow nesting is just an unknown claim: accepted and ignored.
    let shallow = format!(r#""x":{}{}"#, "[".repeat(32), "]".repeat(32));
    let token = hs256(
        &parts(&pair.access_token).0,
        &payload_plus(&pair.access_token, &shallow),
        SECRET,
    );
    assert_eq!(h.get("/x", Some(&token)).await.status, 200);
    // Past serde_json's recursion limit (128), refused, whatever the depth: just past the
    // limit, halfway, and as deep as a token can nest within the 8 KiB token limit
    // (deeper tokens are refused for their length alone, before parsing: see
    // `tokens_over_8_kib_are_refused_before_parsing`).
    for (open, close) in [("[", "]"), (r#"{"a":"#, "}")] {
        let token_at = |depth: usize| {
            let deep = format!(r#""x":{}1{}"#, open.repeat(depth), close.repeat(depth));
            hs256(
                &parts(&pair.access_token).0,
                &payload_plus(&pair.access_token, &deep),
                SECRET,
            )
        };
        // Binary search for the deepest nesting that fits: `low` fits, `high` does not.
        let (mut low, mut high) = (129, 8192);
        assert!(token_at(low).len() <= 8192 && token_at(high).len() > 8192);
        while high - low > 1 {
            let mid = (low + high) / 2;
            if token_at(mid).len() <= 8192 {
                low = mid;
            } else {
                high = mid;
            }
        }
        let deepest = low;
        assert!(
            deepest > 4 * 128,
            "{open}: only {deepest} levels fit in 8 KiB"
        );
        for depth in [129, (129 + deepest) / 2, deepest] {
            let token = token_at(depth);
            assert!(token.len() <= 8192, "depth {depth} does not fit");
            let what = format!("{open} nested {depth} deep");
            let res = h.get("/x", Some(&token)).await;
            assert_invalid_token(&res, &what);
            assert_eq!(res.error_description(), "the token is malformed", "{what}");
        }
    }
}

#[tokio::test]
async fn duplicate_json_keys_are_refused() {
    // RFC 7519 §4 and RFC 8725 §3.12 leave a choice: reject or take the last. Rejecting
    // leaves no room for two parsers to disagree about who the subject is.
    let h = Harness::new();
    let pair = h.login().await;
    let (header, _) = parts(&pair.access_token);
    for extra in [
        r#""sub":"admin""#,
        r#""exp":9999999999"#,
        r#""sid":"AAAAAAAAAAAAAAAAAAAAAA""#,
        r#""role":"root""#,
    ] {
        let token = hs256(&header, &payload_plus(&pair.access_token, extra), SECRET);
        assert_invalid_token(&h.get("/x", Some(&token)).await, extra);
    }
    // In the header too: a second `alg` or `kid`.
    let payload = parts(&pair.access_token).1;
    for extra in [r#""alg":"none""#, r#""kid":"other""#, r#""typ":"JWT""#] {
        let dup = format!("{},{extra}}}", &header[..header.len() - 1]);
        let token = hs256(&dup, &payload, SECRET);
        assert_invalid_token(&h.get("/x", Some(&token)).await, extra);
    }
}

#[tokio::test]
async fn non_numeric_exp_is_refused() {
    let h = Harness::new();
    let pair = h.login().await;
    let (header, payload) = parts(&pair.access_token);
    let mut claims: Value = serde_json::from_str(&payload).unwrap();
    let exp = claims["exp"].as_u64().unwrap();
    for bad in [
        json!(exp.to_string()),
        json!(exp as f64 + 0.5),
        json!(-1),
        json!(null),
        json!(true),
        json!([exp]),
        json!({ "exp": exp }),
    ] {
        claims["exp"] = bad.clone();
        let token = hs256(&header, &claims.to_string(), SECRET);
        assert_invalid_token(&h.get("/x", Some(&token)).await, &bad.to_string());
    }
    // Past u64: a number serde cannot hold.
    let raw = payload.replace(&format!("\"exp\":{exp}"), "\"exp\":18446744073709551616");
    assert_invalid_token(
        &h.get("/x", Some(&hs256(&header, &raw, SECRET))).await,
        "u64::MAX + 1",
    );
}

// ---------------------------------------------------------------------------------------
// The Authorization header and the cookie
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn whitespace_and_trailing_garbage_around_the_token() {
    let h = Harness::new();
    let pair = h.login().await;
    let at = &pair.access_token;
    // RFC 7235 §2.1: `auth-scheme 1*SP token68`; more than one space is still the grammar.
    for ok in [format!("Bearer  {at}"), format!("Bearer     {at}")] {
        let res = get_with(&h, &[ok.as_bytes()], None).await;
        assert_eq!(res.status, 200, "{ok:?}");
    }
    for bad in [
        format!("Bearer\t{at}"),
        format!("Bearer \t{at}"),
        format!("Bearer {at}\t"),
        format!("Bearer {at} "),
        format!("Bearer {at} x"),
        format!("Bearer {at},"),
        format!("Bearer {at} Bearer {at}"),
        format!("Bearer {at}\u{a0}"),
    ] {
        assert_invalid_request(&get_with(&h, &[bad.as_bytes()], None).await, &bad);
    }
    // Garbage that is still a b64token is a token, one that does not verify.
    for glued in [
        format!("Bearer {at}.x"),
        format!("Bearer {at}x"),
        format!("Bearer {at}=="),
    ] {
        assert_invalid_token(&get_with(&h, &[glued.as_bytes()], None).await, &glued);
    }
}

#[tokio::test]
async fn two_authorization_headers_are_malformed() {
    let h = Harness::new();
    let pair = h.login().await;
    let bearer = format!("Bearer {}", pair.access_token);
    for second in [bearer.as_str(), "Basic dXNlcjpwYXNz", "Bearer x", ""] {
        let res = get_with(&h, &[bearer.as_bytes(), second.as_bytes()], None).await;
        assert_invalid_request(&res, second);
        let res = get_with(&h, &[second.as_bytes(), bearer.as_bytes()], None).await;
        assert_invalid_request(&res, second);
    }
}

#[tokio::test]
async fn a_token_in_the_header_and_the_cookie_at_once_is_malformed() {
    let h = Harness::with(|b| b.access_token_cookie("access_token"));
    let pair = h.login().await;
    let at = &pair.access_token;
    let bearer = format!("Bearer {at}");
    for cookie in [
        format!("access_token={at}"),
        "access_token=other".to_owned(),
        format!("theme=dark; access_token={at}"),
    ] {
        let res = get_with(&h, &[bearer.as_bytes()], Some(&cookie)).await;
        assert_invalid_request(&res, &cookie);
    }
    // A sibling cookie with bytes that are not UTF-8 neither hides ours nor lets the
    // header-and-cookie check be skipped.
    let mut req = Request::get("/api/dashboard").header("authorization", bearer.as_str());
    req = req.header(
        "cookie",
        HeaderValue::from_bytes(&[b"theme=\xff\xfe; access_token=", at.as_bytes()].concat())
            .unwrap(),
    );
    assert_invalid_request(
        &h.send(req.body(String::new()).unwrap()).await,
        "non-UTF-8 cookie",
    );
    let req = Request::get("/api/dashboard").header(
        "cookie",
        HeaderValue::from_bytes(&[b"theme=\xff\xfe; access_token=", at.as_bytes()].concat())
            .unwrap(),
    );
    assert_eq!(h.send(req.body(String::new()).unwrap()).await.status, 200);
    // The cookie twice is two ways too.
    let twice = format!("access_token={at}; access_token={at}");
    assert_invalid_request(&get_with(&h, &[], Some(&twice)).await, "cookie twice");
    // Either one alone is fine.
    assert_eq!(get_with(&h, &[bearer.as_bytes()], None).await.status, 200);
    let alone = format!("access_token={at}");
    assert_eq!(get_with(&h, &[], Some(&alone)).await.status, 200);
}

#[tokio::test]
async fn non_utf8_header_bytes_are_malformed() {
    let h = Harness::new();
    let pair = h.login().await;
    let with_byte = |b: u8| {
        let mut v = format!("Bearer {}", pair.access_token).into_bytes();
        v.insert(20, b);
        v
    };
    for value in [
        b"Bearer \xff\xfe".to_vec(),
        b"Bearer \xc3\xa9t\xc3\xa9".to_vec(),
        with_byte(0x80),
        with_byte(0xff),
    ] {
        let res = get_with(&h, &[&value], None).await;
        assert_invalid_request(&res, &String::from_utf8_lossy(&value));
    }
}

// ---------------------------------------------------------------------------------------
// The refresh and logout bodies
// ---------------------------------------------------------------------------------------

/// A body that hands out `chunks` in order, counting the bytes it gave away, and then either
/// ends or stalls forever (never waking its task, like a client that stopped sending).
struct TestBody {
    chunks: Vec<Bytes>,
    sent: Arc<AtomicUsize>,
    stall: bool,
}

impl http_body::Body for TestBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.chunks.is_empty() {
            return if self.stall {
                Poll::Pending
            } else {
                Poll::Ready(None)
            };
        }
        let chunk = self.chunks.remove(0);
        self.sent.fetch_add(chunk.len(), Ordering::SeqCst);
        Poll::Ready(Some(Ok(Frame::data(chunk))))
    }
}

/// The layer over `h`'s auth with a handler that must never be reached on the endpoints.
fn endpoint_stack<B>(
    h: &Harness,
) -> impl tower::Service<
    Request<B>,
    Response = Response<tower_refresh_auth::ResponseBody<String>>,
    Error = Infallible,
    Future: Send,
> + Clone
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    h.auth.layer().layer(service_fn(|_req: Request<B>| async {
        Ok::<_, Infallible>(Response::new(String::from("inner service reached")))
    }))
}

#[tokio::test]
async fn megabyte_bodies_are_413_without_being_read() {
    let h = Harness::new();
    let (pair, before) = victim(&h).await;
    let calls = h.store.calls();
    let chunk = Bytes::from(vec![b' '; 64 * 1024]);
    for declared in [true, false] {
        let sent = Arc::new(AtomicUsize::new(0));
        let body = TestBody {
            chunks: vec![chunk.clone(); 64], // 4 MiB
            sent: Arc::clone(&sent),
            stall: false,
        };
        let mut req = Request::post("/token").header("content-type", "application/json");
        if declared {
            req = req.header("content-length", 64 * chunk.len());
        }
        let res = Reply::read(
            endpoint_stack(&h)
                .oneshot(req.body(body).unwrap())
                .await
                .unwrap(),
        )
        .await;
        res.assert_error(413, "invalid_request");
        if declared {
            // A declared oversize body is refused before a byte of it is read.
            assert_eq!(sent.load(Ordering::SeqCst), 0);
        } else {
            // Otherwise reading stops at the first chunk past the 16 KiB limit.
            assert!(sent.load(Ordering::SeqCst) <= chunk.len());
        }
    }
    assert_eq!(h.store.calls(), calls, "an oversize body reached the store");
    assert_eq!(session(&h, &pair.session_id).await, before);
}

#[tokio::test]
async fn the_body_limit_is_16_kib_exactly() {
    let h = Harness::new();
    let (pair, _) = victim(&h).await;
    let body = |len: usize| {
        let json = format!(r#"{{"refreshToken":"{}"}}"#, pair.refresh_token);
        format!("{json}{}", " ".repeat(len - json.len()))
    };
    h.post_json("/token", &body(16 * 1024 + 1))
        .await
        .assert_error(413, "invalid_request");
    assert_eq!(session(&h, &pair.session_id).await.unwrap().0, 0);
    assert_eq!(h.post_json("/token", &body(16 * 1024)).await.status, 200);
}

#[tokio::test(start_paused = true)]
async fn a_stalled_body_is_cut_off_by_request_body_timeout_layer() {
    let h = Harness::new();
    let (pair, before) = victim(&h).await;
    let calls = h.store.calls();
    let stalled = || TestBody {
        chunks: vec![Bytes::from(format!(
            r#"{{"refreshToken":"{}"#,
            &pair.refresh_token[..40]
        ))],
        sent: Arc::default(),
        stall: true,
    };
    let request = |body| {
        Request::post("/token")
            .header("content-type", "application/json")
            .body(body)
            .unwrap()
    };

    // The core has no timer of its own: alone, it waits for the rest of the body forever.
    let alone = tokio::time::timeout(
        Duration::from_secs(3600),
        endpoint_stack(&h).oneshot(request(stalled())),
    )
    .await;
    assert!(
        alone.is_err(),
        "the layer answered a body that never finished"
    );

    // The documented defence: tower-http's RequestBodyTimeoutLayer in front of the layer.
    // The body errors after 10 s of silence and the layer answers 400 invalid_request.
    let started = tokio::time::Instant::now();
    let guarded = ServiceBuilder::new()
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
            Duration::from_secs(10),
        ))
        .service(endpoint_stack(&h));
    let res = Reply::read(guarded.oneshot(request(stalled())).await.unwrap()).await;
    res.assert_error(400, "invalid_request");
    assert_eq!(started.elapsed(), Duration::from_secs(10));
    assert_eq!(h.store.calls(), calls);
    assert_eq!(session(&h, &pair.session_id).await, before);
}

#[tokio::test]
async fn json_bodies_with_the_wrong_shape_are_refused_and_change_nothing() {
    let h = Harness::new();
    let (pair, before) = victim(&h).await;
    let rt = &pair.refresh_token;
    for body in [
        json!({ "refreshToken": 42 }),
        json!({ "refreshToken": true }),
        json!({ "refreshToken": [rt] }),
        json!({ "refreshToken": { "token": rt } }),
        json!({ "refreshToken": "" }),
        json!({ "refresh_token": rt }),
        json!({ "RefreshToken": rt }),
        json!([{ "refreshToken": rt }]),
        // serde reads a struct from an array too: only an object is the documented shape.
        json!([rt]),
        json!(rt),
    ] {
        for path in ["/token", "/logout"] {
            h.post_json(path, &body.to_string())
                .await
                .assert_error(400, "invalid_request");
        }
    }
    // `null` is the field missing.
    h.post_json("/token", r#"{"refreshToken":null}"#)
        .await
        .assert_error(400, "invalid_request");
    // A duplicate key is refused rather than resolved either way.
    let dup = format!(r#"{{"refreshToken":"{rt}","refreshToken":"{rt}"}}"#);
    for path in ["/token", "/logout"] {
        h.post_json(path, &dup)
            .await
            .assert_error(400, "invalid_request");
    }
    // RFC 8259 §8.1: a BOM is not JSON text; refused even with the genuine token behind it.
    let bom = format!("\u{feff}{{\"refreshToken\":\"{rt}\"}}");
    for path in ["/token", "/logout"] {
        h.post_json(path, &bom)
            .await
            .assert_error(400, "invalid_request");
    }
    // Invalid UTF-8 and trailing garbage, as raw bytes.
    for body in [
        b"{\"refreshToken\":\"\xff\"}".to_vec(),
        [format!(r#"{{"refreshToken":"{rt}"#).as_bytes(), b"\xff\"}"].concat(),
        format!(r#"{{"refreshToken":"{rt}"}} x"#).into_bytes(),
        format!(r#"{{"refreshToken":"{rt}"}}{{}}"#).into_bytes(),
    ] {
        for path in ["/token", "/logout"] {
            let req = Request::post(path)
                .header("content-type", "application/json")
                .body(http_body_util::Full::new(Bytes::from(body.clone())))
                .unwrap();
            Reply::read(endpoint_stack(&h).oneshot(req).await.unwrap())
                .await
                .assert_error(400, "invalid_request");
        }
    }
    assert_eq!(session(&h, &pair.session_id).await, before);
    assert_eq!(h.refresh(rt).await.status, 200);
}

#[tokio::test]
async fn extra_json_fields_are_ignored() {
    let h = Harness::new();
    let (pair, _) = victim(&h).await;
    let body = json!({
        "refreshToken": pair.refresh_token,
        "grant_type": "password",
        "__proto__": { "admin": true },
        "sub": "admin",
    });
    let res = h.post_json("/token", &body.to_string()).await;
    assert_eq!(res.status, 200, "{}", res.text());
    let claims = h
        .auth
        .verify(res.json()["accessToken"].as_str().unwrap())
        .unwrap();
    assert_eq!(claims.sub, "user1");
}

#[tokio::test]
async fn form_parameters_sent_twice_are_refused_and_change_nothing() {
    // RFC 6749 §3.1 and RFC 7009 §2.1: parameters must not be included more than once.
    let h = Harness::new();
    let (pair, before) = victim(&h).await;
    let other = h.login().await;
    let (rt, ot) = (&pair.refresh_token, &other.refresh_token);
    for body in [
        format!("grant_type=refresh_token&refresh_token={rt}&refresh_token={rt}"),
        format!("grant_type=refresh_token&refresh_token={ot}&refresh_token={rt}"),
        format!("grant_type=refresh_token&grant_type=refresh_token&refresh_token={rt}"),
        format!("grant_type=password&grant_type=refresh_token&refresh_token={rt}"),
    ] {
        h.post_form("/token", &body)
            .await
            .assert_error(400, "invalid_request");
    }
    for body in [
        format!("token={rt}&token={rt}"),
        format!("token={ot}&token={rt}"),
        format!("token={rt}&token_type_hint=refresh_token&token_type_hint=access_token"),
    ] {
        h.post_form("/logout", &body)
            .await
            .assert_error(400, "invalid_request");
    }
    assert_eq!(session(&h, &pair.session_id).await, before);
    assert_eq!(session(&h, &other.session_id).await.unwrap().0, 0);
}

// ---------------------------------------------------------------------------------------
// Refresh tokens
// ---------------------------------------------------------------------------------------

/// Every single-bit change of a refresh token (on the decoded bytes, so the text is still
/// valid base64url and only the MAC can notice).
fn bit_flips(token: &str) -> impl Iterator<Item = String> + '_ {
    let raw = B64.decode(token).unwrap();
    (0..raw.len() * 8).map(move |bit| {
        let mut flipped = raw.clone();
        flipped[bit / 8] ^= 1 << (bit % 8);
        B64.encode(flipped)
    })
}

#[tokio::test]
async fn refresh_tokens_with_a_bit_flipped_are_refused_before_the_store() {
    let h = Harness::new();
    let (pair, before) = victim(&h).await;
    let calls = h.store.calls();
    let mut n = 0;
    for forged in bit_flips(&pair.refresh_token) {
        h.refresh(&forged).await.assert_error(400, "invalid_grant");
        // Logging out with it does nothing either: a session id with a bad MAC is not enough.
        assert_eq!(h.logout(&forged).await.status, 204);
        n += 1;
    }
    assert_eq!(n, 57 * 8);
    assert_eq!(h.store.calls(), calls, "a forged token reached the store");
    assert_eq!(session(&h, &pair.session_id).await, before);
    assert_eq!(h.refresh(&pair.refresh_token).await.status, 200);
}

#[tokio::test]
async fn truncated_and_extended_refresh_tokens_are_refused_before_the_store() {
    let h = Harness::new();
    let (pair, before) = victim(&h).await;
    let rt = &pair.refresh_token;
    let calls = h.store.calls();
    for cut in 1..rt.len() {
        h.refresh(&rt[..cut])
            .await
            .assert_error(400, "invalid_grant");
        assert_eq!(h.logout(&rt[..cut]).await.status, 204);
    }
    for extended in [format!("{rt}A"), format!("{rt}="), format!("{rt}{rt}")] {
        h.refresh(&extended)
            .await
            .assert_error(400, "invalid_grant");
    }
    assert_eq!(h.store.calls(), calls);
    assert_eq!(session(&h, &pair.session_id).await, before);
}

#[tokio::test]
async fn refresh_tokens_from_another_deployment_are_refused_before_the_store() {
    let h = Harness::new();
    let (pair, before) = victim(&h).await;
    let calls = h.store.calls();
    // The same session id and counter, MACed under another deployment's key: the strongest
    // form of "a token from elsewhere" (format: version | session id | counter | HMAC).
    let mut raw = B64.decode(&pair.refresh_token).unwrap();
    let mut mac =
        Hmac::<Sha256>::new_from_slice(b"another deployment's secret, 32+ bytes").unwrap();
    mac.update(&raw[..25]);
    raw[25..].copy_from_slice(&mac.finalize().into_bytes());
    let foreign = B64.encode(raw);
    h.refresh(&foreign).await.assert_error(400, "invalid_grant");
    assert_eq!(h.logout(&foreign).await.status, 204);
    // And a real token minted by another deployment.
    let other = tower_refresh_auth::RefreshAuth::<common::Role>::builder()
        .hs256(b"another deployment's secret, 32+ bytes".to_vec())
        .build()
        .unwrap();
    let theirs = other.issue("user1", admin()).await.unwrap();
    h.refresh(&theirs.refresh_token)
        .await
        .assert_error(400, "invalid_grant");
    assert_eq!(h.store.calls(), calls);
    assert_eq!(session(&h, &pair.session_id).await, before);
}

#[tokio::test]
async fn tokens_never_stand_in_for_each_other() {
    let h = Harness::new();
    let (pair, before) = victim(&h).await;
    h.refresh(&pair.access_token)
        .await
        .assert_error(400, "invalid_grant");
    assert_invalid_token(
        &h.get("/x", Some(&pair.refresh_token)).await,
        "refresh as access",
    );
    assert_eq!(session(&h, &pair.session_id).await, before);
}

#[tokio::test]
async fn cookie_mode_refuses_a_refresh_without_the_csrf_header() {
    let h = Harness::with(|b| b.transport(RefreshTransport::cookie()));
    let (pair, before) = victim(&h).await;
    for path in ["/token", "/logout"] {
        let req = Request::post(path)
            .header("cookie", format!("refresh_token={}", pair.refresh_token))
            .body(String::new())
            .unwrap();
        h.send(req).await.assert_error(403, "invalid_request");
    }
    assert_eq!(session(&h, &pair.session_id).await, before);
}

#[tokio::test]
async fn cookie_mode_is_not_blinded_by_a_non_utf8_sibling_cookie() {
    let h = Harness::with(|b| b.transport(RefreshTransport::cookie()));
    let (pair, _) = victim(&h).await;
    let cookie = [
        b"tracking=\xe9\xff; refresh_token=".as_slice(),
        pair.refresh_token.as_bytes(),
    ]
    .concat();
    // Without the CSRF header: refused, because the cookie is seen.
    let req = Request::post("/token")
        .header("cookie", HeaderValue::from_bytes(&cookie).unwrap())
        .body(String::new())
        .unwrap();
    h.send(req).await.assert_error(403, "invalid_request");
    let req = Request::post("/token")
        .header("cookie", HeaderValue::from_bytes(&cookie).unwrap())
        .header("x-requested-with", "fetch")
        .body(String::new())
        .unwrap();
    let res = h.send(req).await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(session(&h, &pair.session_id).await.unwrap().0, 1);
}

#[tokio::test]
async fn no_attack_reaches_the_inner_service_on_an_endpoint() {
    // The endpoints answer everything themselves, whatever the method or body.
    let h = Harness::new();
    for method in ["GET", "PUT", "DELETE", "OPTIONS", "PATCH"] {
        let req = Request::builder()
            .method(method)
            .uri("/token")
            .body(String::new())
            .unwrap();
        let res = h.send(req).await;
        res.assert_error(405, "invalid_request");
        assert_eq!(res.header("allow"), "POST");
    }
    for ct in [
        "text/plain",
        "application/json-patch+json",
        "multipart/form-data",
    ] {
        h.post("/token", ct, "{}")
            .await
            .assert_error(415, "invalid_request");
    }
    let res = h
        .send(Request::post("/token").body(String::new()).unwrap())
        .await;
    res.assert_error(415, "invalid_request");
    assert_ne!(res.status, StatusCode::INTERNAL_SERVER_ERROR);
}

/// DPoP (docs/protocol.md §10, RFC 9449 §4.3, §11): every way a proof can be wrong, on a
/// protected request (`401 invalid_dpop_proof` with the DPoP challenge) and at the refresh
/// endpoint (`400 invalid_dpop_proof`, the session untouched). One row per attack.
mod dpop {
    use super::*;
    use tower_refresh_auth::session::SessionMetadata;
    use tower_refresh_auth_test_support::dpop::{DpopKey, unsigned_or_hmac};

    const ORIGIN: &str = "https://api.example.com";

    fn iat(h: &Harness) -> u64 {
        h.clock
            .now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    }

    /// The attacks, each a function from (key, harness, method, path, token) to the DPoP
    /// header values to send.
    type Attack = fn(&DpopKey, &Harness, &str, &str, Option<&str>) -> Vec<String>;

    fn claims(k: &DpopKey, h: &Harness, method: &str, path: &str, token: Option<&str>) -> Value {
        let mut c = k.claims(method, &format!("{ORIGIN}{path}"), token);
        c["iat"] = json!(iat(h));
        c
    }

    fn rows() -> Vec<(&'static str, Attack)> {
        vec![
            ("wrong htu (another host)", |k, h, m, p, t| {
                let mut c = claims(k, h, m, p, t);
                c["htu"] = json!(format!("https://evil.example.com{p}"));
                vec![k.sign(&k.header(), &c)]
            }),
            ("wrong htu (another path)", |k, h, m, _, t| {
                let c = claims(k, h, m, "/elsewhere", t);
                vec![k.sign(&k.header(), &c)]
            }),
            ("wrong htm", |k, h, m, p, t| {
                let c = claims(k, h, if m == "GET" { "POST" } else { "GET" }, p, t);
                vec![k.sign(&k.header(), &c)]
            }),
            ("stale iat", |k, h, m, p, t| {
                let mut c = claims(k, h, m, p, t);
                c["iat"] = json!(iat(h) - 61);
                vec![k.sign(&k.header(), &c)]
            }),
            ("iat in the future", |k, h, m, p, t| {
                let mut c = claims(k, h, m, p, t);
                c["iat"] = json!(iat(h) + 61);
                vec![k.sign(&k.header(), &c)]
            }),
            ("ath of another token", |k, h, m, p, t| {
                let mut c = claims(k, h, m, p, t);
                c["ath"] = json!(tower_refresh_auth_test_support::dpop::ath("another token"));
                vec![k.sign(&k.header(), &c)]
            }),
            ("embedded private key", |k, h, m, p, t| {
                let mut header = k.header();
                header["jwk"]["d"] = json!("c2VjcmV0IHNjYWxhcg");
                vec![k.sign(&header, &claims(k, h, m, p, t))]
            }),
            ("alg none", |k, h, m, p, t| {
                let mut header = k.header();
                header["alg"] = json!("none");
                vec![unsigned_or_hmac(&header, &claims(k, h, m, p, t), None)]
            }),
            ("HMAC proof with a symmetric jwk", |k, h, m, p, t| {
                let secret = b"an attacker's symmetric key of 32+ bytes";
                let header = json!({
                    "typ": "dpop+jwt",
                    "alg": "HS256",
                    "jwk": { "kty": "oct", "k": B64.encode(secret) },
                });
                vec![unsigned_or_hmac(
                    &header,
                    &claims(k, h, m, p, t),
                    Some(secret),
                )]
            }),
            ("oversized proof", |k, h, m, p, t| {
                let mut c = claims(k, h, m, p, t);
                c["padding"] = json!("x".repeat(5000));
                vec![k.sign(&k.header(), &c)]
            }),
            ("two DPoP headers", |k, h, m, p, t| {
                vec![
                    k.sign(&k.header(), &claims(k, h, m, p, t)),
                    k.sign(&k.header(), &claims(k, h, m, p, t)),
                ]
            }),
            ("typ other than dpop+jwt", |k, h, m, p, t| {
                let mut header = k.header();
                header["typ"] = json!("JWT");
                vec![k.sign(&header, &claims(k, h, m, p, t))]
            }),
            ("no jwk header", |k, h, m, p, t| {
                let mut header = k.header();
                header.as_object_mut().unwrap().remove("jwk");
                vec![k.sign(&header, &claims(k, h, m, p, t))]
            }),
            (
                "the victim's jwk, signed by another key",
                |k, h, m, p, t| {
                    let thief = DpopKey::es256();
                    vec![thief.sign(&k.header(), &claims(k, h, m, p, t))]
                },
            ),
            ("a jwk that does not fit the alg", |k, h, m, p, t| {
                let mut header = k.header();
                header["alg"] = json!("EdDSA");
                vec![k.sign(&header, &claims(k, h, m, p, t))]
            }),
            ("critical header extension", |k, h, m, p, t| {
                let mut header = k.header();
                header["crit"] = json!(["exp"]);
                vec![k.sign(&header, &claims(k, h, m, p, t))]
            }),
            ("not a JWT", |_, _, _, _, _| vec!["garbage".into()]),
            ("no jti", |k, h, m, p, t| {
                let mut c = claims(k, h, m, p, t);
                c.as_object_mut().unwrap().remove("jti");
                vec![k.sign(&k.header(), &c)]
            }),
        ]
    }

    async fn bound_session(h: &Harness, key: &DpopKey) -> TokenPair {
        let req = Request::post("/login")
            .header("dpop", {
                let c = claims(key, h, "POST", "/login", None);
                key.sign(&key.header(), &c)
            })
            .body(())
            .unwrap();
        let proof = h
            .auth
            .verify_dpop(req.method(), req.uri(), req.headers())
            .await
            .unwrap();
        assert!(proof.is_some());
        h.auth
            .issue_with("user1", admin(), SessionMetadata::new().with_dpop(proof))
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn every_bad_proof_is_refused_on_a_protected_request() {
        let h = Harness::with(|b| b.dpop(Dpop::required().origin(ORIGIN)));
        let key = DpopKey::es256();
        let pair = bound_session(&h, &key).await;
        for (what, attack) in rows() {
            let mut req = Request::get("/api/data")
                .header("authorization", format!("DPoP {}", pair.access_token));
            for value in attack(&key, &h, "GET", "/api/data", Some(&pair.access_token)) {
                req = req.header("dpop", value);
            }
            let res = h.send(req.body(String::new()).unwrap()).await;
            assert_eq!(res.status, 401, "{what}: {}", res.describe());
            assert_eq!(res.json()["error"], "invalid_dpop_proof", "{what}");
            assert!(
                res.header("www-authenticate")
                    .starts_with(r#"DPoP algs="ES256 EdDSA", error="invalid_dpop_proof""#),
                "{what}: {}",
                res.describe()
            );
        }
        // A reused jti: the first use passes, the second is refused.
        let once = {
            let c = claims(&key, &h, "GET", "/api/data", Some(&pair.access_token));
            key.sign(&key.header(), &c)
        };
        for (n, want) in [(1, 200), (2, 401)] {
            let req = Request::get("/api/data")
                .header("authorization", format!("DPoP {}", pair.access_token))
                .header("dpop", &once)
                .body(String::new())
                .unwrap();
            assert_eq!(h.send(req).await.status, want, "use {n} of one proof");
        }
        // A proof without ath on a protected request.
        let mut c = claims(&key, &h, "GET", "/api/data", None);
        c.as_object_mut().unwrap().remove("ath");
        let req = Request::get("/api/data")
            .header("authorization", format!("DPoP {}", pair.access_token))
            .header("dpop", key.sign(&key.header(), &c))
            .body(String::new())
            .unwrap();
        h.send(req).await.assert_error(401, "invalid_dpop_proof");
    }

    #[tokio::test]
    async fn every_bad_proof_is_refused_at_the_refresh_endpoint_and_moves_nothing() {
        let h = Harness::with(|b| b.dpop(Dpop::required().origin(ORIGIN)));
        let key = DpopKey::es256();
        let pair = bound_session(&h, &key).await;
        let mut rows = rows();
        rows.retain(|(what, _)| !what.starts_with("ath"));
        for (what, attack) in rows {
            let mut req = Request::post("/token").header("content-type", "application/json");
            for value in attack(&key, &h, "POST", "/token", None) {
                req = req.header("dpop", value);
            }
            let res = h
                .send(
                    req.body(tower_refresh_auth_test_support::refresh_body(
                        &pair.refresh_token,
                    ))
                    .unwrap(),
                )
                .await;
            res.assert_error(400, "invalid_dpop_proof");
            assert!(!res.headers.contains_key("www-authenticate"), "{what}");
        }
        assert_eq!(h.store.rotations(), 0);
        assert_eq!(h.store.revocations(), 0);
    }

    /// Issue 24: requests from nobody — a valid proof by a key made for the purpose, and no
    /// credential that passes — are refused as before and take no room in the replay memory,
    /// whatever they carry besides; one row per shape. Before, each spent its proof, and about
    /// 100 000 of them filled the memory store and locked every DPoP client out.
    #[tokio::test]
    async fn a_proof_with_no_credential_behind_it_is_never_remembered() {
        let h = Harness::with(|b| b.dpop(Dpop::optional().origin(ORIGIN)));
        let owner = DpopKey::es256();
        let pair = bound_session(&h, &owner).await;
        let spent_before = h.store.inner.proofs_len();
        type Shape = fn(&str) -> (&'static str, String);
        let shapes: [(&str, Shape); 5] = [
            ("no body", |_| ("application/json", String::new())),
            ("garbage JSON", |_| ("application/json", "{".into())),
            ("a forged token", |_| {
                (
                    "application/json",
                    r#"{"refreshToken":"forged.token"}"#.into(),
                )
            }),
            ("a token with its MAC flipped", |rt| {
                let mut forged = rt.to_owned();
                let last = forged
                    .pop()
                    .map_or('A', |c| if c == 'A' { 'B' } else { 'A' });
                forged.push(last);
                (
                    "application/json",
                    format!(r#"{{"refreshToken":"{forged}"}}"#),
                )
            }),
            ("a form with the wrong grant", |rt| {
                (
                    "application/x-www-form-urlencoded",
                    format!("grant_type=password&refresh_token={rt}"),
                )
            }),
        ];
        for (what, shape) in shapes {
            let nobody = DpopKey::es256();
            let (content_type, body) = shape(&pair.refresh_token);
            let c = claims(&nobody, &h, "POST", "/token", None);
            let req = Request::post("/token")
                .header("content-type", content_type)
                .header("dpop", nobody.sign(&nobody.header(), &c))
                .body(body)
                .unwrap();
            let res = h.send(req).await;
            assert_eq!(res.status, 400, "{what}: {}", res.describe());
            // A login whose password the application refuses: the proof is checked by the
            // extractor, and `issue_with` never runs.
            let c = claims(&nobody, &h, "POST", "/login", None);
            let login = Request::post("/login")
                .header("dpop", nobody.sign(&nobody.header(), &c))
                .body(())
                .unwrap();
            assert!(
                h.auth
                    .login_metadata(login.method(), login.uri(), login.headers())
                    .await
                    .is_ok(),
                "{what}"
            );
            assert_eq!(h.store.inner.proofs_len(), spent_before, "{what}");
        }
        // A thief with the bound session's genuine refresh token and a key of its own: the
        // token passes its MAC, but the session refuses the key before the proof is spent.
        let thief = DpopKey::es256();
        let c = claims(&thief, &h, "POST", "/token", None);
        let req = Request::post("/token")
            .header("content-type", "application/json")
            .header("dpop", thief.sign(&thief.header(), &c))
            .body(tower_refresh_auth_test_support::refresh_body(
                &pair.refresh_token,
            ))
            .unwrap();
        h.send(req).await.assert_error(400, "invalid_dpop_proof");
        assert_eq!(h.store.inner.proofs_len(), spent_before);
        assert_eq!(h.store.rotations(), 0);
        assert_eq!(h.store.revocations(), 0);
    }
}
