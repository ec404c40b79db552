//! `POST /token` bodies through the tower layer (JSON and form parsers, content types,
//! declared lengths, the body limit).
//!
//! Input: see `body_request`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tower_refresh_auth_fuzz::{BODY_LIMIT, World, assert_endpoint_error, body_request};

fuzz_target!(|data: &[u8]| {
    let world = World::with(|b| b.body_limit(BODY_LIMIT));
    let Some(req) = body_request(&world, "/token", data) else {
        return;
    };
    let (is_json, json_object) = (req.is_json(), req.json_object);
    let reply = world.send(req.request);
    if reply.status == 200 {
        // docs/protocol.md §3: a JSON body is an object.
        assert!(
            !is_json || json_object,
            "a JSON body that is not an object: {reply:?}"
        );
        // Only the live token refreshes, so the session moved on by exactly one.
        assert_eq!(world.session_counter(), Some(1), "{reply:?}");
        let json: serde_json::Value = serde_json::from_slice(&reply.body).expect("a JSON pair");
        let access = json["accessToken"]
            .as_str()
            .or(json["access_token"].as_str())
            .expect("an access token");
        assert!(world.auth.verify(access).is_ok());
        assert_eq!(reply.headers["cache-control"], "no-store");
    } else {
        assert_endpoint_error(&reply);
        // A refused refresh leaves the session as it was.
        assert_eq!(world.session_counter(), Some(0), "{reply:?}");
    }
});
