//! Building a layer whose keys come from the fleet's key ring (`docs/protocol.md` §13):
//! [`RefreshAuthBuilder::key_rotation`] and
//! [`RefreshAuthBuilder::build_with_key_rotation`].

use std::sync::Arc;

use super::RefreshAuthBuilder;
use super::parts::default_store;
use crate::error::{ConfigError, KeyRingError};
use crate::fleet::{KeyRingSync, KeyRotation, Ring};
use crate::keys::Jwks;
use crate::shared::RefreshAuth;
use crate::store::{KeyRingStore, RefreshStore};

impl<C> RefreshAuthBuilder<C> {
    /// Takes the signing keys and refresh secrets from the fleet's key ring in the
    /// [store](Self::store), sealed under the settings' key-encryption key and rotated on
    /// their schedule ([`crate::fleet`]). Build with
    /// [`build_with_key_rotation`](Self::build_with_key_rotation). The JWKS route is on (with
    /// its defaults unless [`jwks`](Self::jwks) says otherwise).
    pub fn key_rotation(mut self, rotation: KeyRotation) -> Self {
        self.key_rotation = Some(rotation);
        self
    }

    /// Builds the layer on the fleet's key ring: reads the ring from the store (on an empty
    /// store, makes the first one; an instance that loses that race adopts the winner's),
    /// and returns the layer with the [`KeyRingSync`] that keeps it in step — spawn its
    /// [`run`](KeyRingSync::run).
    ///
    /// # Errors
    ///
    /// As [`build`](Self::build), and: no [`key_rotation`](Self::key_rotation); a signing key
    /// or refresh secret of the builder's own (the ring makes them); a store without
    /// [`KeyRingStore`]; a store that cannot be reached; a stored ring that does not open
    /// under the key-encryption key ([`KeyRingError::WrongKek`], [`KeyRingError::Unsealed`]).
    pub async fn build_with_key_rotation(
        mut self,
    ) -> Result<(RefreshAuth<C>, KeyRingSync), ConfigError> {
        crate::crypto_backend::ensure()?;
        let rotation = self
            .key_rotation
            .take()
            .ok_or(ConfigError::MissingKeyRotation)?;
        if self.signing.is_some() {
            return Err(ConfigError::KeyRotationWithKeys("signing_key"));
        }
        if !self.verifying.is_empty() {
            return Err(ConfigError::KeyRotationWithKeys("previous_key"));
        }
        if self.refresh_secret.is_some() || !self.previous_refresh_secrets.is_empty() {
            return Err(ConfigError::KeyRotationWithKeys("refresh_secret"));
        }
        let store = match self.store.clone() {
            Some(store) => store,
            None => default_store()?,
        };
        self.store = Some(Arc::clone(&store));
        let ring_store = store.key_ring().ok_or(ConfigError::MissingCapability {
            needed_by: "`key_rotation(…)`",
            capability: "KeyRingStore",
        })?;
        let jwks = self.jwks.get_or_insert_with(Jwks::new).clone();
        let leeway = self.guarding.clone().check()?.leeway;
        let lifetimes = self.lifetimes.clone().check(leeway, jwks.given_max_age())?;
        let policy = rotation.policy(
            lifetimes.key_overlap,
            jwks.effective_max_age(lifetimes.key_overlap),
            lifetimes.refresh_ttl,
        )?;
        let now = crate::clock::to_millis(self.clock.now());
        let (ring, version) = open_or_create(ring_store, &rotation, now).await?;
        let view = ring.view(&policy.0, now)?;
        self.signing = Some(view.signing.clone());
        self.verifying = view.others.iter().map(|(k, _)| k.verifying_key()).collect();
        let mut secrets = view.secrets.into_iter();
        self.refresh_secret = secrets.next();
        self.previous_refresh_secrets = secrets.collect();
        let auth = self.build()?;
        let sync = KeyRingSync::new(
            Arc::clone(&auth.shared),
            store,
            rotation,
            policy,
            ring,
            version,
        )?;
        Ok((auth, sync))
    }
}

/// The stored ring, opened; or the first ring, stored (an instance that loses the race to
/// store it opens the winner's). A ring that opened under the previous key-encryption key
/// is sealed again under the new one.
async fn open_or_create(
    store: &dyn KeyRingStore,
    rotation: &KeyRotation,
    now: u64,
) -> Result<(Ring, u64), KeyRingError> {
    let record = match store.load_key_ring().await? {
        Some(record) => record,
        None => {
            let first = Ring::first(rotation.algorithm, now)?;
            if store
                .swap_key_ring(None, &first.seal(&rotation.kek, 1)?)
                .await?
            {
                tracing::info!(kid = first.newest_kid(), "key ring created");
                return Ok((first, 1));
            }
            store
                .load_key_ring()
                .await?
                .ok_or(KeyRingError::Corrupt("the key ring vanished".into()))?
        }
    };
    let (ring, resealed) = Ring::open(&record, &rotation.kek, rotation.previous_kek.as_ref())?;
    if resealed {
        let next = ring.seal(&rotation.kek, record.version + 1)?;
        if store.swap_key_ring(Some(record.version), &next).await? {
            tracing::info!(
                version = next.version,
                "key ring sealed again under the new key-encryption key"
            );
            return Ok((ring, next.version));
        }
    }
    Ok((ring, record.version))
}
