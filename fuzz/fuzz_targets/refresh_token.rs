//! Refresh-token parsing through the public API: `RefreshAuth::refresh` and `logout`.
//!
//! Input: the token (lossily UTF-8). Placeholders as in the crate docs, so mutations of a
//! genuine token are reached.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tower_refresh_auth::AuthError;
use tower_refresh_auth_fuzz::{World, block_on};

fuzz_target!(|data: &[u8]| {
    let world = World::new();
    let input = world.substitute(data);
    let token = String::from_utf8_lossy(&input);
    let genuine = token == world.pair.refresh_token;

    match block_on(world.auth.refresh(&token)) {
        Ok(pair) => {
            assert!(
                genuine,
                "a token that was never issued refreshed: {token:?}"
            );
            assert_ne!(pair.refresh_token, world.pair.refresh_token);
            assert_eq!(world.session_counter(), Some(1));
        }
        Err(AuthError::InvalidGrant) => {
            assert!(!genuine, "the live token was refused");
            // A forged or garbled token is refused by its MAC, before any store round trip.
            assert_eq!(world.store.calls(), 0, "{token:?} reached the store");
            assert_eq!(world.session_counter(), Some(0));
        }
        Err(other) => panic!("unexpected error {other:?} for {token:?}"),
    }

    // Logging out with anything but a genuine token of the session leaves it alone.
    let calls = world.store.calls();
    block_on(world.auth.logout(&token)).expect("the memory store never fails");
    if genuine {
        assert_eq!(world.session_counter(), None, "logout did not revoke");
    } else {
        assert_eq!(world.store.calls(), calls, "{token:?} reached the store");
        assert_eq!(
            world.session_counter(),
            Some(0),
            "a forged token logged out"
        );
    }
});
