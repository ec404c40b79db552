//! What key rotation counts, through the [`metrics`] facade (`docs/protocol.md` §9, §13).
//!
//! | metric | labels |
//! |---|---|
//! | `refresh_auth_key_rotations_total` | `outcome`: `performed` (this instance made the step), `adopted` (it took up a ring another stored) |
//! | `refresh_auth_key_ring_refused_total` | a stored ring that did not open, or was older than the one in use |
//! | `refresh_auth_key_rotations_postponed_total` | a due step not taken because the store could not be reached |
//! | `refresh_auth_signing_key_age_seconds` (gauge) | how long the current signing key has signed |

use metrics::{counter, gauge};

pub(super) fn performed() {
    counter!("refresh_auth_key_rotations_total", "outcome" => "performed").increment(1);
}

pub(super) fn adopted() {
    counter!("refresh_auth_key_rotations_total", "outcome" => "adopted").increment(1);
}

pub(super) fn refused() {
    counter!("refresh_auth_key_ring_refused_total").increment(1);
}

pub(super) fn postponed() {
    counter!("refresh_auth_key_rotations_postponed_total").increment(1);
}

#[allow(clippy::cast_precision_loss)] // milliseconds of a key's age: far below 2^52
pub(super) fn signing_key_age(age_ms: u64) {
    gauge!("refresh_auth_signing_key_age_seconds").set(age_ms as f64 / 1000.0);
}
