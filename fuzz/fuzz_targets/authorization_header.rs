//! The Authorization header (and the access-token cookie) through the tower layer.
//!
//! Input: header lines separated by `\n`; a line starting with `cookie:` becomes a `Cookie`
//! header, every other line an `Authorization` header. Placeholders as in the crate docs.
//!
//! The same headers also go to two layers without the cookie, one with the verified-token
//! cache (holding the genuine token) and one without: a cache hit skips the `b64token`
//! check, so the two must still give one verdict.
#![no_main]

use bytes::Bytes;
use http::{HeaderValue, Request};
use http_body_util::Full;
use libfuzzer_sys::fuzz_target;
use tower_refresh_auth_fuzz::{World, assert_well_formed_error, contains};

/// The request the input's lines make for `world`; `None` for bytes no client can send.
fn request(world: &World, data: &[u8]) -> Option<(Vec<u8>, Request<Full<Bytes>>)> {
    let input = world.substitute(data);
    let mut req = Request::get("/api/dashboard");
    for line in input.split(|&b| b == b'\n') {
        let (name, value) = match line.strip_prefix(b"cookie:") {
            Some(value) => ("cookie", value),
            None => ("authorization", line),
        };
        // Bytes a client cannot send in a header (CR, LF, NUL…) never reach the layer.
        let value = HeaderValue::from_bytes(value).ok()?;
        req = req.header(name, value);
    }
    Some((input, req.body(Full::new(Bytes::new())).expect("a valid request")))
}

fuzz_target!(|data: &[u8]| {
    let world = World::with(|b| b.access_token_cookie("at"));
    let Some((input, req)) = request(&world, data) else {
        return;
    };
    let reply = world.send(req);

    match reply.status.as_u16() {
        200 => {
            // Only a token signed with the secret passes, and the fuzzer only has one.
            assert!(
                contains(&input, world.pair.access_token.as_bytes()),
                "a token that was never issued was accepted: {input:?}"
            );
            let expected = format!(
                "sub={} sid={}",
                tower_refresh_auth_fuzz::SUBJECT,
                world.pair.session_id
            );
            assert_eq!(reply.body, expected.as_bytes());
        }
        400 | 401 => {
            assert_well_formed_error(&reply);
            let challenge = reply
                .headers
                .get("www-authenticate")
                .expect("every refusal carries a challenge (RFC 6750 §3)");
            assert!(challenge.as_bytes().starts_with(b"Bearer realm=\"api\""));
            // Nothing the client sent is echoed back.
            assert!(!contains(&reply.body, world.pair.access_token.as_bytes()));
        }
        other => panic!("unexpected status {other}: {reply:?}"),
    }
    // Verification never touches the store (session checking is off).
    assert_eq!(world.store.calls(), 0);

    // Without the cookie, with and without the cache: one verdict.
    let cached = World::with(|b| b.verified_token_cache(16));
    let plain = World::with(|b| b);
    let primed = Request::get("/api/dashboard")
        .header("authorization", format!("Bearer {}", cached.pair.access_token))
        .body(Full::new(Bytes::new()))
        .expect("a valid request");
    assert_eq!(cached.send(primed).status, 200);
    let (Some((_, a)), Some((_, b))) = (request(&cached, data), request(&plain, data)) else {
        unreachable!("the lines were sendable above, and the placeholders are ASCII");
    };
    let (a, b) = (cached.send(a), plain.send(b));
    assert_eq!(a.status, b.status, "the cache changed the verdict: {input:?}");
    assert_eq!(
        a.headers.get("www-authenticate"),
        b.headers.get("www-authenticate"),
        "the cache changed the refusal: {input:?}"
    );
});
