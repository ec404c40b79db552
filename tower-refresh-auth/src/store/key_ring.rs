//! The [`KeyRingStore`] capability: one versioned record holding the sealed key ring of a
//! fleet (`docs/protocol.md` §13), replaced only by compare-and-swap on its version.

use super::StoreError;

/// The key ring as a store keeps it: a version and an opaque sealed text. The store never
/// looks inside `data`; the layer seals it under the application's key-encryption key, with
/// the version in the associated data, so a store that changes either only gets its record
/// refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredKeyRing {
    /// Starts at 1; each replacement is one more.
    pub version: u64,
    /// The sealed ring (ASCII text).
    pub data: String,
}

/// A store capability: one key-ring record shared by every instance of a fleet, read in one
/// call and replaced by compare-and-swap on its version, so that of N instances racing to
/// advance the ring exactly one wins (`docs/protocol.md` §13).
///
/// A store offers it by implementing this trait and
/// [`RefreshStore::key_ring`](super::RefreshStore::key_ring) as `Some(self)`;
/// key rotation on a store without it is refused when the layer is built.
#[async_trait::async_trait]
pub trait KeyRingStore: Send + Sync {
    /// The record, if one was ever stored.
    async fn load_key_ring(&self) -> Result<Option<StoredKeyRing>, StoreError>;

    /// Atomically: if the stored record's version is `expected` (`None`: no record is
    /// stored), stores `next` and returns `true`; otherwise changes nothing and returns
    /// `false`. The layer always asks for `next.version` one more than `expected` (1 when
    /// `None`). N concurrent calls with the same `expected` must yield exactly one `true`.
    async fn swap_key_ring(
        &self,
        expected: Option<u64>,
        next: &StoredKeyRing,
    ) -> Result<bool, StoreError>;
}
