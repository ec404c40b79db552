//! The session lifecycle but the refresh ([`refresh`](super::refresh)): a login's new
//! session, logout, revocation and the session check, each decided here once (a store only
//! does the atomic operations).
//!
//! The log lines keep the target `tower_refresh_auth::rotation` they had before this module
//! moved ([`TARGET`]), so that filters written for it keep working.

use serde_json::Value;
use tracing::Instrument;

use super::{Sessions, TARGET};
use crate::clock::to_secs;
use crate::error::{AuthError, invalid_token};
use crate::events::{RevocationReason, SecurityEvent};
use crate::session::{Login, Session, SessionId};
use crate::store::Revoked;
use crate::telemetry::{self, StoreOp, timed};
use crate::token::{AuthenticationClaims, TokenPair};

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
                .filter(|s| self.keys.is_sealed(s))
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
            Some(session) if session.subject == subject && self.keys.is_sealed(&session) => {
                self.revoke(id, Some(subject), RevocationReason::Session)
                    .await
            }
            _ => Ok(false),
        }
    }

    /// With session checking on: the session must still be live, and its record intact.
    pub(crate) async fn check_session(&self, id: &SessionId) -> Result<(), AuthError> {
        match timed(StoreOp::Load, self.store.load(id, self.clock.now())).await? {
            Some(session) if self.keys.is_sealed(&session) => Ok(()),
            // A record that fails its seal counts as no session at all.
            Some(_) | None => Err(invalid_token("the session has been revoked")),
        }
    }
}
