//! The ring as it is kept in the store: its keys and secrets with their times, the schedule
//! that advances it, and the sealed form the store holds.
//!
//! A key's state follows from its times and the clock: it is *next* before `signs_from`,
//! *current* from then until the following key's `signs_from`, *retired* after that, and
//! dropped once `prune_after` has passed. So instances whose clocks agree switch keys at the
//! same instant without talking to each other, and one whose clock is a little off signs
//! with a key every other instance already publishes.

use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use super::kek::KeyEncryptionKey;
use super::keygen;
use crate::clock::to_millis;
use crate::error::KeyRingError;
use crate::keys::{Algorithm, SigningKey};
use crate::store::StoredKeyRing;

/// The version of the sealed format; part of the associated data.
const FORMAT: &str = "tower-refresh-auth key ring v1";

/// When the ring steps, in milliseconds: what [`KeyRotation`](super::KeyRotation) resolves to
/// once the layer's lifetimes are known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Policy {
    /// How long a key signs.
    pub(crate) lifetime: u64,
    /// How long a next key is published before it signs: at least the JWKS max-age.
    pub(crate) publish_ahead: u64,
    /// How long a retired key keeps verifying: at least the access-token lifetime + leeway.
    pub(crate) overlap: u64,
    /// How long a retired refresh secret keeps verifying: the refresh-token lifetime.
    pub(crate) secret_overlap: u64,
}

impl Policy {
    pub(crate) fn new(
        lifetime: Duration,
        publish_ahead: Duration,
        overlap: Duration,
        refresh_ttl: Duration,
    ) -> Self {
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        Self {
            lifetime: ms(lifetime),
            publish_ahead: ms(publish_ahead),
            overlap: ms(overlap),
            secret_overlap: ms(refresh_ttl),
        }
    }
}

/// One access-token signing key of the ring.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct RingKey {
    pub(crate) kid: String,
    pub(crate) alg: String,
    /// The private key, PKCS#8 DER, base64url. Only ever stored inside the sealed record.
    pkcs8: String,
    /// When it was added to the ring (and so published), ms since the epoch.
    pub(crate) published_at: u64,
    /// When it starts signing.
    pub(crate) signs_from: u64,
}

/// One refresh-token MAC secret (the session-seal key is derived from it).
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct RingSecret {
    secret: String,
    pub(crate) mints_from: u64,
}

/// The ring: keys and secrets, each list newest first.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct Ring {
    pub(crate) keys: Vec<RingKey>,
    pub(crate) secrets: Vec<RingSecret>,
}

/// What a key is at some instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    /// Published, not signing yet.
    Next,
    /// Signing.
    Current,
    /// Verifying since it stopped signing at `at` (ms).
    Retired { at: u64 },
}

/// The ring as one instance uses it at an instant: the keys opened, their states, the
/// refresh secrets in the order the layer wants them (minting one first).
pub(crate) struct View {
    pub(crate) signing: SigningKey,
    /// Every other key that verifies now, with its state.
    pub(crate) others: Vec<(SigningKey, State)>,
    /// The minting secret first, then every other that verifies.
    pub(crate) secrets: Vec<Vec<u8>>,
    /// When the signing key started signing (ms).
    pub(crate) signing_since: u64,
}

impl Ring {
    /// The first ring, for an empty store: one key signing and one secret minting from `now`.
    pub(crate) fn first(alg: Algorithm, now: u64) -> Result<Self, KeyRingError> {
        let mut ring = Self {
            keys: Vec::new(),
            secrets: Vec::new(),
        };
        ring.push(alg, now, now)?;
        Ok(ring)
    }

    fn push(&mut self, alg: Algorithm, now: u64, from: u64) -> Result<String, KeyRingError> {
        let (der, key) = keygen::generate(alg)?;
        let kid = key.kid().to_owned();
        self.keys.insert(
            0,
            RingKey {
                kid: kid.clone(),
                alg: alg.to_string(),
                pkcs8: URL_SAFE_NO_PAD.encode(der),
                published_at: now,
                signs_from: from,
            },
        );
        self.secrets.insert(
            0,
            RingSecret {
                secret: URL_SAFE_NO_PAD.encode(keygen::secret()),
                mints_from: from,
            },
        );
        Ok(kid)
    }

    /// When the next key is due to be published (ms): one lifetime after the newest key
    /// started signing, less the time it must be published ahead. `None` while a key
    /// published ahead is still waiting to sign.
    pub(crate) fn step_due(&self, policy: &Policy, now: u64) -> Option<u64> {
        let newest = self.keys.first()?;
        if newest.signs_from > now {
            return None;
        }
        Some(
            newest
                .signs_from
                .saturating_add(policy.lifetime)
                .saturating_sub(policy.publish_ahead),
        )
    }

    /// The ring one step on at `now`, if a step is due: a new key (and refresh secret)
    /// published now that signs one publish-ahead from now (or at the end of the current
    /// key's lifetime, if later), and the keys and secrets past their overlap dropped.
    /// Returns the new key's `kid`.
    pub(crate) fn step(
        &self,
        policy: &Policy,
        alg: Algorithm,
        now: u64,
    ) -> Result<Option<(Self, String)>, KeyRingError> {
        let Some(due) = self.step_due(policy, now) else {
            return Ok(None);
        };
        if now < due {
            return Ok(None);
        }
        let mut next = self.pruned(policy, now);
        let current_end = self
            .keys
            .first()
            .map_or(now, |k| k.signs_from.saturating_add(policy.lifetime));
        let from = now.saturating_add(policy.publish_ahead).max(current_end);
        let kid = next.push(alg, now, from)?;
        Ok(Some((next, kid)))
    }

    /// The ring without the keys and secrets that stopped verifying before `now`.
    fn pruned(&self, policy: &Policy, now: u64) -> Self {
        let keys = self
            .keys
            .iter()
            .enumerate()
            .filter(|(i, _)| match self.retired_at(*i) {
                Some(at) => at.saturating_add(policy.overlap) > now,
                None => true,
            })
            .map(|(_, k)| k.clone())
            .collect();
        let secrets = self
            .secrets
            .iter()
            .enumerate()
            .filter(|(i, _)| {
                // A secret retires when the newer one starts minting.
                let retired = i
                    .checked_sub(1)
                    .and_then(|newer| self.secrets.get(newer))
                    .map(|newer| newer.mints_from)
                    .filter(|at| *at <= now);
                retired.is_none_or(|at| at.saturating_add(policy.secret_overlap) > now)
            })
            .map(|(_, s)| s.clone())
            .collect();
        Self { keys, secrets }
    }

    /// When key `i` stopped signing: when the next newer key that has started signing did.
    fn retired_at(&self, i: usize) -> Option<u64> {
        let newer = self.keys.get(i.checked_sub(1)?)?;
        Some(newer.signs_from)
    }

    /// The state of key `i` at `now`.
    pub(crate) fn state(&self, i: usize, now: u64) -> State {
        let key = &self.keys[i];
        if key.signs_from > now {
            return State::Next;
        }
        match self.retired_at(i) {
            Some(at) if at <= now => State::Retired { at },
            _ => State::Current,
        }
    }

    /// The ring at `now`, its keys opened: what the layer installs.
    pub(crate) fn view(&self, policy: &Policy, now: u64) -> Result<View, KeyRingError> {
        let live = self.pruned(policy, now);
        let mut signing = None;
        let mut others = Vec::new();
        for (i, key) in live.keys.iter().enumerate() {
            let opened = key.open()?;
            match live.state(i, now) {
                State::Current if signing.is_none() => signing = Some((opened, key.signs_from)),
                State::Current => others.push((opened, State::Retired { at: now })),
                state => others.push((opened, state)),
            }
        }
        let (signing, signing_since) =
            signing.ok_or(KeyRingError::Corrupt("no key of the ring signs now".into()))?;
        let mut secrets = Vec::with_capacity(live.secrets.len());
        let minting = live.secrets.iter().position(|s| s.mints_from <= now);
        let minting = minting.ok_or(KeyRingError::Corrupt(
            "no refresh secret of the ring mints now".into(),
        ))?;
        secrets.push(decode(&live.secrets[minting].secret)?);
        for (i, s) in live.secrets.iter().enumerate() {
            if i != minting {
                secrets.push(decode(&s.secret)?);
            }
        }
        Ok(View {
            signing,
            others,
            secrets,
            signing_since,
        })
    }

    /// The ring sealed under `kek` as record `version`.
    pub(crate) fn seal(
        &self,
        kek: &KeyEncryptionKey,
        version: u64,
    ) -> Result<StoredKeyRing, KeyRingError> {
        let plaintext = serde_json::to_vec(self).map_err(|_| KeyRingError::Crypto)?;
        let sealed = kek.seal(&aad(kek.id(), version), &plaintext)?;
        Ok(StoredKeyRing {
            version,
            data: format!("{}.{}", kek.id(), URL_SAFE_NO_PAD.encode(sealed)),
        })
    }

    /// Opens a stored record under `kek` or, failing that, `previous`. Also says whether it
    /// opened under `previous` (so it should be sealed again under `kek`).
    pub(crate) fn open(
        record: &StoredKeyRing,
        kek: &KeyEncryptionKey,
        previous: Option<&KeyEncryptionKey>,
    ) -> Result<(Self, bool), KeyRingError> {
        let (kek_id, sealed) = record
            .data
            .split_once('.')
            .ok_or(KeyRingError::Corrupt("not a sealed key ring".into()))?;
        let sealed = URL_SAFE_NO_PAD
            .decode(sealed)
            .map_err(|_| KeyRingError::Corrupt("not a sealed key ring".into()))?;
        let (key, resealed) = if kek_id == kek.id() {
            (kek, false)
        } else if let Some(previous) = previous.filter(|p| p.id() == kek_id) {
            (previous, true)
        } else {
            return Err(KeyRingError::WrongKek {
                version: record.version,
            });
        };
        let plaintext =
            key.open(&aad(kek_id, record.version), &sealed)
                .ok_or(KeyRingError::Unsealed {
                    version: record.version,
                })?;
        let ring: Self =
            serde_json::from_slice(&plaintext).map_err(|_| KeyRingError::Unsealed {
                version: record.version,
            })?;
        // Every key must open, or the record is refused whole.
        for key in &ring.keys {
            key.open()?;
        }
        for secret in &ring.secrets {
            decode(&secret.secret)?;
        }
        if ring.keys.is_empty() || ring.secrets.is_empty() {
            return Err(KeyRingError::Corrupt("an empty key ring".into()));
        }
        Ok((ring, resealed))
    }

    /// The newest key's `kid`.
    pub(crate) fn newest_kid(&self) -> Option<&str> {
        self.keys.first().map(|k| k.kid.as_str())
    }
}

impl RingKey {
    fn open(&self) -> Result<SigningKey, KeyRingError> {
        let der = decode(&self.pkcs8)?;
        let key = SigningKey::from_private_key_der(&der)
            .map_err(|_| KeyRingError::Corrupt(format!("key {} does not load", self.kid)))?;
        if key.kid() != self.kid || key.algorithm().to_string() != self.alg {
            return Err(KeyRingError::Corrupt(format!(
                "key {} is not the key it names",
                self.kid
            )));
        }
        Ok(key)
    }
}

fn decode(text: &str) -> Result<Vec<u8>, KeyRingError> {
    URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| KeyRingError::Corrupt("a key that is not base64url".into()))
}

/// The associated data of record `version` sealed under the key `kek_id`: a record moved to
/// another version, or relabelled with another key's id, does not open.
fn aad(kek_id: &str, version: u64) -> Vec<u8> {
    format!("{FORMAT}|{kek_id}|{version}").into_bytes()
}

/// `t` in ms since the epoch.
pub(crate) fn ms(t: SystemTime) -> u64 {
    to_millis(t)
}

#[cfg(all(test, any(feature = "aws-lc", feature = "rust-crypto")))]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const MIN: u64 = 60_000;

    fn policy() -> Policy {
        Policy {
            lifetime: 60 * MIN,
            publish_ahead: 10 * MIN,
            overlap: 2 * MIN,
            secret_overlap: 120 * MIN,
        }
    }

    fn kek(seed: u8) -> KeyEncryptionKey {
        let bytes: Vec<u8> = (0..32u8)
            .map(|i| i.wrapping_mul(13).wrapping_add(seed))
            .collect();
        KeyEncryptionKey::from_bytes(&bytes).unwrap()
    }

    #[test]
    fn a_key_is_published_ahead_signs_for_its_lifetime_and_verifies_for_the_overlap() {
        let p = policy();
        let t0 = 1_000 * MIN;
        let ring = Ring::first(Algorithm::ES256, t0).unwrap();
        assert!(
            ring.step(&p, Algorithm::ES256, t0 + 49 * MIN)
                .unwrap()
                .is_none()
        );
        let (ring, kid) = ring
            .step(&p, Algorithm::ES256, t0 + 50 * MIN)
            .unwrap()
            .unwrap();
        assert_eq!(ring.keys[0].kid, kid);
        assert_eq!(ring.keys[0].signs_from, t0 + 60 * MIN);
        // Nothing more is due until the next key signs and its own lifetime nears its end.
        assert!(
            ring.step(&p, Algorithm::ES256, t0 + 55 * MIN)
                .unwrap()
                .is_none()
        );
        assert!(
            ring.step(&p, Algorithm::ES256, t0 + 61 * MIN)
                .unwrap()
                .is_none()
        );
        let view = ring.view(&p, t0 + 59 * MIN).unwrap();
        assert_ne!(view.signing.kid(), kid);
        assert_eq!(view.others[0].1, State::Next);
        let view = ring.view(&p, t0 + 60 * MIN).unwrap();
        assert_eq!(view.signing.kid(), kid);
        assert_eq!(view.others[0].1, State::Retired { at: t0 + 60 * MIN });
        // The minting secret switches with the key; the old one still verifies.
        assert_eq!(view.secrets.len(), 2);
        let view = ring.view(&p, t0 + 62 * MIN).unwrap();
        assert!(view.others.is_empty(), "pruned after the overlap");
        assert_eq!(view.secrets.len(), 2, "secrets kept for the refresh TTL");
        assert_eq!(ring.view(&p, t0 + 181 * MIN).unwrap().secrets.len(), 1);
    }

    #[test]
    fn a_late_step_still_publishes_the_key_ahead() {
        let p = policy();
        let ring = Ring::first(Algorithm::EdDSA, 0).unwrap();
        let (ring, _) = ring.step(&p, Algorithm::EdDSA, 75 * MIN).unwrap().unwrap();
        assert_eq!(ring.keys[0].signs_from, 85 * MIN);
    }

    #[test]
    fn a_record_opens_under_its_key_only_and_not_at_another_version() {
        let ring = Ring::first(Algorithm::ES256, 0).unwrap();
        let record = ring.seal(&kek(1), 7).unwrap();
        let (opened, resealed) = Ring::open(&record, &kek(1), None).unwrap();
        assert_eq!(opened.newest_kid(), ring.newest_kid());
        assert!(!resealed);
        assert!(matches!(
            Ring::open(&record, &kek(2), None),
            Err(KeyRingError::WrongKek { version: 7 })
        ));
        let (_, resealed) = Ring::open(&record, &kek(2), Some(&kek(1))).unwrap();
        assert!(resealed);
        let moved = StoredKeyRing {
            version: 8,
            data: record.data.clone(),
        };
        assert!(matches!(
            Ring::open(&moved, &kek(1), None),
            Err(KeyRingError::Unsealed { version: 8 })
        ));
        // A record planted under the right key id but sealed with another key.
        let planted = StoredKeyRing {
            version: 7,
            data: format!(
                "{}.{}",
                kek(1).id(),
                ring.seal(&kek(2), 7)
                    .unwrap()
                    .data
                    .split_once('.')
                    .unwrap()
                    .1
            ),
        };
        assert!(Ring::open(&planted, &kek(1), None).is_err());
    }

    proptest::proptest! {
        /// Whatever character of a sealed record is changed, it does not open (and the
        /// change is refused, never taken as a ring).
        #[test]
        fn a_changed_record_never_opens(at in 0usize..400, to in proptest::char::range('-', 'z')) {
            let ring = Ring::first(Algorithm::EdDSA, 0).unwrap();
            let record = ring.seal(&kek(1), 3).unwrap();
            let mut chars: Vec<char> = record.data.chars().collect();
            let at = at % chars.len();
            proptest::prop_assume!(chars[at] != to);
            chars[at] = to;
            let changed = StoredKeyRing { version: 3, data: chars.into_iter().collect() };
            proptest::prop_assert!(Ring::open(&changed, &kek(1), None).is_err());
        }
    }
}
