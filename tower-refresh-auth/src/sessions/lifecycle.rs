//! The session lifecycle: a login's new session, refresh, logout, revocation, listing and the
//! session check, each decided here once (a store only does the atomic operations).
//!
//! A refresh follows the rotation policy (RFC 9700 §4.14.2, [`classify`]): every refresh
//! spends its token, a spent token replayed inside the grace window gets the same successor,
//! one replayed later revokes the session. A genuine token *ahead* of the store, which lost
//! rotations, rolls the session forward.
//!
//! The log lines keep the target `tower_refresh_auth::rotation` they had before this module
//! moved ([`TARGET`]), so that filters written for it keep working.

use std::time::SystemTime;

use tracing::Instrument;

use serde_json::Value;

use super::Sessions;
use super::rotation::{Replay, classify};
use crate::clock::to_secs;
use crate::dpop::Verified;
use crate::error::{AuthError, DpopCode, DpopError, invalid_token};
use crate::events::{RevocationReason, SecurityEvent};
use crate::seal::Sealed;
use crate::session::{Login, PageCursor, Session, SessionId, SessionInfo, SessionInfoPage};
use crate::store::{Revoked, Rotation, StoreError};
use crate::telemetry::{self, Refresh, StoreOp, timed};
use crate::token::{AuthenticationClaims, TokenPair};

/// The target of this module's log lines and spans: the one they had before it moved.
const TARGET: &str = "tower_refresh_auth::rotation";

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
    /// Starts a session for `subject` with the application's `custom` claims (checked by
    /// [`AccessTokens::custom_claims`](crate::token::access::AccessTokens::custom_claims)) and
    /// returns its first pair. The `login` may carry a DPoP proof, which binds the session to
    /// its key, and how the user authenticated.
    pub(crate) async fn issue(
        &self,
        subject: String,
        custom: serde_json::Map<String, Value>,
        login: Login,
    ) -> Result<TokenPair, AuthError> {
        // docs/protocol.md §10: a login with a proof binds the session to its key.
        let (metadata, proof, authentication) = login.into_parts();
        let jkt = proof.as_ref().map(|p| p.thumbprint().to_owned());
        self.dpop.require_proof(jkt.as_deref())?;
        // Spent now, when the application has accepted the login, not when the request came
        // in: an anonymous request (a wrong password, no account) takes no slot of the replay
        // memory. Before the session is stored, so a replayed login starts nothing.
        if let Some(proof) = &proof {
            self.dpop.spend_proof(&proof.into(), false).await?;
        }
        let now = self.clock.now();
        let id = SessionId::random();
        // docs/protocol.md §15: the login is the session's first authentication.
        let auth = AuthenticationClaims::new(to_secs(now), authentication);
        // Signed before the session is stored, so a claims error stores nothing.
        let access_token = self
            .access
            .sign(&subject, &id, &custom, &auth, jkt.as_deref(), now)?;
        // Stored among the claims, so the seal binds how the user authenticated too.
        let mut stored = custom;
        auth.put_into(&mut stored);
        let mut session = Session {
            id,
            claims: Value::Object(stored).to_string(),
            subject,
            counter: 0,
            created_at: now,
            rotated_at: now,
            expires_at: now + self.refresh_ttl,
            absolute_expires_at: self.session_lifetime.map(|l| now + l),
            seal: String::new(),
            jkt: jkt.clone(),
            metadata,
        };
        // Binds subject and claims to the session, so a store writer cannot change them.
        session.seal = self.keys.seal(&session);
        timed(StoreOp::Create, self.store.create(&session)).await?;
        telemetry::session_started();
        tracing::debug!(target: TARGET, session = %id, "session started");
        self.limit_sessions(&session.subject, &id).await;
        Ok(TokenPair {
            access_token,
            refresh_token: self.keys.mint(&id, 0),
            expires_in: self.access.ttl_secs(),
            session_id: id,
            dpop_jkt: jkt,
        })
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
            let sealed = self.seal_state(&session);
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
        self.dpop.require_proof(proof)?;
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
            self.dpop.spend_proof(verified, false).await?;
        }
        match (session.jkt.as_deref(), proof) {
            (Some(bound), Some(jkt)) if bound == jkt => Ok(()),
            (Some(_), _) => {
                tracing::warn!(
                    target: TARGET,
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
                let seal = self.keys.seal(&bound);
                match timed(StoreOp::Bind, self.dpop.store()?.bind(&id, jkt, &seal, now)).await? {
                    None => Err(AuthError::InvalidGrant.into()),
                    Some(after) if after.jkt.as_deref() == Some(jkt) => {
                        tracing::debug!(target: TARGET, "session bound to a DPoP key");
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
        if let Some(presented) = self.keys.verify(token) {
            let id = presented.session;
            let span = tracing::info_span!(target: TARGET, "logout", session = %id);
            async {
                if self.revoke(&id, None, RevocationReason::Logout).await? {
                    tracing::debug!(target: TARGET, "session logged out");
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
        self.access.forget_session(id);
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
            self.access.forget_subject(subject);
            telemetry::sessions_revoked(RevocationReason::Subject, n);
            self.events.emit(|| SecurityEvent::SubjectRevoked {
                subject: subject.to_owned(),
                sessions: n,
            });
        }
        tracing::info!(target: TARGET, sessions = n, "revoked every session of a subject");
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
                target: TARGET,
                session = %started,
                ended,
                limit,
                "a login ended its user's oldest sessions, past the limit"
            ),
            Err(err) => tracing::warn!(
                target: TARGET,
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

    /// Whether the store's record of a session carries its own seal; logs at `error` when
    /// it does not (the session id only: the record holds no token, the log no key).
    pub(crate) fn is_sealed(&self, session: &Session) -> bool {
        self.seal_state(session) != Sealed::Broken
    }

    /// What a session's seal says, logged at `error` when the record is not the layer's
    /// (the session id only: the record holds no token, the log no key).
    fn seal_state(&self, session: &Session) -> Sealed {
        let sealed = self.keys.check_seal(session);
        if sealed == Sealed::Broken {
            tracing::error!(
                target: TARGET,
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
