//! Fleet keys (`docs/protocol.md` §13): the access-token signing keys and the refresh-token
//! MAC and session-seal secrets kept in the shared store, sealed under a key-encryption key,
//! and rotated on a schedule that whichever instance comes first advances.
//!
//! Turn it on with [`RefreshAuthBuilder::key_rotation`](crate::RefreshAuthBuilder::key_rotation)
//! and build with
//! [`build_with_key_rotation`](crate::RefreshAuthBuilder::build_with_key_rotation), which
//! reads the ring from the store (an empty store gets its first ring from the first instance
//! that starts; the others adopt it and make nothing), then run the returned [`KeyRingSync`]
//! in the background:
//!
//! ```
//! use std::time::Duration;
//! use tower_refresh_auth::fleet::{KeyEncryptionKey, KeyRotation};
//! use tower_refresh_auth::store::MemoryStore;
//! use tower_refresh_auth::{Algorithm, NoClaims, RefreshAuth};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! // 32 random bytes, base64url, from the environment or a file.
//! let kek = KeyEncryptionKey::from_base64url("kSLE4f1bIdGV3BzOmAntt7dcmIMb-G30wtgCcQvMe-o")?;
//! let store = MemoryStore::new(); // in a fleet: RedisStore, PostgresStore, SqliteStore
//! let (auth, sync) = RefreshAuth::<NoClaims>::builder()
//!     .store(store.clone())
//!     .key_rotation(KeyRotation::new(Duration::from_secs(30 * 24 * 3600), kek).algorithm(Algorithm::EdDSA))
//!     .build_with_key_rotation()
//!     .await?;
//! tokio::spawn(sync.clone().run());
//! assert_eq!(sync.status().version, 1);
//! let pair = auth.issue("user1", NoClaims {}).await?;
//! assert!(auth.verify(&pair.access_token).is_ok());
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! # The schedule
//!
//! A key signs for the configured lifetime. One publish-ahead before that ends (the JWKS
//! max-age plus two poll intervals, so that every instance has served the next key for a
//! whole max-age, and every verifier's cache knows it, before it signs anything),
//! whichever instance polls first makes the next key and a next refresh secret, and stores
//! the ring with a compare-and-swap on its version: of N instances racing, one stores its
//! key and the others adopt it, so each step makes exactly one key. Every instance polls
//! every [`poll_interval`](KeyRotation::poll_interval) (± a quarter, at random), at most half
//! the publish-ahead, so each has the next key long before it signs. A key's state follows
//! from its times and the clock, so every instance switches at the same instant (the poll
//! wakes for it). A retired key verifies (and stays published) for the key overlap (at least
//! the access-token lifetime plus leeway) plus two polls; a retired refresh secret for the
//! refresh-token lifetime plus two polls — the polls cover an instance that was late to
//! switch.
//!
//! # Failures
//!
//! - A store that cannot be reached when a step is due postpones it: signing goes on with the
//!   current key (counted, and a [`SecurityEvent::KeyRotationPostponed`]); the step is taken
//!   by the first poll that reaches the store. Keys are only ever made by a successful
//!   compare-and-swap, so no instance signs with a key that is not in the store.
//! - A stored ring that does not open under the key-encryption key (changed or planted by
//!   someone without it), or that is older than the one in use, is refused, logged at
//!   `error` and counted; the last good ring stays in use.
//! - At start, a ring that does not open stops the build with
//!   [`KeyRingError::WrongKek`] or [`KeyRingError::Unsealed`]. While rotating the
//!   key-encryption key, give the old one as
//!   [`previous_key_encryption_key`](KeyRotation::previous_key_encryption_key): a ring sealed
//!   under it opens, and is sealed again under the new one.
//!
//! [`SecurityEvent::KeyRotationPostponed`]: crate::SecurityEvent::KeyRotationPostponed

mod kek;
mod key_dir;
mod keygen;
mod ring;
mod sync;
mod telemetry;

use std::time::Duration;

pub use self::kek::{KEK_LEN, KeyEncryptionKey};
pub use self::key_dir::{DirectoryKeys, KeyDirectory, KeyDirectoryWatch};
pub use self::sync::{KeyRingStatus, KeyRingSync, KeyState, RingKeyStatus, Synced};
use crate::error::ConfigError;
pub use crate::error::KeyRingError;
use crate::keys::Algorithm;

pub(crate) use self::ring::{Policy, Ring};

/// The longest polling interval: instances adopt a new ring at least this often.
const MAX_POLL: Duration = Duration::from_secs(30);

/// Key rotation on the shared store: the typed settings group given to
/// [`RefreshAuthBuilder::key_rotation`](crate::RefreshAuthBuilder::key_rotation). See the
/// [module docs](self).
#[derive(Debug, Clone)]
#[must_use = "give it to `RefreshAuthBuilder::key_rotation`"]
pub struct KeyRotation {
    pub(crate) lifetime: Duration,
    pub(crate) algorithm: Algorithm,
    pub(crate) kek: KeyEncryptionKey,
    pub(crate) previous_kek: Option<KeyEncryptionKey>,
    pub(crate) poll_interval: Option<Duration>,
}

impl KeyRotation {
    /// Keys that each sign for `lifetime` (at least 1 s), ES256 unless
    /// [`algorithm`](Self::algorithm) says otherwise, kept sealed under `kek`.
    pub fn new(lifetime: Duration, kek: KeyEncryptionKey) -> Self {
        Self {
            lifetime,
            algorithm: Algorithm::ES256,
            kek,
            previous_kek: None,
            poll_interval: None,
        }
    }

    /// The algorithm of the keys the ring makes: `ES256` (the default) or `EdDSA`. Keys
    /// already in the ring keep theirs.
    pub fn algorithm(mut self, alg: Algorithm) -> Self {
        self.algorithm = alg;
        self
    }

    /// The key-encryption key being rotated out: a ring sealed under it opens, and is sealed
    /// again under the new one by the first instance that reads it.
    pub fn previous_key_encryption_key(mut self, kek: KeyEncryptionKey) -> Self {
        self.previous_kek = Some(kek);
        self
    }

    /// How often each instance reads the ring (default: a quarter of the publish-ahead, at
    /// most 30 s), each time within ± a quarter of it at random so that a fleet does not poll
    /// in step. At most half the publish-ahead.
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = Some(interval);
        self
    }

    /// The schedule, from the layer's key overlap, JWKS max-age and refresh-token lifetime;
    /// and the polling interval.
    pub(crate) fn policy(
        &self,
        overlap: Duration,
        jwks_max_age: Duration,
        refresh_ttl: Duration,
    ) -> Result<(Policy, Duration), ConfigError> {
        if self.lifetime < Duration::from_secs(1) {
            return Err(ConfigError::KeyRotationSetting(
                "the signing-key lifetime must be at least 1 s".into(),
            ));
        }
        if !matches!(self.algorithm, Algorithm::ES256 | Algorithm::EdDSA) {
            return Err(ConfigError::KeyRotationSetting(format!(
                "the ring makes ES256 or EdDSA keys, not {}",
                self.algorithm
            )));
        }
        let publish_ahead = jwks_max_age.max(Duration::from_secs(1));
        let poll = self
            .poll_interval
            .unwrap_or_else(|| (publish_ahead / 4).min(MAX_POLL));
        if poll.is_zero() || poll > publish_ahead / 2 {
            return Err(ConfigError::KeyRotationSetting(format!(
                "the poll interval ({poll:?}) must be more than zero and at most half the JWKS \
                 max-age ({publish_ahead:?}), so that every instance has a key before it signs"
            )));
        }
        // An instance adopts a new ring within 1.25 polls: a key is published one max-age
        // plus two polls before it signs, so that every instance has served it for at least
        // one max-age by then.
        // Likewise an instance may go on signing with a key (and minting with a secret) for
        // up to 1.25 polls after its successor took over, if it polls in between: a retired
        // key and secret are kept two polls longer than their tokens' lifetime.
        let margin = poll * 2;
        Ok((
            Policy::new(
                self.lifetime,
                publish_ahead + margin,
                overlap + margin,
                refresh_ttl + margin,
            ),
            poll,
        ))
    }
}
