//! The Authorization header (and the access-token cookie) through the tower layer.
//!
//! Input: header lines separated by `\n`; a line starting with `cookie:` becomes a `Cookie`
//! header, every other line an `Authorization` header. Placeholders as in the crate docs.
#![no_main]

use bytes::Bytes;
use http::{HeaderValue, Request};
use http_body_util::Full;
use libfuzzer_sys::fuzz_target;
use tower_refresh_auth_fuzz::{World, assert_well_formed_error, contains};

fuzz_target!(|data: &[u8]| {
    let world = World::with(|b| b.access_token_cookie("at"));
    let input = world.substitute(data);
    let mut req = Request::get("/api/dashboard");
    for line in input.split(|&b| b == b'\n') {
        let (name, value) = match line.strip_prefix(b"cookie:") {
            Some(value) => ("cookie", value),
            None => ("authorization", line),
        };
        // Bytes a client cannot send in a header (CR, LF, NUL…) never reach the layer.
        let Ok(value) = HeaderValue::from_bytes(value) else {
            return;
        };
        req = req.header(name, value);
    }
    let reply = world.send(req.body(Full::new(Bytes::new())).expect("a valid request"));

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
});
