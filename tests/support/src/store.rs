//! The one failure-injecting store: the memory store behind the core's forwarding wrapper
//! ([`Intercepted`]), with an [`Outage`] switch and counters as its hooks.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tower_refresh_auth::store::intercept::{Call, Capability, Hooks, Intercepted};
use tower_refresh_auth::store::{MemoryStore, StoreError};

/// A [`MemoryStore`] that can be taken down and that counts what it is asked.
///
/// While down (see [`set_down`](Outage::set_down)) every call fails with
/// [`StoreError::Unavailable`] and changes nothing, as when the backend is unreachable. It
/// counts every call (to show what is refused before any round trip), the rotations it
/// carried out (one per successful refresh) and the sessions it revoked (one per logout that
/// ended a live session). Clones share the sessions, the switch and the counters. It offers
/// the subject index, DPoP and re-authentication; no key ring and no revocation feed.
pub type TestStore = Intercepted<MemoryStore, Outage>;

/// The hooks of a [`TestStore`]: the switch and the counters, shared by clones.
#[derive(Debug, Clone, Default)]
pub struct Outage {
    down: Arc<AtomicBool>,
    calls: Arc<AtomicU64>,
    rotations: Arc<AtomicU64>,
    revocations: Arc<AtomicU64>,
}

impl Outage {
    /// Takes the store down (every call fails) or brings it back.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    /// Calls of any kind since the store was made or [`reset_calls`](Self::reset_calls).
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }

    /// Starts counting calls from zero again.
    pub fn reset_calls(&self) {
        self.calls.store(0, Ordering::SeqCst);
    }

    /// Rotations carried out (the compare-and-swap won, or a re-authentication took).
    pub fn rotations(&self) -> u64 {
        self.rotations.load(Ordering::SeqCst)
    }

    /// Sessions revoked one by one (a logout or a detected reuse that ended a live session).
    pub fn revocations(&self) -> u64 {
        self.revocations.load(Ordering::SeqCst)
    }
}

#[async_trait::async_trait]
impl Hooks for Outage {
    async fn before(&self, _call: Call) -> Result<(), StoreError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.down.load(Ordering::SeqCst) {
            Err(StoreError::unavailable("simulated outage"))
        } else {
            Ok(())
        }
    }

    fn changed(&self, call: Call) {
        match call {
            Call::Rotate | Call::RotateUnbound | Call::Reauthenticate => {
                self.rotations.fetch_add(1, Ordering::SeqCst);
            }
            Call::Revoke => {
                self.revocations.fetch_add(1, Ordering::SeqCst);
            }
            _ => {}
        }
    }

    fn offers(&self, capability: Capability) -> bool {
        matches!(
            capability,
            Capability::SubjectIndex | Capability::Dpop | Capability::Reauth
        )
    }
}
