//! Rotation, the grace window and reuse detection over several sessions and a moving clock.
//!
//! Input: a sequence of three-byte steps `(op, a, b)`, run against a layer with three live
//! sessions and a small model of docs/protocol.md §3 and §5b; after every step the layer's
//! answer must be the model's.
//!
//! | `op % 6` | step |
//! |---|---|
//! | 0 | refresh session `a % 3` with its token `b % 3` generations back (0: the current one) |
//! | 1 | the same token with one byte flipped: refused by its MAC, no store call |
//! | 2 | log out with the session's current token |
//! | 3 | move the clock forward by `a` × 100 ms (crosses the 10 s grace window) |
//! | 4 | move the clock back by `a` × 100 ms (an NTP step), never before the start |
//! | 5 | refresh on a second instance whose clock reads `a` × 100 ms behind the first's |
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use tower_refresh_auth::clock::ManualClock;
use tower_refresh_auth::{AuthError, NoClaims, RefreshAuth};
use tower_refresh_auth_fuzz::{SECRET, TestStore, block_on, t0};

const SESSIONS: usize = 3;
const GRACE_MS: u64 = 10_000;

/// What the model knows of one session.
struct Session {
    /// Every refresh token handed out, by counter.
    chain: Vec<String>,
    rotated_ms: u64,
    revoked: bool,
}

fuzz_target!(|data: &[u8]| {
    let store = TestStore::new();
    let clock = ManualClock::new(t0());
    let clock_b = ManualClock::new(t0());
    let instance = |clock: &ManualClock| {
        RefreshAuth::<NoClaims>::builder()
            .hs256(SECRET.to_vec())
            .clock(clock.clone())
            .store(store.clone())
            .reuse_grace(Duration::from_millis(GRACE_MS))
            .build()
            .expect("a valid configuration")
    };
    let (a_auth, b_auth) = (instance(&clock), instance(&clock_b));
    let mut now_ms: u64 = 0;
    let mut sessions: Vec<Session> = (0..SESSIONS)
        .map(|i| {
            let pair = block_on(a_auth.issue(format!("user{i}"), NoClaims {}))
                .expect("the memory store never fails");
            Session {
                chain: vec![pair.refresh_token],
                rotated_ms: 0,
                revoked: false,
            }
        })
        .collect();

    for step in data.chunks_exact(3) {
        let (op, a, b) = (step[0] % 6, step[1], step[2]);
        let s = usize::from(a) % SESSIONS;
        match op {
            3 => now_ms += u64::from(a) * 100,
            4 => now_ms = now_ms.saturating_sub(u64::from(a) * 100),
            2 => {
                let session = &mut sessions[s];
                let token = session.chain.last().expect("a chain is never empty").clone();
                block_on(a_auth.logout(&token)).expect("the memory store never fails");
                session.revoked = true;
            }
            1 => {
                let session = &sessions[s];
                let mut token = session.chain[session.chain.len() - 1].clone().into_bytes();
                let i = usize::from(b) % token.len();
                token[i] = if token[i] == b'A' { b'B' } else { b'A' };
                let token = String::from_utf8(token).expect("base64url is ASCII");
                let calls = store.calls();
                let refused = block_on(a_auth.refresh(&token));
                assert!(
                    matches!(refused, Err(AuthError::InvalidGrant)),
                    "a garbled token was not refused: {refused:?}"
                );
                assert_eq!(store.calls(), calls, "a garbled token reached the store");
            }
            _ => {
                // 0: on the first instance; 5: on the second, its clock behind.
                let (auth, at_ms) = if op == 0 {
                    (&a_auth, now_ms)
                } else {
                    (&b_auth, now_ms.saturating_sub(u64::from(b) * 100))
                };
                clock.set(t0() + Duration::from_millis(now_ms));
                clock_b.set(t0() + Duration::from_millis(at_ms));
                let back = if op == 0 { usize::from(b) % 3 } else { 1 };
                let session = &mut sessions[s];
                let current = session.chain.len() - 1;
                let Some(k) = current.checked_sub(back) else {
                    continue;
                };
                let answer = block_on(auth.refresh(&session.chain[k]));
                // The model (docs/protocol.md §3, §5b).
                let elapsed = at_ms.checked_sub(session.rotated_ms);
                if session.revoked {
                    assert!(matches!(answer, Err(AuthError::InvalidGrant)), "a revoked session refreshed");
                } else if k == current {
                    let pair = answer.expect("the current token must rotate");
                    assert!(!session.chain.contains(&pair.refresh_token), "a successor seen before");
                    session.chain.push(pair.refresh_token);
                    session.rotated_ms = at_ms;
                } else if k + 1 == current && elapsed.is_some_and(|e| e <= GRACE_MS) {
                    let pair = answer.expect("a replay inside the window must succeed");
                    assert_eq!(pair.refresh_token, session.chain[current], "another successor");
                } else {
                    assert!(matches!(answer, Err(AuthError::InvalidGrant)), "reuse was accepted");
                    session.revoked = true;
                    // The whole family is dead: the current token no longer refreshes.
                    let latest = session.chain[current].clone();
                    assert!(matches!(block_on(a_auth.refresh(&latest)), Err(AuthError::InvalidGrant)));
                }
            }
        }
        clock.set(t0() + Duration::from_millis(now_ms));
    }
});
