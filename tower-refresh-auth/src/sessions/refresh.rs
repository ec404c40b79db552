//! The refresh, top to bottom: a refresh token traded for its successor and a new access
//! token, by the rotation policy (RFC 9700 §4.14.2, `docs/protocol.md` §3, §5b) — every
//! refresh spends its token, a spent token replayed inside the grace window gets the same
//! successor, one replayed later revokes the session, and a genuine token *ahead* of the
//! store, which lost rotations, rolls the session forward.
//!
//! What it calls, each once: the refresh token's MAC and the record's seal
//! ([`SessionKeys`](crate::token::refresh_token::SessionKeys)), the store's compare-and-swap,
//! the access token's signature
//! ([`AccessTokens::sign_session`](crate::token::access::AccessTokens::sign_session)). With
//! DPoP on, the binding first ([`binding`](super::binding)); on a reuse, the revocation
//! ([`revoking`](super::revoking)). Nothing here calls back into the route that called it.

use std::time::{Duration, SystemTime};

use http::{HeaderMap, Method, Uri};
use tracing::Instrument;

use super::binding::wrong_key;
use super::{Sessions, TARGET};
use crate::dpop::Verified;
use crate::error::AuthError;
use crate::events::{RevocationReason, SecurityEvent};
use crate::session::{Session, SessionId};
use crate::store::{Revoked, Rotation, StoreError};
use crate::telemetry::{self, Refresh, StoreOp, timed};
use crate::token::TokenPair;
use crate::token::refresh_token::Sealed;

/// How many compare-and-swaps one roll-forward tries before it gives up with a `503`: each
/// retry sees the counter moved on by a concurrent refresh, which is rare twice in a row.
const ROLL_FORWARD_ATTEMPTS: usize = 4;

/// How a refresh that handed out a pair went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Renewed {
    /// The presented token was current: spent now.
    Rotated,
    /// The presented token was spent a moment ago: its successor again.
    InsideGrace,
    /// The presented token was ahead of the store: the session rolled forward past it.
    RolledForward,
}

/// Why a refresh handed out nothing.
#[derive(Debug)]
enum Refused {
    /// A spent token after the grace window: the session has been revoked.
    Reuse,
    /// Any other refusal, as the client gets it.
    Error(AuthError),
}

impl From<AuthError> for Refused {
    fn from(err: AuthError) -> Self {
        Self::Error(err)
    }
}

impl From<StoreError> for Refused {
    fn from(err: StoreError) -> Self {
        Self::Error(err.into())
    }
}

impl Sessions {
    /// The DPoP proof of a refresh request, checked before the refresh token is looked at
    /// (RFC 9449 §5); it is spent only once the token has verified ([`refresh`](Self::refresh)),
    /// so a request with a proof and nothing else takes no room in the replay memory
    /// (`docs/protocol.md` §10). `None` with DPoP off, or optional and no proof.
    pub(crate) async fn refresh_proof(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
    ) -> Result<Option<Verified>, AuthError> {
        if !self.dpop.is_on() {
            return Ok(None);
        }
        self.dpop.grant_proof(method, uri, headers).await
    }

    /// Trades a refresh token for its successor and a new access token; `proof` is the
    /// request's verified DPoP proof, if it had one, spent here once the token has verified
    /// and its session is known.
    pub(crate) async fn refresh(
        &self,
        token: &str,
        proof: Option<&Verified>,
    ) -> Result<TokenPair, AuthError> {
        // A forged or garbled token costs a MAC, never a store round trip.
        let Some(presented) = self.keys.verify(token) else {
            telemetry::refreshed(Refresh::InvalidGrant);
            return Err(AuthError::InvalidGrant);
        };
        // The span names the session only: the token stays out of every log.
        let span = tracing::info_span!(target: TARGET, "refresh", session = %presented.session);
        let outcome = self
            .renew(presented.session, presented.counter, proof)
            .instrument(span)
            .await;
        match outcome {
            Ok((pair, renewed)) => {
                telemetry::refreshed(match renewed {
                    Renewed::Rotated => Refresh::Rotated,
                    Renewed::InsideGrace => Refresh::GraceReplay,
                    Renewed::RolledForward => Refresh::RolledForward,
                });
                Ok(pair)
            }
            Err(Refused::Reuse) => {
                telemetry::refreshed(Refresh::ReuseRevoked);
                Err(AuthError::InvalidGrant)
            }
            Err(Refused::Error(err)) => {
                telemetry::refreshed(Refresh::of(&err));
                Err(err)
            }
        }
    }

    /// The policy for a genuine token of session `id` with counter `presented`.
    ///
    /// The successor always gets counter `presented + 1`: on an ordinary refresh the store
    /// was at `presented`; on a roll-forward it was behind, and every counter up to
    /// `presented` may have been minted before, so none of them is minted again.
    async fn renew(
        &self,
        id: SessionId,
        presented: u64,
        proof: Option<&Verified>,
    ) -> Result<(TokenPair, Renewed), Refused> {
        let now = self.clock.now();
        // With DPoP off a proof means nothing here (and `verify_dpop` makes none).
        let proof = proof.filter(|_| self.dpop.is_on());
        if self.dpop.is_on() {
            self.check_binding(id, presented, proof, now).await?;
        }
        let proof = proof.map(|p| p.jkt.as_str());
        // At `u64::MAX` there is no successor: the store reports a conflict.
        let next = presented.saturating_add(1);
        let mut expected = presented;
        let mut attempts = 0;
        let (session, renewed) = loop {
            attempts += 1;
            let expires_at = now + self.refresh_ttl;
            // Whatever this instance's own DPoP mode, a request without a proof swaps only a
            // session bound to no key, in the same atomic step as the counter: a copied
            // refresh token of a bound session moves nothing, even through an instance with
            // DPoP off (a rolling deploy, a canary) or right after a concurrent bind.
            let swap = match proof {
                None => self
                    .store
                    .rotate_unbound(&id, expected, next, now, expires_at),
                Some(_) => self.store.rotate(&id, expected, next, now, expires_at),
            };
            let rotation = timed(StoreOp::Rotate, swap).await?;
            let (session, swapped) = match rotation {
                Rotation::Rotated(session) => (session, true),
                Rotation::Conflict(session) => (session, false),
                Rotation::NotFound => return Err(AuthError::InvalidGrant.into()),
            };
            // A record that fails its seal was written by someone else: refused like an
            // unknown session, before anything is signed or decided from it. (Not even a
            // revocation on reuse: a writer who can break the seal can delete the record.)
            // The seal is checked once per refresh: its state also decides the reseal.
            let sealed = self.keys.seal_state(&session);
            if sealed == Sealed::Broken {
                return Err(AuthError::InvalidGrant.into());
            }
            // Bound (by another instance, or a moment ago), and this request has no proof:
            // refused, and nothing moved — no rotation, no reuse detection.
            if !swapped && session.jkt.is_some() && proof.is_none() {
                tracing::warn!(
                    target: TARGET,
                    "refresh of a DPoP-bound session without a proof by its key; refused"
                );
                return Err(wrong_key().into());
            }
            if swapped && expected == presented {
                self.reseal_if_old(&session, sealed).await;
                break (session, Renewed::Rotated);
            }
            if swapped {
                let generations = presented - expected;
                tracing::warn!(
                    target: TARGET,
                    presented,
                    store = expected,
                    "the session store was behind a genuine refresh token; rolled forward"
                );
                self.events.emit(|| SecurityEvent::RolledForward {
                    session: id,
                    subject: session.subject.clone(),
                    generations,
                });
                self.reseal_if_old(&session, sealed).await;
                break (session, Renewed::RolledForward);
            }
            // The window is judged by the clock read *after* the swap that found the token
            // spent: `now` was read before it, and a concurrent refresh on this very instance
            // (a second tab) can have read a later time and rotated in between, which would
            // make `now` look earlier than the rotation and a benign race look like a reuse.
            match classify(&session, presented, self.clock.now(), self.grace) {
                Replay::InsideGrace => {
                    tracing::debug!(target: TARGET, "spent refresh token replayed inside the grace window");
                    self.events.emit(|| SecurityEvent::GraceReplay {
                        session: id,
                        subject: session.subject.clone(),
                    });
                    break (session, Renewed::InsideGrace);
                }
                Replay::Reuse => {
                    // The legitimate user logs in again.
                    self.record_revocation(Revoked::Session(id)).await?;
                    let revoked = timed(StoreOp::Revoke, self.store.revoke(&id)).await?;
                    tracing::warn!(
                        target: TARGET,
                        presented,
                        current = session.counter,
                        "refresh token reuse detected; session revoked"
                    );
                    self.events.emit(|| SecurityEvent::ReuseDetected {
                        session: id,
                        subject: session.subject.clone(),
                    });
                    if revoked {
                        self.revoked(&id, Some(&session.subject), RevocationReason::Reuse);
                    }
                    return Err(Refused::Reuse);
                }
                // The store is behind: swap from what it has to past the token.
                Replay::Ahead if attempts < ROLL_FORWARD_ATTEMPTS => {
                    expected = session.counter;
                }
                // The counter kept moving under us: the client may retry.
                Replay::Ahead => {
                    return Err(StoreError::unavailable(
                        "the session's counter kept moving during a roll-forward",
                    )
                    .into());
                }
                Replay::Unknown => return Err(AuthError::InvalidGrant.into()),
            }
        };
        // A binding made by a concurrent refresh between the check and the rotation.
        if session.jkt.is_some() && session.jkt.as_deref() != proof {
            return Err(wrong_key().into());
        }
        let access_token = self.access.sign_session(&session, now)?;
        let pair = TokenPair {
            access_token,
            refresh_token: self.keys.mint(&id, session.counter),
            expires_in: self.access.ttl_secs(),
            session_id: id,
            dpop_jkt: session.jkt,
        };
        Ok((pair, renewed))
    }

    /// A session sealed under an older secret is sealed again under the newest, so that
    /// removing the old secret later logs out no active session. Best effort: the refresh has
    /// happened, a failure here only means another try at the next one.
    async fn reseal_if_old(&self, session: &Session, sealed: Sealed) {
        if sealed != Sealed::Previous {
            return;
        }
        match self
            .store
            .reseal(&session.id, &self.keys.seal(session))
            .await
        {
            Ok(_) => {
                tracing::debug!(target: TARGET, session = %session.id, "session sealed under the current secret")
            }
            Err(err) => tracing::warn!(
                target: TARGET,
                session = %session.id,
                error = %err,
                "could not seal a session under the current secret; retried at its next refresh"
            ),
        }
    }
}

/// What a presented refresh token is, given the session as the store has it after a
/// compare-and-swap that did not match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Replay {
    /// The token was spent a moment ago by a concurrent refresh (another tab): it gets the
    /// very same successor, derived again.
    InsideGrace,
    /// A spent token after the grace window: someone holds a copy. The session is revoked.
    Reuse,
    /// A token newer than the store's counter: the store lost rotations it acknowledged
    /// (an asynchronous failover, a restored backup). Only the server mints a token that
    /// passes the MAC, so it is the newest one the client holds: the session rolls forward.
    Ahead,
    /// Not a token this session ever issued, as far as the store knows.
    Unknown,
}

/// The policy for a token of counter `presented` when the session's counter is already
/// `session.counter` (`docs/protocol.md` §3, §5b).
///
/// Only the token spent last (counter one behind) can be inside the grace window, and only
/// while the time since it was spent is known and within the window: a clock that reads
/// earlier than the rotation (another instance ahead of this one, an NTP step back) tells
/// nothing about how long ago the token was spent, so it counts as outside. A zero window
/// accepts no replay at all, not even in the same millisecond.
///
/// A token ahead of the session is [`Replay::Ahead`], unless it is at the largest counter,
/// which has no successor. So is a token *at* the session's counter: the swap that reported
/// the conflict saw another counter, and a concurrent roll-forward has since brought the
/// session to this token, which is now simply current.
fn classify(session: &Session, presented: u64, now: SystemTime, grace: Duration) -> Replay {
    // `checked_add`: a token at `u64::MAX` has no successor, and must not wrap into `0`.
    let is_last_spent = presented.checked_add(1) == Some(session.counter);
    let inside_window = !grace.is_zero()
        && now
            .duration_since(session.rotated_at)
            .is_ok_and(|since| since <= grace);
    if is_last_spent && inside_window {
        Replay::InsideGrace
    } else if session.counter > presented {
        Replay::Reuse
    } else if session.counter <= presented && presented < u64::MAX {
        Replay::Ahead
    } else {
        Replay::Unknown
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::SessionId;

    const GRACE: Duration = Duration::from_secs(10);

    fn session(counter: u64, rotated_at: SystemTime) -> Session {
        Session {
            id: SessionId::from_bytes([7; 16]),
            subject: "u".into(),
            claims: "{}".into(),
            counter,
            created_at: rotated_at,
            rotated_at,
            expires_at: rotated_at + Duration::from_secs(3600),
            absolute_expires_at: None,
            seal: String::new(),
            jkt: None,
            metadata: crate::session::SessionMetadata::new(),
        }
    }

    fn at(ms: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_000 + ms)
    }

    #[test]
    fn the_last_spent_token_is_inside_the_window_up_to_its_end() {
        let s = session(5, at(0));
        assert_eq!(classify(&s, 4, at(0), GRACE), Replay::InsideGrace);
        assert_eq!(classify(&s, 4, at(10_000), GRACE), Replay::InsideGrace);
        assert_eq!(classify(&s, 4, at(10_001), GRACE), Replay::Reuse);
        // Two generations old: its successor is spent too.
        assert_eq!(classify(&s, 3, at(1), GRACE), Replay::Reuse);
        // Ahead of the store: it lost rotations.
        assert_eq!(classify(&s, 6, at(1), GRACE), Replay::Ahead);
        assert_eq!(classify(&s, 60, at(1), GRACE), Replay::Ahead);
        // Current again after a concurrent roll-forward: swapped from there.
        assert_eq!(classify(&s, 5, at(1), GRACE), Replay::Ahead);
    }

    #[test]
    fn the_largest_counter_never_rolls_forward() {
        let s = session(5, at(0));
        assert_eq!(classify(&s, u64::MAX, at(0), GRACE), Replay::Unknown);
    }

    #[test]
    fn a_clock_behind_the_rotation_is_outside_the_window() {
        // This instance's clock reads 30 s earlier than the one that rotated.
        let s = session(5, at(30_000));
        assert_eq!(classify(&s, 4, at(5_000), GRACE), Replay::Reuse);
        assert_eq!(classify(&s, 4, at(29_999), GRACE), Replay::Reuse);
        assert_eq!(classify(&s, 4, at(30_000), GRACE), Replay::InsideGrace);
    }

    #[test]
    fn a_zero_window_accepts_no_replay_even_in_the_same_millisecond() {
        let s = session(5, at(0));
        assert_eq!(classify(&s, 4, at(0), Duration::ZERO), Replay::Reuse);
    }

    #[test]
    fn the_largest_counter_does_not_wrap_into_the_window() {
        let s = session(0, at(0));
        assert_eq!(classify(&s, u64::MAX, at(0), GRACE), Replay::Unknown);
        let s = session(u64::MAX, at(0));
        assert_eq!(
            classify(&s, u64::MAX - 1, at(0), GRACE),
            Replay::InsideGrace
        );
    }
}
