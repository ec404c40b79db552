//! Access-token verification through the public API, `RefreshAuth::verify`.
//!
//! Input: if it contains a `\n`, the part before it is a JWT header and the part after it a
//! claims set, both raw JSON, signed here with the world's own secret (so the fuzzer gets
//! past the signature and reaches the header and claims checks); otherwise the input is the
//! token itself. Placeholders as in the crate docs. The layer has its verified-token cache
//! on, primed with the genuine token.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tower_refresh_auth_fuzz::{World, sign_hs256, t0};

fuzz_target!(|data: &[u8]| {
    // With the verified-token cache, primed with the genuine token, so a near copy of a
    // cached token would show up as accepted.
    let world = World::with(|b| b.verified_token_cache(8));
    assert!(world.auth.verify(&world.pair.access_token).is_ok());
    let input = world.substitute(data);
    let (token, signed) = match input.iter().position(|&b| b == b'\n') {
        Some(at) => (sign_hs256(&input[..at], &input[at + 1..]), Some(at)),
        None => match String::from_utf8(input.clone()) {
            Ok(token) => (token, None),
            Err(_) => return,
        },
    };
    let verdict = world.auth.verify(&token);
    // A second look (served from the cache if the first one verified) agrees.
    assert_eq!(verdict.is_ok(), world.auth.verify(&token).is_ok());
    let Ok(claims) = verdict else {
        return;
    };
    let now = t0()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after the epoch")
        .as_secs();
    assert!(claims.exp > now, "an expired token was accepted: {token}");
    match signed {
        None => assert_eq!(
            token, world.pair.access_token,
            "an unissued token was accepted"
        ),
        Some(at) => {
            // RFC 8725 §3.1 and RFC 9068 §4: the header must name the pinned algorithm, the
            // access-token type and our key, and must not carry critical extensions.
            let header: serde_json::Value =
                serde_json::from_slice(&input[..at]).expect("an accepted header is JSON");
            assert_eq!(header["alg"], "HS256", "{header}");
            let typ = header["typ"]
                .as_str()
                .expect("typ is required")
                .to_ascii_lowercase();
            assert!(typ == "at+jwt" || typ == "application/at+jwt", "{header}");
            assert!(header.get("crit").is_none(), "{header}");
            assert!(header["kid"].is_string(), "{header}");
        }
    }
});
