//! [`RingSwitch`]: a store whose key-ring operations can be taken down, for the fleet-key
//! tests (`docs/protocol.md` §13).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tower_refresh_auth::store::StoreError;
use tower_refresh_auth::store::intercept::{Call, Capability, Hooks, Intercepted};

/// A store whose key-ring operations can be taken down; everything else passes through. It
/// offers no revocation feed.
pub type RingSwitch<S> = Intercepted<S, RingDown>;

/// The hooks of a [`RingSwitch`]: while the flag is `true`, the key-ring operations fail with
/// [`StoreError::Unavailable`].
#[derive(Debug, Clone, Default)]
pub struct RingDown(pub Arc<AtomicBool>);

#[async_trait::async_trait]
impl Hooks for RingDown {
    async fn before(&self, call: Call) -> Result<(), StoreError> {
        let ring = matches!(call, Call::LoadKeyRing | Call::SwapKeyRing);
        if ring && self.0.load(Ordering::SeqCst) {
            Err(StoreError::unavailable("the key ring's store is down"))
        } else {
            Ok(())
        }
    }

    fn offers(&self, capability: Capability) -> bool {
        capability != Capability::RevocationFeed
    }
}
