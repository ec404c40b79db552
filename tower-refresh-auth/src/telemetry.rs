//! What the layer counts (`docs/protocol.md` §9), through the [`metrics`] facade.
//!
//! Every metric is recorded here, by one small function per event, so the names and labels
//! of the protocol document are written down once. Without a recorder installed each call is
//! a thread-local check and an atomic load; the names and labels are `static`, so nothing is
//! allocated either way.
//!
//! | metric | labels |
//! |---|---|
//! | `refresh_auth_verifications_total` | `outcome`: `ok`, `missing`, `malformed`, `invalid`, `revoked` |
//! | `refresh_auth_refreshes_total` | `outcome`: `rotated`, `grace_replay`, `reuse_revoked`, `invalid_grant`, `store_error` |
//! | `refresh_auth_logouts_total` | |
//! | `refresh_auth_sessions_started_total` | |
//! | `refresh_auth_sessions_revoked_total` | `reason`: `logout`, `reuse`, `subject`, `session`, `session_limit` |
//! | `refresh_auth_store_duration_seconds` (histogram) | `op`: `create`, `load`, `rotate`, `revoke`, `revoke_subject`, `list`, `bind`, `remember_proof`, `publish_revocation` |
//! | `refresh_auth_revocations_published_total` | (revocations recorded in the store's revocation feed) |
//! | `refresh_auth_revocations_received_total` | `via`: `push`, `read` (revocations a following instance took in) |
//! | `refresh_auth_revocation_feed_lag_seconds` (histogram) | from the revocation to its push's arrival, by the two instances' clocks |
//! | `refresh_auth_revocation_feed_gaps_total` | (times an instance may have missed part of the feed and fell back to checking the store) |
//! | `refresh_auth_revocation_feed_resyncs_total` | (times it read the record and followed the feed again) |
//! | `refresh_auth_key_set_fetches_total` | `outcome`: `ok`, `error`, `invalid` (a resource server's key fetches) |
//! | `refresh_auth_key_set_age_seconds` (gauge) | `issuer`: seconds since the issuer's key set was last fetched |
//! | `refresh_auth_unknown_kid_total` | `outcome`: `refetched` (a fetch was made for it), `refused` |
//! | `refresh_auth_stale_key_set_total` | `outcome`: `served` (a token verified on a set past its max-age), `unavailable` (`503`) |
//! | `refresh_auth_introspection_total` | `outcome`: `active`, `inactive`, `invalid_client`, `throttled`, `invalid_request`, `store_error` |
//! | `refresh_auth_session_watches_started_total` | (connection guards, `watch::SessionWatch`, first polled) |
//! | `refresh_auth_session_watches_ended_total` | `reason`: `expired`, `revoked`, `unconfirmed`, `dropped` |
//! | `refresh_auth_session_watches_active` (gauge) | (guards started and not yet ended) |

use std::future::Future;
use std::time::Instant;

use metrics::{counter, gauge, histogram};

use crate::error::AuthError;
use crate::events::RevocationReason;

/// What became of an access token the layer verified for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verification {
    /// It verified (and, with session checking on, its session is live).
    Ok,
    /// The request carried no token.
    Missing,
    /// The credentials could not be a token.
    Malformed,
    /// The token did not verify.
    Invalid,
    /// The token verified but its session has ended (session checking on).
    Revoked,
}

impl Verification {
    /// The outcome of a failed verification.
    pub(crate) fn of(err: &AuthError) -> Self {
        match err {
            AuthError::MissingCredentials => Self::Missing,
            AuthError::MalformedCredentials(_) => Self::Malformed,
            _ => Self::Invalid,
        }
    }
}

/// Counts one verification of a request's token: the hot path's only telemetry.
pub(crate) fn verified(outcome: Verification) {
    const NAME: &str = "refresh_auth_verifications_total";
    match outcome {
        Verification::Ok => counter!(NAME, "outcome" => "ok"),
        Verification::Missing => counter!(NAME, "outcome" => "missing"),
        Verification::Malformed => counter!(NAME, "outcome" => "malformed"),
        Verification::Invalid => counter!(NAME, "outcome" => "invalid"),
        Verification::Revoked => counter!(NAME, "outcome" => "revoked"),
    }
    .increment(1);
}

/// What became of a refresh: a benign race (`GraceReplay`) and a theft (`ReuseRevoked`) are
/// told apart here even though a client of the second only sees `invalid_grant`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refresh {
    /// The token was spent and its successor handed out.
    Rotated,
    /// A token spent a moment ago, inside the grace window: its successor again.
    GraceReplay,
    /// A genuine token ahead of the store (which lost rotations): the session rolled forward.
    RolledForward,
    /// A token spent earlier, after the grace window: the session was revoked.
    ReuseRevoked,
    /// Forged, unknown, expired or revoked.
    InvalidGrant,
    /// A DPoP-bound session refreshed without a proof by its key, or any refresh without a
    /// valid proof in required mode (the session is left alone).
    InvalidDpopProof,
    /// The store failed (or held a record it could not have written): `503`.
    StoreError,
}

impl Refresh {
    /// The outcome of a refresh that failed with `err` (reuse is told by the policy itself).
    pub(crate) fn of(err: &AuthError) -> Self {
        match err {
            AuthError::InvalidGrant => Self::InvalidGrant,
            AuthError::Dpop(_) => Self::InvalidDpopProof,
            _ => Self::StoreError,
        }
    }
}

/// Counts one refresh.
pub(crate) fn refreshed(outcome: Refresh) {
    const NAME: &str = "refresh_auth_refreshes_total";
    match outcome {
        Refresh::Rotated => counter!(NAME, "outcome" => "rotated"),
        Refresh::GraceReplay => counter!(NAME, "outcome" => "grace_replay"),
        Refresh::RolledForward => counter!(NAME, "outcome" => "rolled_forward"),
        Refresh::ReuseRevoked => counter!(NAME, "outcome" => "reuse_revoked"),
        Refresh::InvalidDpopProof => counter!(NAME, "outcome" => "invalid_dpop_proof"),
        Refresh::InvalidGrant => counter!(NAME, "outcome" => "invalid_grant"),
        Refresh::StoreError => counter!(NAME, "outcome" => "store_error"),
    }
    .increment(1);
}

/// Counts one logout the store answered (whether or not its token was known).
pub(crate) fn logged_out() {
    counter!("refresh_auth_logouts_total").increment(1);
}

/// Counts one session started by a login.
pub(crate) fn session_started() {
    counter!("refresh_auth_sessions_started_total").increment(1);
}

/// Counts `n` sessions revoked for `reason`.
pub(crate) fn sessions_revoked(reason: RevocationReason, n: u64) {
    const NAME: &str = "refresh_auth_sessions_revoked_total";
    match reason {
        RevocationReason::Logout => counter!(NAME, "reason" => "logout"),
        RevocationReason::Reuse => counter!(NAME, "reason" => "reuse"),
        RevocationReason::Subject => counter!(NAME, "reason" => "subject"),
        RevocationReason::Session => counter!(NAME, "reason" => "session"),
        RevocationReason::SessionLimit => counter!(NAME, "reason" => "session_limit"),
    }
    .increment(n);
}

/// A store operation, as the `op` label of the store-duration histogram names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StoreOp {
    Create,
    Load,
    Rotate,
    Revoke,
    RevokeSubject,
    List,
    Bind,
    RememberProof,
    PublishRevocation,
}

/// Runs one store call and records how long it took, failed or not.
pub(crate) async fn timed<T>(op: StoreOp, call: impl Future<Output = T>) -> T {
    const NAME: &str = "refresh_auth_store_duration_seconds";
    let start = Instant::now();
    let out = call.await;
    let seconds = start.elapsed().as_secs_f64();
    match op {
        StoreOp::Create => histogram!(NAME, "op" => "create"),
        StoreOp::Load => histogram!(NAME, "op" => "load"),
        StoreOp::Rotate => histogram!(NAME, "op" => "rotate"),
        StoreOp::Revoke => histogram!(NAME, "op" => "revoke"),
        StoreOp::RevokeSubject => histogram!(NAME, "op" => "revoke_subject"),
        StoreOp::List => histogram!(NAME, "op" => "list"),
        StoreOp::Bind => histogram!(NAME, "op" => "bind"),
        StoreOp::RememberProof => histogram!(NAME, "op" => "remember_proof"),
        StoreOp::PublishRevocation => histogram!(NAME, "op" => "publish_revocation"),
    }
    .record(seconds);
    out
}

/// Counts one revocation recorded in the store's revocation feed.
pub(crate) fn revocation_published() {
    counter!("refresh_auth_revocations_published_total").increment(1);
}

/// How revocations reached a following instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FeedReceipt {
    /// Pushed by the subscription.
    Push,
    /// Read from the store's record (a resync, or the periodic catch-up).
    Read,
}

/// Counts `n` revocations a following instance took in.
pub(crate) fn feed_received(via: FeedReceipt, n: usize) {
    const NAME: &str = "refresh_auth_revocations_received_total";
    let n = u64::try_from(n).unwrap_or(u64::MAX);
    match via {
        FeedReceipt::Push => counter!(NAME, "via" => "push"),
        FeedReceipt::Read => counter!(NAME, "via" => "read"),
    }
    .increment(n);
}

/// Records how long a pushed revocation took to arrive.
pub(crate) fn feed_lag(lag: std::time::Duration) {
    histogram!("refresh_auth_revocation_feed_lag_seconds").record(lag.as_secs_f64());
}

/// Counts a follower that may have missed revocations and fell back to the store.
pub(crate) fn feed_gap() {
    counter!("refresh_auth_revocation_feed_gaps_total").increment(1);
}

/// Counts a follower that read the record and follows the feed again.
pub(crate) fn feed_resynced() {
    counter!("refresh_auth_revocation_feed_resyncs_total").increment(1);
}

/// What became of one fetch of a resource server's key set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg(feature = "remote-jwks")]
pub(crate) enum KeyFetch {
    /// A usable key set arrived.
    Ok,
    /// The source could not be reached, timed out, answered an error status or redirected
    /// elsewhere.
    Error,
    /// The source answered something that is no usable key set (malformed, too large, the
    /// wrong issuer, no key we accept).
    Invalid,
}

/// Counts one key-set fetch.
#[cfg(feature = "remote-jwks")]
pub(crate) fn key_set_fetched(outcome: KeyFetch) {
    const NAME: &str = "refresh_auth_key_set_fetches_total";
    match outcome {
        KeyFetch::Ok => counter!(NAME, "outcome" => "ok"),
        KeyFetch::Error => counter!(NAME, "outcome" => "error"),
        KeyFetch::Invalid => counter!(NAME, "outcome" => "invalid"),
    }
    .increment(1);
}

/// Records the age of an issuer's key set (seconds since it was last fetched).
#[cfg(feature = "remote-jwks")]
pub(crate) fn key_set_age(issuer: &str, age_secs: f64) {
    metrics::gauge!("refresh_auth_key_set_age_seconds", "issuer" => issuer.to_owned())
        .set(age_secs);
}

/// Counts a token whose `kid` the issuer's key set does not hold: `refetched` when the
/// resource server fetched the set for it, `refused` when it was refused without a fetch (the
/// cooldown, or a kid already known to be unknown).
pub(crate) fn unknown_kid(refetched: bool) {
    const NAME: &str = "refresh_auth_unknown_kid_total";
    if refetched {
        counter!(NAME, "outcome" => "refetched").increment(1);
    } else {
        counter!(NAME, "outcome" => "refused").increment(1);
    }
}

/// Counts a token checked against a key set past its max-age: `served` while inside the
/// maximum staleness, `unavailable` (`503`) past it.
pub(crate) fn stale_key_set(served: bool) {
    const NAME: &str = "refresh_auth_stale_key_set_total";
    if served {
        counter!(NAME, "outcome" => "served").increment(1);
    } else {
        counter!(NAME, "outcome" => "unavailable").increment(1);
    }
}

/// What became of one introspection request (RFC 7662).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Introspection {
    /// A live access token: `active: true`.
    Active,
    /// Anything else the client asked about: `active: false`.
    Inactive,
    /// Missing or wrong client credentials: `401`.
    InvalidClient,
    /// Refused unchecked while failed authentications were over their bound: `429`.
    Throttled,
    /// A malformed request from the authenticated client (no token, wrong encoding, too large).
    InvalidRequest,
    /// The store could not say whether the session is live: `503`.
    StoreError,
}

/// Counts one introspection request.
pub(crate) fn introspected(outcome: Introspection) {
    const NAME: &str = "refresh_auth_introspection_total";
    match outcome {
        Introspection::Active => counter!(NAME, "outcome" => "active"),
        Introspection::Inactive => counter!(NAME, "outcome" => "inactive"),
        Introspection::InvalidClient => counter!(NAME, "outcome" => "invalid_client"),
        Introspection::Throttled => counter!(NAME, "outcome" => "throttled"),
        Introspection::InvalidRequest => counter!(NAME, "outcome" => "invalid_request"),
        Introspection::StoreError => counter!(NAME, "outcome" => "store_error"),
    }
    .increment(1);
}

/// The gauge of connection guards started and not yet ended.
const WATCHES_ACTIVE: &str = "refresh_auth_session_watches_active";

/// Counts a connection guard (a `SessionWatch`) that started watching: it was first polled.
pub(crate) fn watch_started() {
    counter!("refresh_auth_session_watches_started_total").increment(1);
    gauge!(WATCHES_ACTIVE).increment(1.0);
}

/// Why a started connection guard stopped watching.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WatchEnd {
    /// The connection's token expired.
    Expired,
    /// Its session or subject was revoked.
    Revoked,
    /// The store could not say whether the session is live (the guard failed closed).
    Unconfirmed,
    /// The guard was dropped before it resolved: the connection ended on its own.
    Dropped,
}

/// Counts a started connection guard that stopped watching, by why.
pub(crate) fn watch_ended(end: WatchEnd) {
    const NAME: &str = "refresh_auth_session_watches_ended_total";
    match end {
        WatchEnd::Expired => counter!(NAME, "reason" => "expired"),
        WatchEnd::Revoked => counter!(NAME, "reason" => "revoked"),
        WatchEnd::Unconfirmed => counter!(NAME, "reason" => "unconfirmed"),
        WatchEnd::Dropped => counter!(NAME, "reason" => "dropped"),
    }
    .increment(1);
    gauge!(WATCHES_ACTIVE).decrement(1.0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counting_without_a_recorder_allocates_nothing() {
        // The counter sees allocations at all.
        let boxed = allocation_counter::measure(|| drop(std::hint::black_box(Box::new(1u64))));
        assert_eq!(boxed.count_total, 1);
        let counted = allocation_counter::measure(|| {
            for outcome in [
                Verification::Ok,
                Verification::Missing,
                Verification::Malformed,
                Verification::Invalid,
                Verification::Revoked,
            ] {
                verified(outcome);
            }
            refreshed(Refresh::GraceReplay);
            refreshed(Refresh::ReuseRevoked);
            sessions_revoked(RevocationReason::Reuse, 1);
            sessions_revoked(RevocationReason::SessionLimit, 1);
            logged_out();
            session_started();
            introspected(Introspection::Active);
            watch_started();
            watch_ended(WatchEnd::Dropped);
        });
        assert_eq!(counted.count_total, 0, "{counted:?}");
    }
}
