//! [`KeyRingSync`]: one instance's side of the fleet's key ring — reading it, adopting it,
//! advancing it when a step is due, and installing it in the layer.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::ring::{Policy, Ring, State, ms};
use super::{KeyRotation, telemetry};
use crate::error::KeyRingError;
use crate::events::SecurityEvent;
use crate::keys::Algorithm;
use crate::shared::Shared;
use crate::store::{RefreshStore, StoredKeyRing};
use crate::token::access::KeyStatus;

/// Keeps one instance's keys in step with the fleet's ring in the store. Made by
/// [`build_with_key_rotation`](crate::RefreshAuthBuilder::build_with_key_rotation); run
/// [`run`](Self::run) in the background, or call [`sync`](Self::sync) from a timer of your
/// own. Cheap to clone.
///
/// The ring decides which keys sign and verify: a change made through
/// [`RefreshAuth::keys`](crate::RefreshAuth::keys) lasts until the next sync installs the
/// ring's keys again.
#[derive(Clone)]
pub struct KeyRingSync {
    inner: Arc<Inner>,
}

struct Inner {
    shared: Arc<Shared>,
    store: Arc<dyn RefreshStore>,
    settings: KeyRotation,
    policy: Policy,
    poll: Duration,
    local: Mutex<Local>,
}

/// The last good ring and what is installed from it.
struct Local {
    ring: Ring,
    version: u64,
    /// What was last installed: the version, the signing kid, the kids and secrets verifying.
    installed: Option<(u64, String, usize, usize)>,
}

/// What one [`KeyRingSync::sync`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Synced {
    /// The ring in the store is the one in use; no step was due.
    Unchanged,
    /// A ring another instance stored was adopted.
    Adopted {
        /// Its version.
        version: u64,
    },
    /// This instance made the step: a new key, published now.
    Rotated {
        /// The new ring's version.
        version: u64,
        /// The new key's `kid`.
        kid: String,
    },
    /// The ring was sealed again under the new key-encryption key.
    Resealed {
        /// The new version.
        version: u64,
    },
    /// The store held no ring (deleted, or a store emptied): the last good one was written
    /// back, one version on.
    Restored {
        /// The new version.
        version: u64,
    },
    /// The stored ring was refused; the last good one stays in use.
    Refused,
    /// The store could not be reached; the last good ring stays in use.
    StoreUnavailable {
        /// Whether a step was due (and is postponed).
        step_postponed: bool,
    },
}

/// Where a key of the ring stands now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyState {
    /// Published, not signing yet.
    Next,
    /// Signing.
    Current,
    /// No longer signing; verifying until its overlap has passed.
    Retired,
}

/// One key of the ring in use, as [`KeyRingSync::status`] shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RingKeyStatus {
    /// The key's `kid`.
    pub kid: String,
    /// Its algorithm.
    pub algorithm: Option<Algorithm>,
    /// Where it stands now.
    pub state: KeyState,
    /// When it was added to the ring, and so published.
    pub published_at: SystemTime,
    /// When it starts (or started) signing.
    pub signs_from: SystemTime,
}

/// The ring in use on this instance, without any key material.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeyRingStatus {
    /// The ring's version in the store.
    pub version: u64,
    /// Its keys, newest first.
    pub keys: Vec<RingKeyStatus>,
}

impl KeyRingSync {
    pub(crate) fn new(
        shared: Arc<Shared>,
        store: Arc<dyn RefreshStore>,
        settings: KeyRotation,
        (policy, poll): (Policy, Duration),
        ring: Ring,
        version: u64,
    ) -> Result<Self, KeyRingError> {
        let sync = Self {
            inner: Arc::new(Inner {
                shared,
                store,
                settings,
                policy,
                poll,
                local: Mutex::new(Local {
                    ring,
                    version,
                    installed: None,
                }),
            }),
        };
        sync.install()?;
        Ok(sync)
    }

    /// Polls forever: [`sync`](Self::sync) every
    /// [`poll_interval`](super::KeyRotation::poll_interval), ± a quarter at random. Spawn it:
    /// `tokio::spawn(sync.run())`.
    pub async fn run(self) {
        loop {
            let jitter = 0.75 + rand::random::<f64>() / 2.0;
            let poll = self.inner.poll.mul_f64(jitter);
            // Wake for the next switch too, so that this instance changes keys on time.
            let switch = self.until_next_switch().unwrap_or(poll);
            tokio::time::sleep(poll.min(switch)).await;
            self.sync().await;
        }
    }

    /// How long until a key of the ring in use starts signing, by the layer's clock.
    fn until_next_switch(&self) -> Option<Duration> {
        let now = ms(self.inner.shared.clock.now());
        let local = self.local();
        let next = local
            .ring
            .keys
            .iter()
            .map(|k| k.signs_from)
            .filter(|from| *from > now)
            .min()?;
        Some(Duration::from_millis(next - now))
    }

    /// Reads the ring from the store once: adopts a newer one, refuses one that does not
    /// open, takes a due step (one compare-and-swap), and installs the keys in force now.
    pub async fn sync(&self) -> Synced {
        let outcome = self.read_and_step().await;
        if let Err(err) = self.install() {
            // The last good ring opened when it was adopted; it cannot fail now, but if it
            // did the keys in use stay as they are.
            tracing::error!(error = %err, "the key ring could not be installed");
        }
        outcome
    }

    async fn read_and_step(&self) -> Synced {
        let inner = &*self.inner;
        let Some(store) = inner.store.key_ring() else {
            return Synced::StoreUnavailable {
                step_postponed: false,
            };
        };
        let outcome = match store.load_key_ring().await {
            Err(err) => return self.postpone(&err.to_string()),
            Ok(None) => {
                // The record is gone (deleted by hand, a store flushed): put back the last
                // good ring, one version on, rather than start a new one.
                let (ring, version) = self.last_good();
                match self.store_ring(&ring, None, version + 1).await {
                    Ok(true) => {
                        tracing::warn!(
                            version = version + 1,
                            "the store held no key ring: the last good one was written back"
                        );
                        self.set(ring, version + 1);
                        Synced::Restored {
                            version: version + 1,
                        }
                    }
                    Ok(false) => return self.reread().await,
                    Err(err) => return self.postpone(&err.to_string()),
                }
            }
            Ok(Some(record)) => match self.consider(&record).await {
                Some(adopted) => adopted,
                None => return Synced::Refused,
            },
        };
        let now = ms(inner.shared.clock.now());
        let (ring, version) = self.last_good();
        let next = match ring.step(&inner.policy, inner.settings.algorithm, now) {
            Ok(Some(next)) => next,
            Ok(None) => return outcome,
            Err(err) => {
                tracing::error!(error = %err, "the key ring could not make a key");
                return outcome;
            }
        };
        let (next, kid) = next;
        match self.store_ring(&next, Some(version), version + 1).await {
            Ok(true) => {
                telemetry::performed();
                let signs_from = next.keys.first().map_or(now, |k| k.signs_from);
                tracing::info!(version = version + 1, kid, signs_from, "key ring rotated");
                inner
                    .shared
                    .sessions
                    .events
                    .emit(|| SecurityEvent::KeyRotated {
                        version: version + 1,
                        kid: kid.clone(),
                        signs_from: UNIX_EPOCH + Duration::from_millis(signs_from),
                    });
                self.set(next, version + 1);
                Synced::Rotated {
                    version: version + 1,
                    kid,
                }
            }
            // Another instance stepped first: adopt its ring.
            Ok(false) => self.reread().await,
            Err(err) => self.postpone(&err.to_string()),
        }
    }

    /// Reads the ring again after losing a race, and adopts it.
    async fn reread(&self) -> Synced {
        let Some(store) = self.inner.store.key_ring() else {
            return Synced::Unchanged;
        };
        match store.load_key_ring().await {
            Ok(Some(record)) => self.consider(&record).await.unwrap_or(Synced::Refused),
            Ok(None) => Synced::Unchanged,
            Err(err) => self.postpone(&err.to_string()),
        }
    }

    /// A stored record: the one in use (unchanged), a newer one (opened and adopted, and
    /// sealed again if it opened under the previous key-encryption key), or refused (`None`).
    async fn consider(&self, record: &StoredKeyRing) -> Option<Synced> {
        let (_, known) = self.last_good();
        if record.version == known {
            return Some(Synced::Unchanged);
        }
        let opened = if record.version < known {
            Err(KeyRingError::Rollback {
                stored: record.version,
                known,
            })
        } else {
            Ring::open(
                record,
                &self.inner.settings.kek,
                self.inner.settings.previous_kek.as_ref(),
            )
        };
        let (ring, resealed) = match opened {
            Ok(opened) => opened,
            Err(err) => {
                self.refuse(record.version, &err);
                return None;
            }
        };
        telemetry::adopted();
        tracing::info!(version = record.version, "key ring adopted");
        self.inner
            .shared
            .sessions
            .events
            .emit(|| SecurityEvent::KeyRingAdopted {
                version: record.version,
            });
        self.set(ring.clone(), record.version);
        // Sealed again under the new key-encryption key; if someone else wrote first, or the
        // store failed, the next poll reads what is there.
        if resealed
            && let Ok(true) = self
                .store_ring(&ring, Some(record.version), record.version + 1)
                .await
        {
            tracing::info!(
                version = record.version + 1,
                "key ring sealed again under the new key-encryption key"
            );
            self.set(ring, record.version + 1);
            return Some(Synced::Resealed {
                version: record.version + 1,
            });
        }
        Some(Synced::Adopted {
            version: record.version,
        })
    }

    fn refuse(&self, version: u64, err: &KeyRingError) {
        telemetry::refused();
        tracing::error!(
            version,
            error = %err,
            "the key ring in the store was refused; the last good ring stays in use"
        );
        self.inner
            .shared
            .sessions
            .events
            .emit(|| SecurityEvent::KeyRingRefused {
                version,
                reason: err.to_string(),
            });
    }

    /// The store could not be reached: counts a postponed step when one was due.
    fn postpone(&self, error: &str) -> Synced {
        let now = ms(self.inner.shared.clock.now());
        let (ring, _) = self.last_good();
        let due = ring
            .step_due(&self.inner.policy, now)
            .is_some_and(|due| due <= now);
        if due {
            telemetry::postponed();
            tracing::warn!(
                error,
                "key rotation postponed: the store cannot be reached; signing goes on with the current key"
            );
            self.inner
                .shared
                .sessions
                .events
                .emit(|| SecurityEvent::KeyRotationPostponed);
        } else {
            tracing::debug!(error, "the key ring could not be read");
        }
        Synced::StoreUnavailable {
            step_postponed: due,
        }
    }

    /// Seals `ring` as `version` and stores it if the stored version is `expected`.
    async fn store_ring(
        &self,
        ring: &Ring,
        expected: Option<u64>,
        version: u64,
    ) -> Result<bool, KeyRingError> {
        let record = ring.seal(&self.inner.settings.kek, version)?;
        let store = self
            .inner
            .store
            .key_ring()
            .ok_or(KeyRingError::Corrupt("the store keeps no key ring".into()))?;
        Ok(store.swap_key_ring(expected, &record).await?)
    }

    fn local(&self) -> MutexGuard<'_, Local> {
        self.inner
            .local
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn last_good(&self) -> (Ring, u64) {
        let local = self.local();
        (local.ring.clone(), local.version)
    }

    /// Makes `ring` the last good one, unless a newer one was set meanwhile.
    fn set(&self, ring: Ring, version: u64) {
        let mut local = self.local();
        if version > local.version {
            local.ring = ring;
            local.version = version;
        }
    }

    /// Installs the keys and secrets in force now, if they differ from those installed.
    fn install(&self) -> Result<(), KeyRingError> {
        let shared = &self.inner.shared;
        let now = ms(shared.clock.now());
        let mut local = self.local();
        let view = local.ring.view(&self.inner.policy, now)?;
        telemetry::signing_key_age(now.saturating_sub(view.signing_since));
        let installed = (
            local.version,
            view.signing.kid().to_owned(),
            view.others.len(),
            view.secrets.len(),
        );
        if local.installed.as_ref() == Some(&installed) {
            return Ok(());
        }
        let others: Vec<_> = view
            .others
            .iter()
            .map(|(key, state)| {
                let status = match state {
                    State::Next => KeyStatus::Next,
                    State::Current => KeyStatus::Current,
                    State::Retired { at } => KeyStatus::Retired {
                        at: UNIX_EPOCH + Duration::from_millis(*at),
                    },
                };
                (key.verifying_key(), status)
            })
            .collect();
        shared
            .access
            .change(|_| {
                let set = shared
                    .access
                    .key_set(view.signing.clone(), others.clone())?;
                Ok((Some(set), ()))
            })
            .map_err(|err| KeyRingError::Corrupt(err.to_string()))?;
        shared
            .sessions
            .keys
            .replace(view.secrets.iter().map(Vec::as_slice));
        local.installed = Some(installed);
        Ok(())
    }

    /// The ring in use here, without key material.
    pub fn status(&self) -> KeyRingStatus {
        let now = ms(self.inner.shared.clock.now());
        let local = self.local();
        let at = |t: u64| UNIX_EPOCH + Duration::from_millis(t);
        let keys = local
            .ring
            .keys
            .iter()
            .enumerate()
            .map(|(i, key)| RingKeyStatus {
                kid: key.kid.clone(),
                algorithm: key.alg.parse().ok(),
                state: match local.ring.state(i, now) {
                    State::Next => KeyState::Next,
                    State::Current => KeyState::Current,
                    State::Retired { .. } => KeyState::Retired,
                },
                published_at: at(key.published_at),
                signs_from: at(key.signs_from),
            })
            .collect();
        KeyRingStatus {
            version: local.version,
            keys,
        }
    }
}

impl std::fmt::Debug for KeyRingSync {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let local = self.local();
        f.debug_struct("KeyRingSync")
            .field("version", &local.version)
            .field("newest", &local.ring.newest_kid())
            .field("poll", &self.inner.poll)
            .finish_non_exhaustive()
    }
}
