//! Every revocation the sessions perform: recorded in the store's
//! [`RevocationFeed`](crate::store::RevocationFeed) first, so that the instances following
//! the feed ([`SessionChecking::Feed`](crate::SessionChecking::Feed)) learn of it; and what
//! follows one that happened ([`revoked`](Sessions::revoked)).

use std::time::Duration;

use super::Sessions;
use crate::error::AuthError;
use crate::events::{RevocationReason, SecurityEvent};
use crate::session::SessionId;
use crate::store::{Revocation, Revoked};
use crate::telemetry::{self, StoreOp, timed};

impl Sessions {
    /// Records `revoked` in the store's revocation feed, when it keeps one, before the
    /// revocation itself: a revocation the feed could not record fails (`503`) and changes
    /// nothing, so no instance that follows the feed can miss one that happened. Also taken
    /// into this instance's own set at once.
    pub(crate) async fn record_revocation(&self, revoked: Revoked) -> Result<(), AuthError> {
        let Some(feed) = self.store.revocation_feed() else {
            return Ok(());
        };
        let now = self.clock.now();
        // Long enough for any access token issued before now to expire, whole seconds up.
        let lifetime = Duration::from_secs(self.access.ttl_secs().saturating_add(1))
            + Duration::from_millis(self.access.leeway_ms());
        let revocation = Revocation::new(revoked, now, lifetime);
        timed(StoreOp::PublishRevocation, feed.publish(&revocation, now)).await?;
        telemetry::revocation_published();
        self.check_sessions.revoked_here(&revocation, now);
        Ok(())
    }

    /// What follows the revocation of a session that existed: its cached tokens are dropped,
    /// the revocation counted and reported.
    pub(super) fn revoked(&self, id: &SessionId, subject: Option<&str>, reason: RevocationReason) {
        self.access.forget_session(id);
        telemetry::sessions_revoked(reason, 1);
        self.events.emit(|| SecurityEvent::SessionRevoked {
            session: *id,
            subject: subject.map(str::to_owned),
            reason,
        });
    }
}
