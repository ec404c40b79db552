//! [`KeyRing`]: rotating the signing keys and refresh-token MAC secrets at run time.
//!
//! Each key set is immutable. A change makes a new set and swaps it in with one atomic
//! compare-and-swap (`arc-swap`): requests never take a lock and never see a half-updated set,
//! and two changes made at once are both kept.

use std::sync::Arc;
use std::time::SystemTime;

use crate::error::ConfigError;
use crate::keys::{SigningKey, VerifyingKey};
use crate::shared::Shared;
use crate::token::access::{KeySet, KeyStatus};
use crate::token::refresh_token::SessionKeys;

/// Rotates the keys of a [`RefreshAuth`](crate::RefreshAuth) while it serves: signing keys, the keys published
/// at the [JWKS route](crate::RefreshAuthBuilder::jwks), and the refresh-token MAC
/// secrets. Get one with [`RefreshAuth::keys`](crate::RefreshAuth::keys); cheap to clone, `Send + Sync`.
///
/// - [`rotate`](Self::rotate) makes a key the signing key at once; the previous one is
///   retired: it keeps verifying (and stays published) for the
///   [key overlap](crate::RefreshAuthBuilder::key_overlap), at least one access-token
///   lifetime, so nobody is logged out.
/// - [`prune`](Self::prune) drops the retired keys whose overlap has passed, by the layer's
///   clock; every [`rotate`](Self::rotate) prunes the signing keys too.
///   [`remove`](Self::remove) drops one key at once.
/// - [`publish`](Self::publish) adds a key that verifies and is published but does not sign
///   yet: the first half of a fleet rotation (below).
/// - [`rotate_refresh_secret`](Self::rotate_refresh_secret) does the same for the refresh-token
///   MAC secret: new refresh tokens are MACed with the new secret, those minted before keep
///   refreshing for one refresh-token TTL.
///
/// Nothing is stored: a restart starts from the builder's keys again, so the key files or
/// secrets a deployment loads at start must follow its rotations. For keys kept in the shared
/// store and rotated by the fleet on a schedule, see the `fleet` module (`key-rotation`
/// feature).
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use tower_refresh_auth::clock::ManualClock;
/// use tower_refresh_auth::keys::{Jwks, SigningKey};
/// use tower_refresh_auth::{NoClaims, RefreshAuth};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let key = |name: &str| SigningKey::from_file(format!("{}/tests/keys/{name}", env!("CARGO_MANIFEST_DIR")));
/// let clock = ManualClock::new(SystemTime::now());
/// let auth = RefreshAuth::<NoClaims>::builder()
///     .signing_key(key("es256.pem")?)
///     .refresh_secret(b"the first refresh secret, 32+ bytes".to_vec())
///     .access_ttl(Duration::from_secs(60))
///     .clock(clock.clone())
///     .jwks(Jwks::new())
///     .build()?;
/// let keys = auth.keys();
/// let before = auth.issue("user1", NoClaims {}).await?;
///
/// // Publish first, sign later: the next key verifies and is in the JWKS, but does not sign.
/// let next = key("ed25519.pem")?;
/// keys.publish(next.verifying_key())?;
/// assert_eq!(keys.verifying_kids(), [keys.signing_kid(), next.kid().to_owned()]);
///
/// // Then rotate: the new key signs at once; the old one keeps verifying.
/// keys.rotate(next.clone())?;
/// keys.rotate_refresh_secret(b"the second refresh secret, 32+ bytes".to_vec())?;
/// assert_eq!(keys.signing_kid(), next.kid());
/// let after = auth.issue("user1", NoClaims {}).await?;
/// assert!(auth.verify(&before.access_token).is_ok());
/// assert!(auth.verify(&after.access_token).is_ok());
/// // A refresh token minted under the old secret still refreshes.
/// auth.refresh(&before.refresh_token).await?;
///
/// // Once the overlap (here one access-token lifetime) has passed, the old key goes.
/// clock.advance(Duration::from_secs(61));
/// let pruned = keys.prune();
/// assert_eq!(pruned.keys.len(), 1);
/// assert_eq!(keys.verifying_kids(), [next.kid()]);
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
///
/// # Rotating every N days on a fleet
///
/// Verifiers cache the JWKS for up to its [max-age](crate::keys::Jwks::max_age),
/// and the instances of a fleet do not rotate at the same instant. So a new key is published
/// first and signs later:
///
/// 1. **Publish** — on every instance (a config push, a file watch, a signal), load the next
///    key and call [`publish`](Self::publish)`(next.verifying_key())`. It verifies at once (so
///    an instance that rotates early is understood by the others) and appears in the JWKS.
/// 2. **Wait** at least the JWKS max-age after the last instance published, so every cache
///    has the new key.
/// 3. **Rotate** — on every instance, [`rotate`](Self::rotate)`(next)`. Tokens signed by the
///    old key keep verifying for the key overlap.
/// 4. **Prune** — the next rotation prunes the old key; call [`prune`](Self::prune) from a
///    timer to drop it (and retired refresh secrets) as soon as its overlap has passed.
///
/// With N days between rotations, any timer will do: step 1 on day 0, step 3 on day 1 (far
/// more than any max-age), the next step 1 on day N. Rotate the refresh secret
/// ([`rotate_refresh_secret`](Self::rotate_refresh_secret)) on every instance in the same
/// step 3; it needs no publishing, but an instance that has not rotated yet refuses refresh
/// tokens MACed with the new secret, so roll it out within one step.
#[derive(Clone)]
pub struct KeyRing {
    shared: Arc<Shared>,
}

impl KeyRing {
    /// The ring of the authority behind `shared`.
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }
}

/// What [`KeyRing::prune`] removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Pruned {
    /// The `kid`s of the access-token keys that stopped verifying.
    pub keys: Vec<String>,
    /// How many refresh-token MAC secrets stopped verifying.
    pub refresh_secrets: usize,
}

impl KeyRing {
    /// Makes `key` the signing key, at once: every token signed from now on carries its `kid`.
    /// The previous signing key is retired: it keeps verifying, and stays in the JWKS, for the
    /// [key overlap](crate::RefreshAuthBuilder::key_overlap). A key published ahead with the
    /// same `kid` is promoted. Keys whose overlap has passed are pruned.
    ///
    /// With an HMAC key and no configured
    /// [refresh secret](crate::RefreshAuthBuilder::refresh_secret), the refresh-token MAC
    /// secret derived from it rotates too.
    ///
    /// # Errors
    ///
    /// A weak HMAC secret, an HMAC key while the JWKS route is on, or a `kid` already
    /// signing. The keys stay as they were.
    pub fn rotate(&self, key: SigningKey) -> Result<(), ConfigError> {
        let shared = &self.shared;
        let now = shared.clock.now();
        let expired = self.expired_before(now);
        shared.access.change(|set| {
            let previous = set.signing();
            if previous.kid() == key.kid() {
                return Err(ConfigError::DuplicateKid(key.kid().to_owned()));
            }
            let retired = (previous.verifying_key(), KeyStatus::Retired { at: now });
            let others = std::iter::once(retired)
                .chain(
                    set.others()
                        .filter(|(other, status)| other.kid() != key.kid() && !expired(*status))
                        .map(|(other, status)| (other.clone(), status)),
                )
                .collect();
            Ok((Some(shared.access.key_set(key.clone(), others)?), ()))
        })?;
        if shared.sessions.keys.is_derived()
            && let Some(secret) = key.verifying.hmac_secret.as_deref()
        {
            shared
                .sessions
                .keys
                .rotate(&SessionKeys::derive(secret), now);
        }
        Ok(())
    }

    /// Adds a key that verifies and is published, but does not sign: step 1 of a fleet
    /// rotation. [`rotate`](Self::rotate) to its signing key later.
    ///
    /// # Errors
    ///
    /// A `kid` already in the set, an HMAC key while the JWKS route is on, a weak HMAC secret.
    pub fn publish(&self, key: VerifyingKey) -> Result<(), ConfigError> {
        self.shared.access.change(|set| {
            let others = std::iter::once((key.clone(), KeyStatus::Next))
                .chain(set.others().map(|(other, status)| (other.clone(), status)))
                .collect();
            Ok((
                Some(self.shared.access.key_set(set.signing().clone(), others)?),
                (),
            ))
        })
    }

    /// Stops the key `kid` verifying at once, whatever its overlap: for a key that leaked.
    /// Tokens it signed are refused from now on (unless already in the
    /// [verified-token cache](crate::RefreshAuthBuilder::verified_token_cache)).
    ///
    /// `false` when no key but the signing one has this `kid`: the signing key is replaced by
    /// [`rotate`](Self::rotate), never removed.
    pub fn remove(&self, kid: &str) -> bool {
        !self.change_others(|key, _| key.kid() != kid).is_empty()
    }

    /// Drops the keys whose overlap has passed, by the layer's clock: access-token keys
    /// retired more than the [key overlap](crate::RefreshAuthBuilder::key_overlap) ago, and
    /// refresh secrets retired more than one refresh-token TTL ago. Keys given to the builder
    /// as [verifying keys](crate::RefreshAuthBuilder::previous_key) or
    /// [previous refresh secrets](crate::RefreshAuthBuilder::previous_refresh_secret) are
    /// never pruned (remove them by kid, or restart without them).
    pub fn prune(&self) -> Pruned {
        let now = self.shared.clock.now();
        let expired = self.expired_before(now);
        let keys = self.change_others(|_, status| !expired(status));
        let refresh_secrets = now
            .checked_sub(self.shared.sessions.refresh_ttl)
            .map_or(0, |before| self.shared.sessions.keys.prune(before));
        Pruned {
            keys,
            refresh_secrets,
        }
    }

    /// Makes `secret` (at least 32 bytes) the refresh-token MAC secret at once. Refresh
    /// tokens minted before keep refreshing — their successors are MACed with the new secret
    /// — until [pruned](Self::prune) one refresh-token TTL from now, when every one of them
    /// has expired anyway. Nobody is logged out.
    ///
    /// # Errors
    ///
    /// [`ConfigError::WeakRefreshSecret`] for a short secret; nothing changes.
    pub fn rotate_refresh_secret(&self, secret: impl Into<Vec<u8>>) -> Result<(), ConfigError> {
        let secret = secret.into();
        if secret.len() < 32 {
            return Err(ConfigError::WeakRefreshSecret { len: secret.len() });
        }
        self.shared
            .sessions
            .keys
            .rotate(&secret, self.shared.clock.now());
        Ok(())
    }

    /// The `kid` of the key that signs now.
    pub fn signing_kid(&self) -> String {
        self.shared.access.keys().signing().kid().to_owned()
    }

    /// The `kid` of every key that verifies now, the signing key first: the keys the JWKS
    /// route lists, in its order.
    pub fn verifying_kids(&self) -> Vec<String> {
        let set = self.shared.access.keys();
        std::iter::once(set.signing().kid())
            .chain(set.others().map(|(key, _)| key.kid()))
            .map(str::to_owned)
            .collect()
    }

    /// How many refresh-token MAC secrets verify now (the minting one included).
    pub fn refresh_secrets(&self) -> usize {
        self.shared.sessions.keys.len()
    }

    /// Whether a key retired with this status has outlived its overlap at `now`.
    fn expired_before(&self, now: SystemTime) -> impl Fn(KeyStatus) -> bool + use<> {
        let overlap = self.shared.key_overlap;
        move |status| match status {
            KeyStatus::Retired { at } => at.checked_add(overlap).is_some_and(|end| end <= now),
            KeyStatus::Current | KeyStatus::Next | KeyStatus::Kept => false,
        }
    }

    /// Keeps the verify-only keys for which `keep` holds; the kids of those dropped.
    fn change_others(&self, keep: impl Fn(&VerifyingKey, KeyStatus) -> bool) -> Vec<String> {
        let access = &self.shared.access;
        access
            .change(|set: &KeySet| {
                let (kept, dropped): (Vec<_>, Vec<_>) = set
                    .others()
                    .map(|(key, status)| (key.clone(), status))
                    .partition(|(key, status)| keep(key, *status));
                let dropped: Vec<String> = dropped.into_iter().map(|(key, _)| key.kid).collect();
                if dropped.is_empty() {
                    return Ok((None, dropped));
                }
                Ok((Some(access.key_set(set.signing().clone(), kept)?), dropped))
            })
            // Every key in the set was checked when it came in; a set of fewer of them cannot
            // fail the same checks.
            .unwrap_or_default()
    }
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("signing", &self.signing_kid())
            .field("verifying", &self.verifying_kids())
            .field("refresh_secrets", &self.refresh_secrets())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_handle_is_cheap_to_share_across_tasks() {
        fn shareable<T: Clone + Send + Sync + 'static>() {}
        shareable::<KeyRing>();
    }
}
