//! `POST /logout` bodies through the tower layer (JSON and RFC 7009 form parsers).
//!
//! Input: see `body_request`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tower_refresh_auth_fuzz::{BODY_LIMIT, World, assert_endpoint_error, body_request};

fuzz_target!(|data: &[u8]| {
    let world = World::with(|b| b.body_limit(BODY_LIMIT));
    let Some(req) = body_request(&world, "/logout", data) else {
        return;
    };
    let (is_json, json_object) = (req.is_json(), req.json_object);
    let reply = world.send(req.request);
    match reply.status.as_u16() {
        // RFC 7009 §2.2 for forms, docs/protocol.md §4 for JSON: success whether or not the
        // token was known, so the answer is no oracle; 204 for a JSON object, 200 for a form.
        200 | 204 => {
            assert_eq!(reply.status == 204, is_json, "{reply:?}");
            assert!(
                !is_json || json_object,
                "a JSON body that is not an object: {reply:?}"
            );
            assert!(reply.body.is_empty(), "{reply:?}");
            assert_eq!(reply.headers["cache-control"], "no-store");
        }
        _ => {
            assert_endpoint_error(&reply);
            // A refused logout did not happen.
            assert_eq!(world.session_counter(), Some(0), "{reply:?}");
        }
    }
    // The session is never changed in any other way than revoked.
    assert!(matches!(world.session_counter(), Some(0) | None));
});
