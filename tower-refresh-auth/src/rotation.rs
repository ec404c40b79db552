//! The session lifecycle after login: refresh, logout, revocation, listing and the session
//! check, each decided here once (a store only does the atomic operations).
//!
//! A refresh follows the rotation policy (RFC 9700 §4.14.2): every refresh spends its token, a
//! spent token replayed inside the grace window gets the same successor, one replayed later
//! revokes the session. A genuine token *ahead* of the store, which lost rotations, rolls the
//! session forward.

use std::time::{Duration, SystemTime};

use tracing::Instrument;

use crate::dpop::Verified;
use crate::error::{AuthError, DpopCode, DpopError, invalid_token};
use crate::events::{RevocationReason, SecurityEvent};
use crate::seal::Sealed;
use crate::session::{PageCursor, Session, SessionId, SessionInfo, SessionInfoPage};
use crate::shared::Shared;
use crate::store::{Revoked, Rotation, StoreError};
use crate::telemetry::{self, Refresh, StoreOp, timed};
use crate::token::TokenPair;

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

impl Shared {
    /// Trades a refresh token for its successor and a new access token; `proof` is the
    /// request's verified DPoP proof, if it had one, spent here once the token has verified
    /// and its session is known.
    pub(crate) async fn refresh(
        &self,
        token: &str,
        proof: Option<&Verified>,
    ) -> Result<TokenPair, AuthError> {
        // A forged or garbled token costs a MAC, never a store round trip.
        let Some(presented) = self.refresh_keys.verify(token) else {
            telemetry::refreshed(Refresh::InvalidGrant);
            return Err(AuthError::InvalidGrant);
        };
        // The span names the session only: the token stays out of every log.
        let span = tracing::info_span!("refresh", session = %presented.session);
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
        let proof = proof.filter(|_| self.dpop.is_some());
        if self.dpop.is_some() {
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
            let sealed = self.seal_state(&session);
            if sealed == Sealed::Broken {
                return Err(AuthError::InvalidGrant.into());
            }
            // Bound (by another instance, or a moment ago), and this request has no proof:
            // refused, and nothing moved — no rotation, no reuse detection.
            if !swapped && session.jkt.is_some() && proof.is_none() {
                tracing::warn!(
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
                    tracing::debug!("spent refresh token replayed inside the grace window");
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
            refresh_token: self.refresh_keys.mint(&id, session.counter),
            expires_in: self.access.ttl_secs(),
            session_id: id,
            dpop_jkt: session.jkt,
        };
        Ok((pair, renewed))
    }

    /// The binding (`docs/protocol.md` §10), before anything moves, on every instance
    /// whatever its own DPoP mode: a bound session refreshes only with a proof by its key,
    /// and is otherwise left exactly as it was (no rotation, so no reuse detection either: a
    /// thief without the key cannot log its owner out, even through an instance with DPoP
    /// off); an unbound session presented with its current token and a proof is bound to the
    /// proof's key, atomically ([`DpopStore::bind`](crate::store::DpopStore::bind));
    /// required mode refuses a refresh without a proof.
    ///
    /// The proof's `jti` is spent here, once the token's MAC has verified and the session is
    /// live and may take this key: a proof with a forged token, of an unknown session, or by
    /// the wrong key takes no room in the replay memory. It is spent before the bind and the
    /// rotation, so a replayed proof moves nothing.
    async fn check_binding(
        &self,
        id: SessionId,
        presented: u64,
        proof: Option<&Verified>,
        now: SystemTime,
    ) -> Result<(), Refused> {
        let verified = proof;
        let proof = verified.map(|p| p.jkt.as_str());
        self.require_proof(proof)?;
        let Some(session) = timed(StoreOp::Load, self.store.load(&id, now)).await? else {
            return Err(AuthError::InvalidGrant.into());
        };
        if !self.is_sealed(&session) {
            return Err(AuthError::InvalidGrant.into());
        }
        if let Some(verified) = verified
            && session
                .jkt
                .as_deref()
                .is_none_or(|bound| bound == verified.jkt)
        {
            self.spend_proof(verified, false).await?;
        }
        match (session.jkt.as_deref(), proof) {
            (Some(bound), Some(jkt)) if bound == jkt => Ok(()),
            (Some(_), _) => {
                tracing::warn!(
                    "refresh of a DPoP-bound session without a proof by its key; refused"
                );
                Err(wrong_key().into())
            }
            (None, None) => Ok(()),
            // Only the current token binds: a spent one goes on to the reuse policy.
            (None, Some(_)) if session.counter != presented => Ok(()),
            (None, Some(jkt)) => {
                let mut bound = session;
                bound.jkt = Some(jkt.to_owned());
                let seal = self.refresh_keys.seal(&bound);
                match timed(StoreOp::Bind, self.dpop_store()?.bind(&id, jkt, &seal, now)).await? {
                    None => Err(AuthError::InvalidGrant.into()),
                    Some(after) if after.jkt.as_deref() == Some(jkt) => {
                        tracing::debug!("session bound to a DPoP key");
                        Ok(())
                    }
                    // Bound a moment ago by a concurrent refresh, to another key.
                    Some(_) => Err(wrong_key().into()),
                }
            }
        }
    }

    /// Revokes the whole session of a genuine refresh token (spent or not); anything else is
    /// ignored, so the answer is no oracle (RFC 7009 §2.2).
    pub(crate) async fn logout(&self, token: &str) -> Result<(), AuthError> {
        if let Some(presented) = self.refresh_keys.verify(token) {
            let id = presented.session;
            let span = tracing::info_span!("logout", session = %id);
            async {
                if self.revoke(&id, None, RevocationReason::Logout).await? {
                    tracing::debug!("session logged out");
                }
                Ok::<_, AuthError>(())
            }
            .instrument(span)
            .await?;
        }
        telemetry::logged_out();
        Ok(())
    }

    /// Deletes a session from the store (and its tokens from the verified-token cache), and
    /// reports it for `reason`. Returns whether it was there.
    pub(crate) async fn revoke(
        &self,
        id: &SessionId,
        subject: Option<&str>,
        reason: RevocationReason,
    ) -> Result<bool, AuthError> {
        // A logout's token and a revocation by id name only the session: every event names
        // its subject, so with someone listening the record is read first (and only then).
        // Best effort, for the report only: a failed read leaves the subject unknown and the
        // revocation goes ahead (nor is it counted among the request's store operations).
        let loaded = match subject {
            None if self.events.is_listening() => self
                .store
                .load(id, self.clock.now())
                .await
                .ok()
                .flatten()
                .filter(|s| self.is_sealed(s))
                .map(|s| s.subject),
            _ => None,
        };
        let subject = subject.or(loaded.as_deref());
        self.record_revocation(Revoked::Session(*id)).await?;
        let existed = timed(StoreOp::Revoke, self.store.revoke(id)).await?;
        if existed {
            self.revoked(id, subject, reason);
        }
        Ok(existed)
    }

    /// What follows the revocation of a session that existed: its cached tokens are dropped,
    /// the revocation counted and reported.
    fn revoked(&self, id: &SessionId, subject: Option<&str>, reason: RevocationReason) {
        if let Some(cache) = &self.cache {
            cache.forget_session(id);
        }
        telemetry::sessions_revoked(reason, 1);
        self.events.emit(|| SecurityEvent::SessionRevoked {
            session: *id,
            subject: subject.map(str::to_owned),
            reason,
        });
    }

    /// Revokes every session of `subject` ("log out everywhere"). Returns how many.
    pub(crate) async fn revoke_subject(&self, subject: &str) -> Result<u64, AuthError> {
        let index = self.subject_index()?;
        self.record_revocation(Revoked::Subject(subject.to_owned()))
            .await?;
        let n = timed(StoreOp::RevokeSubject, index.revoke_subject(subject)).await?;
        if n > 0 {
            if let Some(cache) = &self.cache {
                cache.forget_subject(subject);
            }
            telemetry::sessions_revoked(RevocationReason::Subject, n);
            self.events.emit(|| SecurityEvent::SubjectRevoked {
                subject: subject.to_owned(),
                sessions: n,
            });
        }
        tracing::info!(sessions = n, "revoked every session of a subject");
        Ok(n)
    }

    /// The live sessions of `subject`, newest first; a record that fails its seal (or that
    /// the store lists under the wrong subject) is left out.
    pub(crate) async fn sessions(&self, subject: &str) -> Result<Vec<SessionInfo>, AuthError> {
        let now = self.clock.now();
        let index = self.subject_index()?;
        let mut sessions = timed(StoreOp::List, index.list(subject, now)).await?;
        sessions.retain(|s| s.subject == subject && s.is_live(now) && self.is_sealed(s));
        sessions.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
        Ok(sessions.into_iter().map(SessionInfo::from).collect())
    }

    /// One page of the live sessions of `subject`, newest first: at most `limit`, after
    /// `after`. A record that fails its seal (or that the store lists under the wrong subject)
    /// is left out, so a page may hold fewer; the cursor of the next page is the store's.
    pub(crate) async fn sessions_page(
        &self,
        subject: &str,
        limit: usize,
        after: Option<&PageCursor>,
    ) -> Result<SessionInfoPage, AuthError> {
        let now = self.clock.now();
        let index = self.subject_index()?;
        let page = timed(
            StoreOp::List,
            index.list_page(subject, now, limit.max(1), after),
        )
        .await?;
        Ok(SessionInfoPage {
            sessions: page
                .sessions
                .into_iter()
                .filter(|s| s.subject == subject && s.is_live(now) && self.is_sealed(s))
                .map(SessionInfo::from)
                .collect(),
            next: page.next,
        })
    }

    /// After a login of `subject` started session `started`: ends the subject's oldest live
    /// sessions past the [limit](crate::RefreshAuthBuilder::max_sessions_per_subject), never
    /// `started`, each reported with [`RevocationReason::SessionLimit`]. Best effort: the
    /// session is stored, so a store failure here is logged and left to the next login.
    pub(crate) async fn limit_sessions(&self, subject: &str, started: &SessionId) {
        let Some(limit) = self.max_sessions else {
            return;
        };
        match self.end_sessions_past_limit(subject, started, limit).await {
            Ok(0) => {}
            Ok(ended) => tracing::info!(
                session = %started,
                ended,
                limit,
                "a login ended its user's oldest sessions, past the limit"
            ),
            Err(err) => tracing::warn!(
                session = %started,
                error = %err,
                "could not check the user's number of sessions; checked again at the next login"
            ),
        }
    }

    async fn end_sessions_past_limit(
        &self,
        subject: &str,
        started: &SessionId,
        limit: usize,
    ) -> Result<u64, AuthError> {
        /// How many sessions past the limit are read at a time.
        const PAGE: usize = 100;
        let now = self.clock.now();
        // The newest `max_sessions` stay; the cursor after them is where the oldest begin.
        let index = self.subject_index()?;
        let newest = index.list_page(subject, now, limit, None);
        let mut after = timed(StoreOp::List, newest).await?.next;
        let mut ended = 0;
        while let Some(cursor) = after {
            let older = index.list_page(subject, now, PAGE, Some(&cursor));
            let page = timed(StoreOp::List, older).await?;
            for session in &page.sessions {
                // A clock behind another instance's may sort the new session among the old.
                if session.id == *started || session.subject != subject {
                    continue;
                }
                if self
                    .revoke(&session.id, Some(subject), RevocationReason::SessionLimit)
                    .await?
                {
                    ended += 1;
                }
            }
            after = page.next;
        }
        Ok(ended)
    }

    /// Revokes session `id` if it is a live session of `subject` with an intact record;
    /// anything else (unknown, someone else's) is left alone, and answered alike. Returns
    /// whether it was revoked.
    pub(crate) async fn revoke_own(
        &self,
        subject: &str,
        id: &SessionId,
    ) -> Result<bool, AuthError> {
        let now = self.clock.now();
        match timed(StoreOp::Load, self.store.load(id, now)).await? {
            Some(session) if session.subject == subject && self.is_sealed(&session) => {
                self.revoke(id, Some(subject), RevocationReason::Session)
                    .await
            }
            _ => Ok(false),
        }
    }

    /// With session checking on: the session must still be live, and its record intact.
    pub(crate) async fn check_session(&self, id: &SessionId) -> Result<(), AuthError> {
        match timed(StoreOp::Load, self.store.load(id, self.clock.now())).await? {
            Some(session) if self.is_sealed(&session) => Ok(()),
            // A record that fails its seal counts as no session at all.
            Some(_) | None => Err(invalid_token("the session has been revoked")),
        }
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
            .reseal(&session.id, &self.refresh_keys.seal(session))
            .await
        {
            Ok(_) => {
                tracing::debug!(session = %session.id, "session sealed under the current secret")
            }
            Err(err) => tracing::warn!(
                session = %session.id,
                error = %err,
                "could not seal a session under the current secret; retried at its next refresh"
            ),
        }
    }

    /// Whether the store's record of a session carries its own seal; logs at `error` when
    /// it does not (the session id only: the record holds no token, the log no key).
    pub(crate) fn is_sealed(&self, session: &Session) -> bool {
        self.seal_state(session) != Sealed::Broken
    }

    /// What a session's seal says, logged at `error` when the record is not the layer's
    /// (the session id only: the record holds no token, the log no key).
    fn seal_state(&self, session: &Session) -> Sealed {
        let sealed = self.refresh_keys.check_seal(session);
        if sealed == Sealed::Broken {
            tracing::error!(
                session = %session.id,
                "session record failed its integrity check; refused"
            );
        }
        sealed
    }
}

/// The refusal of a refresh of a bound session without a proof by its key.
fn wrong_key() -> AuthError {
    DpopError::grant(
        DpopCode::InvalidProof,
        "the session is bound to a DPoP key: send a proof signed by it",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, ManualClock};
    use crate::store::{DpopStore, MemoryStore, RefreshStore, SubjectIndex};
    use crate::{NoClaims, RefreshAuth};

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

    const SECRET: &[u8] = b"a rotation test secret of at least 32 bytes";

    /// A store that hands every record it loads or rotates back with its subject changed, as someone with write
    /// access to the database would leave it; what it keeps stays intact.
    #[derive(Debug, Clone, Default)]
    struct Rewriting(MemoryStore);

    fn rewrite(mut session: Session) -> Session {
        session.subject = "admin".into();
        session
    }

    #[async_trait::async_trait]
    impl RefreshStore for Rewriting {
        async fn create(&self, session: &Session) -> Result<(), StoreError> {
            self.0.create(session).await
        }
        async fn load(
            &self,
            id: &SessionId,
            now: SystemTime,
        ) -> Result<Option<Session>, StoreError> {
            Ok(self.0.load(id, now).await?.map(rewrite))
        }
        async fn rotate(
            &self,
            id: &SessionId,
            expected: u64,
            next: u64,
            now: SystemTime,
            expires_at: SystemTime,
        ) -> Result<Rotation, StoreError> {
            Ok(
                match self.0.rotate(id, expected, next, now, expires_at).await? {
                    Rotation::Rotated(s) => Rotation::Rotated(rewrite(s)),
                    Rotation::Conflict(s) => Rotation::Conflict(rewrite(s)),
                    Rotation::NotFound => Rotation::NotFound,
                },
            )
        }
        async fn revoke(&self, id: &SessionId) -> Result<bool, StoreError> {
            self.0.revoke(id).await
        }
        async fn reseal(&self, id: &SessionId, seal: &str) -> Result<bool, StoreError> {
            self.0.reseal(id, seal).await
        }
        fn subject_index(&self) -> Option<&dyn SubjectIndex> {
            self.0.subject_index()
        }
        fn dpop(&self) -> Option<&dyn DpopStore> {
            self.0.dpop()
        }
    }

    /// A store that, on the first `rotate` through it, lets another instance refresh the same
    /// token first, with the clock a millisecond later: two tabs of one browser, the second
    /// request read the time first but reached the store last.
    #[derive(Debug, Clone)]
    struct Overtaken {
        inner: MemoryStore,
        clock: ManualClock,
        /// The other instance and the token it refreshes first, taken by the first `rotate`.
        first: std::sync::Arc<std::sync::Mutex<Option<Overtaker>>>,
        overtaker_got: std::sync::Arc<std::sync::Mutex<Option<String>>>,
    }

    type Overtaker = (RefreshAuth<NoClaims>, String);

    #[async_trait::async_trait]
    impl RefreshStore for Overtaken {
        async fn create(&self, session: &Session) -> Result<(), StoreError> {
            self.inner.create(session).await
        }
        async fn load(
            &self,
            id: &SessionId,
            now: SystemTime,
        ) -> Result<Option<Session>, StoreError> {
            self.inner.load(id, now).await
        }
        async fn rotate(
            &self,
            id: &SessionId,
            expected: u64,
            next: u64,
            now: SystemTime,
            expires_at: SystemTime,
        ) -> Result<Rotation, StoreError> {
            let overtaker = self.first.lock().unwrap().take();
            if let Some((auth, token)) = overtaker {
                self.clock.advance(Duration::from_millis(1));
                let pair = auth.refresh(&token).await.unwrap();
                *self.overtaker_got.lock().unwrap() = Some(pair.refresh_token);
            }
            self.inner.rotate(id, expected, next, now, expires_at).await
        }
        async fn revoke(&self, id: &SessionId) -> Result<bool, StoreError> {
            self.inner.revoke(id).await
        }
        async fn reseal(&self, id: &SessionId, seal: &str) -> Result<bool, StoreError> {
            self.inner.reseal(id, seal).await
        }
        fn subject_index(&self) -> Option<&dyn SubjectIndex> {
            self.inner.subject_index()
        }
        fn dpop(&self) -> Option<&dyn DpopStore> {
            self.inner.dpop()
        }
    }

    #[tokio::test]
    async fn a_tab_overtaken_by_another_on_the_same_instance_is_inside_the_window() {
        let inner = MemoryStore::new();
        let clock = ManualClock::default();
        let first = RefreshAuth::<NoClaims>::builder()
            .hs256(SECRET.to_vec())
            .store(inner.clone())
            .clock(clock.clone())
            .build()
            .unwrap();
        let pair = first.issue("alice", NoClaims {}).await.unwrap();
        let store = Overtaken {
            inner: inner.clone(),
            clock: clock.clone(),
            first: std::sync::Arc::new(std::sync::Mutex::new(Some((
                first.clone(),
                pair.refresh_token.clone(),
            )))),
            overtaker_got: std::sync::Arc::default(),
        };
        let second = RefreshAuth::<NoClaims>::builder()
            .hs256(SECRET.to_vec())
            .store(store.clone())
            .clock(clock.clone())
            .build()
            .unwrap();

        // This request reads the time, then the other tab rotates (a millisecond later), then
        // this request's swap finds the token spent: a race inside the window, not a theft.
        let late = second.refresh(&pair.refresh_token).await.unwrap();
        let early = store.overtaker_got.lock().unwrap().clone().unwrap();
        assert_eq!(
            late.refresh_token, early,
            "both tabs hold the same successor"
        );
        assert!(first.refresh(&early).await.is_ok(), "the session lives on");
    }

    /// A writer that keeps what the subscriber wrote.
    #[derive(Clone, Default)]
    struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    // The only test in this binary that reaches the integrity check's `error!`, so no test
    // without a subscriber can race it into tracing's interest cache.
    #[tokio::test]
    async fn a_record_failing_its_seal_is_refused_logged_and_never_signed() {
        let logs = Captured::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);

        let store = Rewriting::default();
        let clock = ManualClock::default();
        let auth = RefreshAuth::<NoClaims>::builder()
            .hs256(SECRET.to_vec())
            .store(store.clone())
            .clock(clock.clone())
            .check_sessions(true)
            .build()
            .unwrap();
        let pair = auth.issue("alice", NoClaims {}).await.unwrap();
        let id = pair.session_id;

        // The session check: a record that fails its seal is no session.
        let err = auth.shared.check_session(&id).await.unwrap_err();
        assert_eq!(err.description(), "the session has been revoked");
        // The refresh: refused like an unknown session, nothing signed for "admin".
        assert!(matches!(
            auth.refresh(&pair.refresh_token).await,
            Err(AuthError::InvalidGrant)
        ));
        // The spent token replayed after the window: still refused as unknown, and the
        // tampered record decides no revocation either.
        clock.advance(Duration::from_secs(60));
        assert!(matches!(
            auth.refresh(&pair.refresh_token).await,
            Err(AuthError::InvalidGrant)
        ));
        assert!(store.0.load(&id, clock.now()).await.unwrap().is_some());

        let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
        let errors: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("ERROR") && l.contains("failed its integrity check"))
            .collect();
        assert_eq!(errors.len(), 3, "{text}");
        assert!(errors.iter().all(|l| l.contains(&id.to_string())), "{text}");
        assert!(!text.contains("reuse detected"), "{text}");
        for secret in [&pair.refresh_token, &pair.access_token] {
            assert!(
                !text.contains(secret.as_str()),
                "a token was logged: {text}"
            );
        }
        assert!(
            !text.contains(std::str::from_utf8(SECRET).unwrap()),
            "{text}"
        );
    }

    fn counter_of(auth: &RefreshAuth<NoClaims>, token: &str) -> u64 {
        auth.shared.refresh_keys.verify(token).unwrap().counter
    }

    #[tokio::test]
    async fn a_token_ahead_of_a_restored_store_rolls_the_session_forward() {
        let store = MemoryStore::new();
        let clock = ManualClock::default();
        let events = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = std::sync::Arc::clone(&events);
        let auth = RefreshAuth::<NoClaims>::builder()
            .hs256(SECRET.to_vec())
            .store(store.clone())
            .clock(clock.clone())
            .on_security_event(move |e: &SecurityEvent| sink.lock().unwrap().push(e.clone()))
            .build()
            .unwrap();
        let first = auth.issue("alice", NoClaims {}).await.unwrap();
        let id = first.session_id;
        // The backup: the session as it was at its first token.
        let backup = store.load(&id, clock.now()).await.unwrap().unwrap();
        let second = auth.refresh(&first.refresh_token).await.unwrap();
        clock.advance(Duration::from_secs(60));
        let third = auth.refresh(&second.refresh_token).await.unwrap();
        assert_eq!(counter_of(&auth, &third.refresh_token), 2);
        // The store loses both rotations.
        store.create(&backup).await.unwrap();
        clock.advance(Duration::from_secs(60));

        let rolled = auth.refresh(&third.refresh_token).await.unwrap();
        // Its successor is past every counter ever minted, never a second token `1` or `2`.
        assert_eq!(counter_of(&auth, &rolled.refresh_token), 3);
        let record = store.load(&id, clock.now()).await.unwrap().unwrap();
        assert_eq!(record.counter, 3);
        assert_eq!(
            events.lock().unwrap().as_slice(),
            [SecurityEvent::RolledForward {
                session: id,
                subject: "alice".into(),
                generations: 2,
            }]
        );
        // The token just spent, replayed inside the window: the same successor again.
        let again = auth.refresh(&third.refresh_token).await.unwrap();
        assert_eq!(again.refresh_token, rolled.refresh_token);
        // A token behind the store, after the window, is still a reuse: the session ends.
        clock.advance(Duration::from_secs(60));
        assert!(matches!(
            auth.refresh(&second.refresh_token).await,
            Err(AuthError::InvalidGrant)
        ));
        assert!(store.load(&id, clock.now()).await.unwrap().is_none());
        assert!(matches!(
            auth.refresh(&rolled.refresh_token).await,
            Err(AuthError::InvalidGrant)
        ));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_roll_forwards_of_one_token_hand_out_one_successor() {
        let store = MemoryStore::new();
        let auth = RefreshAuth::<NoClaims>::builder()
            .hs256(SECRET.to_vec())
            .store(store.clone())
            .build()
            .unwrap();
        let first = auth.issue("alice", NoClaims {}).await.unwrap();
        let backup = store
            .load(&first.session_id, SystemTime::now())
            .await
            .unwrap()
            .unwrap();
        let second = auth.refresh(&first.refresh_token).await.unwrap();
        store.create(&backup).await.unwrap();
        let mut racers = tokio::task::JoinSet::new();
        for _ in 0..8 {
            let (auth, token) = (auth.clone(), second.refresh_token.clone());
            racers.spawn(async move { auth.refresh(&token).await });
        }
        let tokens: std::collections::HashSet<String> = racers
            .join_all()
            .await
            .into_iter()
            .map(|p| p.unwrap().refresh_token)
            .collect();
        assert_eq!(tokens.len(), 1, "one successor for every racer");
    }

    #[tokio::test]
    async fn a_secret_rotation_reseals_active_sessions_and_logs_nobody_out() {
        let store = MemoryStore::new();
        let (old, new) = ([1u8; 32], [2u8; 32]);
        let build = |secrets: &[&[u8; 32]]| {
            let mut b = RefreshAuth::<NoClaims>::builder()
                .hs256(SECRET.to_vec())
                .store(store.clone())
                .refresh_secret(secrets[0].to_vec());
            for previous in &secrets[1..] {
                b = b.previous_refresh_secret(previous.to_vec());
            }
            b.build().unwrap()
        };
        let before = build(&[&old]);
        let active = before.issue("alice", NoClaims {}).await.unwrap();
        let idle = before.issue("carol", NoClaims {}).await.unwrap();

        // The new secret first, the old one kept: the active session refreshes, and is
        // sealed again under the new secret on the way.
        let rotated = build(&[&new, &old]);
        let renewed = rotated.refresh(&active.refresh_token).await.unwrap();
        let record = store
            .load(&renewed.session_id, SystemTime::now())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            rotated.shared.refresh_keys.check_seal(&record),
            Sealed::Current
        );

        // The old secret removed: the active session goes on; the idle one, still sealed
        // and MACed under the old secret only, is over.
        let after = build(&[&new]);
        after.refresh(&renewed.refresh_token).await.unwrap();
        let idle_record = store
            .load(&idle.session_id, SystemTime::now())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            rotated.shared.refresh_keys.check_seal(&idle_record),
            Sealed::Previous
        );
        assert_eq!(
            after.shared.refresh_keys.check_seal(&idle_record),
            Sealed::Broken
        );
        assert!(matches!(
            after.refresh(&idle.refresh_token).await,
            Err(AuthError::InvalidGrant)
        ));
    }
}
