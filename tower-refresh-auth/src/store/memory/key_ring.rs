//! The [`MemoryStore`]'s [`KeyRingStore`]: one mutex around one record.

use super::MemoryStore;
use crate::store::{KeyRingStore, StoreError, StoredKeyRing};

/// One mutex around one record: a compare-and-swap is a comparison and a write under it.
#[async_trait::async_trait]
impl KeyRingStore for MemoryStore {
    async fn load_key_ring(&self) -> Result<Option<StoredKeyRing>, StoreError> {
        Ok(self.ring().clone())
    }

    async fn swap_key_ring(
        &self,
        expected: Option<u64>,
        next: &StoredKeyRing,
    ) -> Result<bool, StoreError> {
        let mut ring = self.ring();
        if ring.as_ref().map(|r| r.version) != expected {
            return Ok(false);
        }
        *ring = Some(next.clone());
        Ok(true)
    }
}

impl MemoryStore {
    /// The key ring's slot; a panic elsewhere cannot leave it half-written (it is replaced
    /// whole), so a poisoned lock is taken as it is.
    fn ring(&self) -> std::sync::MutexGuard<'_, Option<StoredKeyRing>> {
        self.inner
            .ring
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
