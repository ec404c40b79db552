//! The access-token fast path against the general path, token by token (differential).
//!
//! The one target that reaches inside the crate: `tower_refresh_auth::fuzzing` (built only
//! under `cargo fuzz`'s `--cfg fuzzing`) holds both paths over the same keys, and its `check`
//! panics unless the fast path, where it decides, gives the general path's verdict and
//! description, and, where it accepts, `jsonwebtoken::decode`'s claims.
//!
//! Input: byte 0 picks the key set (one key; two keys with an issuer, an audience and a
//! leeway; two keys of one kid) and the form of the rest, byte 1 the clock (±128 s around
//! `@NOW@`). Forms: the token itself; `header\nclaims` (raw JSON) signed with the first
//! key's secret; claims under the exact header the layer writes, signed with either key (so
//! the fuzzer starts on the fast path and mutates its way off it). Placeholders as in the
//! crate docs.
#![no_main]

use std::sync::OnceLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use tower_refresh_auth::fuzzing::Oracle;
use tower_refresh_auth_fuzz::{SECRET, World, t0};

const OTHER: &[u8] = b"another key's secret, also 32 bytes or more";

fn world() -> &'static (World, Vec<Oracle>) {
    static WORLD: OnceLock<(World, Vec<Oracle>)> = OnceLock::new();
    WORLD.get_or_init(|| {
        let world = World::new();
        let oracles = vec![
            Oracle::new(&[(SECRET, "k1")], None, None, 0),
            Oracle::new(
                &[(SECRET, "k1"), (OTHER, "k0")],
                Some("https://issuer.example"),
                Some("api"),
                30_000,
            ),
            Oracle::new(&[(OTHER, "k1"), (SECRET, "k1")], None, None, 0),
        ];
        (world, oracles)
    })
}

fuzz_target!(|data: &[u8]| {
    let [mode, clock, rest @ ..] = data else {
        return;
    };
    let (world, oracles) = world();
    let oracle = &oracles[usize::from(mode % 3)];
    let input = world.substitute(rest);
    let token = match (mode / 3) % 4 {
        0 => match String::from_utf8(input) {
            Ok(token) => token,
            Err(_) => return,
        },
        1 => match input.iter().position(|&b| b == b'\n') {
            Some(at) => oracle.sign(0, &input[..at], &input[at + 1..]),
            None => return,
        },
        form => oracle.genuine(usize::from(form == 3), &input),
    };
    let now = t0() + Duration::from_secs(u64::from(*clock)) - Duration::from_secs(128);
    oracle.check(&token, now);
});
