//! The opaque refresh token: a session id, a counter and a MAC.
//!
//! ```text
//! base64url( version:1 | session id:16 | counter:8 (big-endian) | HMAC-SHA256:32 )   76 characters
//! ```
//!
//! The MAC is computed under a server key over everything before it, so
//!
//! - a forged, garbled or truncated token, or one from another deployment, is refused by a
//!   constant-time MAC check **before any store round trip**;
//! - the store keeps one record per session (its current counter), never a token: a leaked
//!   database yields nothing that can be presented;
//! - the successor of token `n` is token `n + 1` of the same session, which can be derived
//!   again, so a replay inside the grace window gets the very same successor without it being
//!   stored anywhere.
//!
//! The design follows Supabase Auth's second refresh-token format; unlike it, a spent token
//! is honoured only inside the grace window (see [`crate::RefreshAuthBuilder::reuse_grace`]).
//! The token contains no `.`, so it can never be parsed as a JWT, and a JWT never has the
//! length and MAC of a refresh token: neither is accepted where the other is expected.
//!
//! # The session seal
//!
//! The session seal is a MAC that binds a session's identity to its record, so that whoever
//! can write to the store cannot change whose session it is or what claims it carries
//! (`docs/protocol.md` §2, "Integrity at rest").
//!
//! The seal is HMAC-SHA256, under a key derived from the refresh-token secret, over the
//! fields that never change after the login:
//!
//! ```text
//! version:1 (= 1) | session id:16
//!   | len(subject):8 | subject | len(claims):8 | claims      lengths big-endian, in bytes
//!   | created_at:8 (ms) | 0, or 1 | absolute_expires_at:8 (ms)
//!   [ | 0x6a | len(jkt):8 | jkt ]                               only for a DPoP-bound session
//! ```
//!
//! Every variable-length field is length-prefixed, so no two different sessions encode alike
//! (subject `ab` with claims `c` is not subject `a` with claims `bc`). The counter, the
//! sliding expiry and `rotated_at` are not bound: every rotation changes them, and a seal
//! that had to be rewritten on every refresh would be one more write to race on.
//!
//! As with refresh tokens, the first key seals and every key verifies, so rotating the
//! refresh secret (keeping the old one as a previous secret) keeps every session valid; a
//! session whose seal verifies only under an older key is sealed again under the newest at its
//! next refresh ([`RefreshStore::reseal`](crate::store::RefreshStore::reseal)), so active
//! sessions have moved to the new secret by the time the old one is removed.

use std::time::SystemTime;

use arc_swap::ArcSwap;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::clock::to_millis;
use crate::session::{Session, SessionId};

/// HMAC-SHA256, the MAC of refresh tokens, of session seals and of DPoP nonces.
pub(crate) type HmacSha256 = Hmac<Sha256>;

const VERSION: u8 = 1;
const BODY_LEN: usize = 1 + 16 + 8;
const RAW_LEN: usize = BODY_LEN + 32;
/// The length of a refresh token's text form.
pub const ENCODED_LEN: usize = 76;

/// The target of the seal's log line: the sessions' own (`tower_refresh_auth::rotation`, as
/// before the check moved here), so that filters written for it keep working.
const LOG_TARGET: &str = "tower_refresh_auth::rotation";

/// The label the MAC key is derived under when it comes from the JWT HMAC secret.
const DERIVE_LABEL: &[u8] = b"tower-refresh-auth refresh-token mac key v1";

/// A refresh token whose MAC verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RefreshToken {
    pub(crate) session: SessionId,
    pub(crate) counter: u64,
}

/// The session keys: the refresh-token MAC keys (the first mints new tokens, every one
/// verifies, for key rotation) and the session seal keys derived beside them.
///
/// Like the access-token keys, the set is immutable and swapped whole by a rotation
/// ([`KeyRing::rotate_refresh_secret`](crate::keyring::KeyRing::rotate_refresh_secret)): minting and
/// verifying take one lock-free load.
pub(crate) struct SessionKeys {
    set: ArcSwap<Vec<MacKey>>,
    /// Whether the secrets are derived from the HMAC signing secrets (no refresh secret was
    /// configured), so that rotating an HMAC signing key rotates them too.
    derived: bool,
}

#[derive(Clone)]
struct MacKey {
    mac: HmacSha256,
    /// The session seal key derived from the same secret (see [the seal](#the-session-seal)): it rotates
    /// with the MAC key.
    seal: HmacSha256,
    /// When it stopped minting; `None` for the current key and for the builder's previous
    /// secrets, which are only ever removed by a restart without them.
    retired: Option<SystemTime>,
}

impl std::fmt::Debug for SessionKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionKeys")
            .field("keys", &self.set.load().len())
            .field("derived", &self.derived)
            .finish_non_exhaustive()
    }
}

impl SessionKeys {
    /// Keys from raw secrets, newest first. `secrets` must not be empty and each secret must
    /// already have been checked for length.
    pub(crate) fn new<'a>(secrets: impl IntoIterator<Item = &'a [u8]>, derived: bool) -> Self {
        let keys = secrets
            .into_iter()
            .map(|secret| MacKey {
                mac: mac_for(secret),
                seal: derive_seal_key(secret),
                retired: None,
            })
            .collect();
        Self {
            set: ArcSwap::from_pointee(keys),
            derived,
        }
    }

    /// Whether the secrets are derived from the HMAC signing secret.
    pub(crate) fn is_derived(&self) -> bool {
        self.derived
    }

    /// Makes `secret` the minting key at once; the previous one keeps verifying, retired at
    /// `now`. `secret` must already have been checked for length.
    pub(crate) fn rotate(&self, secret: &[u8], now: SystemTime) {
        let fresh = MacKey {
            mac: mac_for(secret),
            seal: derive_seal_key(secret),
            retired: None,
        };
        self.set.rcu(|keys| {
            let mut next = Vec::with_capacity(keys.len() + 1);
            next.push(fresh.clone());
            next.extend(keys.iter().enumerate().map(|(i, key)| MacKey {
                mac: key.mac.clone(),
                seal: key.seal.clone(),
                retired: match i {
                    0 => Some(now),
                    _ => key.retired,
                },
            }));
            next
        });
    }

    /// Drops the keys retired before `before`; returns how many went.
    pub(crate) fn prune(&self, before: SystemTime) -> usize {
        let mut dropped = 0;
        self.set.rcu(|keys| {
            let kept: Vec<MacKey> = keys
                .iter()
                .filter(|key| key.retired.is_none_or(|at| at > before))
                .cloned()
                .collect();
            // The closure may run again after a concurrent change: the last run counts.
            dropped = keys.len() - kept.len();
            kept
        });
        dropped
    }

    /// Replaces every key at once: `secrets` (not empty, each already checked for length),
    /// the minting one first. For the fleet's key ring, which decides itself when each
    /// secret mints and retires.
    #[cfg(feature = "key-rotation")]
    pub(crate) fn replace<'a>(&self, secrets: impl IntoIterator<Item = &'a [u8]>) {
        let keys: Vec<MacKey> = secrets
            .into_iter()
            .map(|secret| MacKey {
                mac: mac_for(secret),
                seal: derive_seal_key(secret),
                retired: None,
            })
            .collect();
        if !keys.is_empty() {
            self.set.store(std::sync::Arc::new(keys));
        }
    }

    /// How many keys verify.
    pub(crate) fn len(&self) -> usize {
        self.set.load().len()
    }

    /// The MAC secret derived from a JWT HMAC secret, so that a deployment configured with one
    /// `JWT_SECRET` gets two independent keys (domain separation).
    pub(crate) fn derive(jwt_secret: &[u8]) -> [u8; 32] {
        let mut mac = mac_for(jwt_secret);
        mac.update(DERIVE_LABEL);
        mac.finalize().into_bytes().into()
    }

    /// The seal of `session` under the newest secret's seal key (integrity at rest,
    /// docs/protocol.md §2).
    pub(crate) fn seal(&self, session: &Session) -> String {
        let keys = self.set.load();
        seal_with(&keys[0].seal, session)
    }

    /// Which secret's seal key, if any, `session.seal` verifies under.
    pub(crate) fn check_seal(&self, session: &Session) -> Sealed {
        let keys = self.set.load();
        check_with(keys.iter().map(|key| &key.seal), session)
    }

    /// What a session's seal says, logged at `error` when the record is not the layer's
    /// (the session id only: the record holds no token, the log no key).
    pub(crate) fn seal_state(&self, session: &Session) -> Sealed {
        let sealed = self.check_seal(session);
        if sealed == Sealed::Broken {
            tracing::error!(
                target: LOG_TARGET,
                session = %session.id,
                "session record failed its integrity check; refused"
            );
        }
        sealed
    }

    /// Whether the store's record of a session carries its own seal; logs at `error` when
    /// it does not ([`seal_state`](Self::seal_state)).
    pub(crate) fn is_sealed(&self, session: &Session) -> bool {
        self.seal_state(session) != Sealed::Broken
    }

    /// The token for `counter` of `session`, under the newest key.
    pub(crate) fn mint(&self, session: &SessionId, counter: u64) -> String {
        let mut raw = [0u8; RAW_LEN];
        raw[0] = VERSION;
        raw[1..17].copy_from_slice(session.as_bytes());
        raw[17..BODY_LEN].copy_from_slice(&counter.to_be_bytes());
        let keys = self.set.load();
        // The set is never empty: the builder makes one key, a rotation only adds in front.
        let mut mac = keys[0].mac.clone();
        mac.update(&raw[..BODY_LEN]);
        raw[BODY_LEN..].copy_from_slice(&mac.finalize().into_bytes());
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// Parses a token and checks its MAC in constant time. `None` for anything that is not a
    /// token minted under one of the keys; the reason is deliberately not told.
    pub(crate) fn verify(&self, token: &str) -> Option<RefreshToken> {
        // The cheapest checks first: a wrong length costs nothing.
        if token.len() != ENCODED_LEN {
            return None;
        }
        let mut raw = [0u8; RAW_LEN];
        match URL_SAFE_NO_PAD.decode_slice(token, &mut raw) {
            Ok(RAW_LEN) => {}
            _ => return None,
        }
        if raw[0] != VERSION {
            return None;
        }
        let (body, tag) = raw.split_at(BODY_LEN);
        let verified = self.set.load().iter().any(|key| {
            let mut mac = key.mac.clone();
            mac.update(body);
            // `verify_slice` compares in constant time.
            mac.verify_slice(tag).is_ok()
        });
        if !verified {
            return None;
        }
        let mut id = [0u8; 16];
        id.copy_from_slice(&body[1..17]);
        let mut counter = [0u8; 8];
        counter.copy_from_slice(&body[17..BODY_LEN]);
        Some(RefreshToken {
            session: SessionId::from_bytes(id),
            counter: u64::from_be_bytes(counter),
        })
    }
}

/// An HMAC-SHA256 keyed with `secret`.
pub(crate) fn mac_for(secret: &[u8]) -> HmacSha256 {
    // HMAC takes a key of any length; `new_from_slice` cannot fail for it.
    match HmacSha256::new_from_slice(secret) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC accepts keys of every length"),
    }
}

/// The version of the encoding, the first byte the MAC covers.
const SEAL_VERSION: u8 = 1;

/// The label each seal key is derived under from a refresh-token secret. It is longer than a
/// refresh token's MAC input (25 bytes), so no refresh token ever carries a MAC of it.
const SEAL_LABEL: &[u8] = b"tower-refresh-auth session seal v1";

/// The seal's length in bytes, before base64url.
const TAG_LEN: usize = 32;

/// The seal key derived from a refresh-token secret. The refresh-token keys
/// ([`SessionKeys`](crate::token::refresh_token::SessionKeys)) hold one beside each MAC key, so a
/// rotation of the secret rotates both at once.
fn derive_seal_key(secret: &[u8]) -> HmacSha256 {
    let mut derive = mac_for(secret);
    derive.update(SEAL_LABEL);
    mac_for(&derive.finalize().into_bytes())
}

/// The seal of `session` under `key`, as base64url without padding.
fn seal_with(key: &HmacSha256, session: &Session) -> String {
    let mut mac = key.clone();
    feed(&mut mac, session);
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

/// Which of `keys` (the current one first) `session.seal` verifies under, compared in constant
/// time. An empty or malformed seal (a record from before seals existed) verifies under none.
fn check_with<'a>(keys: impl IntoIterator<Item = &'a HmacSha256>, session: &Session) -> Sealed {
    let mut tag = [0u8; TAG_LEN];
    match URL_SAFE_NO_PAD.decode_slice(&session.seal, &mut tag) {
        Ok(TAG_LEN) => {}
        _ => return Sealed::Broken,
    }
    let position = keys.into_iter().position(|key| {
        let mut mac = key.clone();
        feed(&mut mac, session);
        // `verify_slice` compares in constant time.
        mac.verify_slice(&tag).is_ok()
    });
    match position {
        Some(0) => Sealed::Current,
        Some(_) => Sealed::Previous,
        None => Sealed::Broken,
    }
}

/// What [`check`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sealed {
    /// Under the newest key.
    Current,
    /// Under an older key, still configured: valid, to be sealed again.
    Previous,
    /// Under no configured key, or no seal at all.
    Broken,
}

/// Feeds the sealed fields of `session` to `mac`, in the encoding of the module docs.
fn feed(mac: &mut HmacSha256, session: &Session) {
    let prefixed = |mac: &mut HmacSha256, bytes: &[u8]| {
        mac.update(&(bytes.len() as u64).to_be_bytes());
        mac.update(bytes);
    };
    mac.update(&[SEAL_VERSION]);
    mac.update(session.id.as_bytes());
    prefixed(mac, session.subject.as_bytes());
    prefixed(mac, session.claims.as_bytes());
    mac.update(&to_millis(session.created_at).to_be_bytes());
    match session.absolute_expires_at {
        None => mac.update(&[0]),
        Some(at) => {
            mac.update(&[1]);
            mac.update(&to_millis(at).to_be_bytes());
        }
    }
    // A DPoP binding (docs/protocol.md §10) extends the encoding; an unbound session encodes
    // as before, so the seals of sessions from before DPoP still verify. The encoding above
    // has a fixed end, so a bound session never encodes like an unbound one.
    if let Some(jkt) = &session.jkt {
        mac.update(&[JKT]);
        prefixed(mac, jkt.as_bytes());
    }
}

/// The marker of a DPoP binding in the sealed encoding.
const JKT: u8 = 0x6a;

#[cfg(test)]
mod tests;
