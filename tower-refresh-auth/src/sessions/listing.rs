//! Listing a subject's sessions (the sessions routes, `docs/protocol.md` §8), and the limit
//! of sessions per subject a login enforces.

use super::{Sessions, TARGET};
use crate::error::AuthError;
use crate::events::RevocationReason;
use crate::session::{PageCursor, SessionId, SessionInfo, SessionInfoPage};
use crate::telemetry::{StoreOp, timed};

impl Sessions {
    /// The live sessions of `subject`, newest first; a record that fails its seal (or that
    /// the store lists under the wrong subject) is left out.
    pub(crate) async fn sessions(&self, subject: &str) -> Result<Vec<SessionInfo>, AuthError> {
        let now = self.clock.now();
        let index = self.subject_index()?;
        let mut sessions = timed(StoreOp::List, index.list(subject, now)).await?;
        sessions.retain(|s| s.subject == subject && s.is_live(now) && self.keys.is_sealed(s));
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
                .filter(|s| s.subject == subject && s.is_live(now) && self.keys.is_sealed(s))
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
}
