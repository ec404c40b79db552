//! The access tokens of one layer ([`AccessTokens`]): their key sets, signing, and verifying
//! through the cache (RFC 9068 JWTs). The rules a token is verified by, whoever holds the
//! keys, are in [`verify`](super::verify).
//!
//! Everything that can be prepared is prepared when a key set is made: the header, the
//! per-key `Validation`, the key list, the published JWKS. A key set is immutable; a rotation
//! ([`KeyRing`](crate::keyring::KeyRing)) makes a new one and swaps it in whole, so verification is one
//! lock-free `ArcSwap::load` and one short function on the hot path.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Header, Validation};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::cache::TokenCache;
use super::claims::{AuthenticationClaims, Claims, REGISTERED};
pub(crate) use super::verify::{
    KeyStatus, MAX_TOKEN_LEN, TYP, Verifier, validation, validity_ms, verify_with,
};
use crate::clock::{to_millis, to_secs};
use crate::error::{AuthError, ConfigError};
use crate::keys::{SigningKey, VerifyingKey, public_jwk};
use crate::session::{Session, SessionId};
use crate::store::StoreError;

/// The access tokens of one built layer: its keys (swapped whole by a rotation), signing,
/// verifying, and the opt-in cache of tokens verified before.
#[derive(Debug)]
pub(crate) struct AccessTokens {
    keys: ArcSwap<KeySet>,
    rules: Rules,
    ttl: Duration,
    leeway_ms: u64,
    cache: Option<TokenCache>,
}

/// What verifies a request's access token: the issuing layer's
/// [`AccessTokens`] (with its cache), or a resource
/// server's issuers. The claims come back typed, so no caller hands in a closure to reach
/// its claims type.
pub(crate) trait VerifyAccess<C> {
    /// The claims of `token`, verified at `now`.
    fn verify_access(&self, token: &str, now: SystemTime) -> Result<Claims<C>, AuthError>;
}

impl<C> VerifyAccess<C> for AccessTokens
where
    C: DeserializeOwned + Clone + Send + Sync + 'static,
{
    /// Through the cache, when there is one: the one way the issuing layer verifies an
    /// access token.
    fn verify_access(&self, token: &str, now: SystemTime) -> Result<Claims<C>, AuthError> {
        let Some(cache) = &self.cache else {
            return self.verify(token, now);
        };
        cache.verify_through(
            token,
            to_millis(now),
            || self.verify(token, now),
            |claims| validity_ms(claims, self.leeway_ms),
        )
    }
}

/// What every key set of one authority has in common.
#[derive(Debug)]
struct Rules {
    issuer: Option<String>,
    audience: Option<String>,
    /// Whether key sets are published (the JWKS route is on): each then renders its JWKS,
    /// and refuses HMAC keys.
    publish: bool,
}

/// One immutable key set. Swapped whole, never changed in place, so a request sees either
/// the set before a rotation or the one after it.
#[derive(Debug)]
pub(crate) struct KeySet {
    header: Header,
    signing: SigningKey,
    /// The signing key's verifier first, then the others, newest first.
    verifiers: Vec<Verifier>,
    /// `{"keys": [...]}`, rendered once, when the set is published.
    jwks: Option<Bytes>,
}

/// RFC 9449 §6.1: `cnf: {"jkt": …}` of a bound token.
#[derive(Serialize)]
struct Cnf<'a> {
    jkt: &'a str,
}

/// The registered claims of a token being signed, with the application's beside them.
#[derive(Serialize)]
struct SignClaims<'a> {
    sub: &'a str,
    sid: &'a SessionId,
    jti: &'a str,
    iat: u64,
    exp: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    iss: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aud: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cnf: Option<Cnf<'a>>,
    auth_time: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    acr: Option<&'a str>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    amr: &'a [String],
    #[serde(flatten)]
    custom: &'a Map<String, Value>,
}

impl AccessTokens {
    /// Access tokens signed by `signing`, also verified by `kept`.
    ///
    /// # Errors
    ///
    /// A weak or mismatched key, two keys sharing a kid, an HMAC key in a published set.
    pub(crate) fn new(
        signing: SigningKey,
        kept: Vec<VerifyingKey>,
        ttl: Duration,
        leeway: Duration,
        issuer: Option<String>,
        audience: Option<String>,
        publish: bool,
    ) -> Result<Self, ConfigError> {
        let rules = Rules {
            issuer,
            audience,
            publish,
        };
        let others = kept.into_iter().map(|key| (key, KeyStatus::Kept)).collect();
        Ok(Self {
            keys: ArcSwap::from_pointee(rules.key_set(signing, others)?),
            rules,
            ttl,
            leeway_ms: u64::try_from(leeway.as_millis()).unwrap_or(u64::MAX),
            cache: None,
        })
    }

    /// With a verified-token cache of `capacity` entries (none for `None` or `0`).
    pub(crate) fn with_cache(mut self, capacity: Option<usize>) -> Self {
        self.cache = capacity.filter(|&n| n > 0).map(TokenCache::new);
        self
    }

    /// Drops the cached tokens of a revoked session.
    pub(crate) fn forget_session(&self, session: &SessionId) {
        if let Some(cache) = &self.cache {
            cache.forget_session(session);
        }
    }

    /// Drops the cached tokens of a subject logged out everywhere.
    pub(crate) fn forget_subject(&self, subject: &str) {
        if let Some(cache) = &self.cache {
            cache.forget_subject(subject);
        }
    }

    /// A key set: `signing` current, `others` verifying (newest first). Checked here, for the
    /// builder and for every rotation alike.
    pub(crate) fn key_set(
        &self,
        signing: SigningKey,
        others: Vec<(VerifyingKey, KeyStatus)>,
    ) -> Result<KeySet, ConfigError> {
        self.rules.key_set(signing, others)
    }

    /// The key set in force now.
    pub(crate) fn keys(&self) -> Arc<KeySet> {
        self.keys.load_full()
    }

    /// Replaces the key set with what `change` makes of the current one (`None`: leave it),
    /// atomically: if another change landed in between, `change` runs again on that one, so
    /// none is lost. Requests are never blocked; each sees the old set or the new one, whole.
    pub(crate) fn change<T>(
        &self,
        mut change: impl FnMut(&KeySet) -> Result<(Option<KeySet>, T), ConfigError>,
    ) -> Result<T, ConfigError> {
        let mut current = self.keys.load_full();
        loop {
            let (next, out) = change(&current)?;
            let Some(next) = next else {
                return Ok(out);
            };
            let previous = self.keys.compare_and_swap(&current, Arc::new(next));
            if Arc::ptr_eq(&previous, &current) {
                return Ok(out);
            }
            current = arc_swap::Guard::into_inner(previous);
        }
    }

    /// The published JWKS (`{"keys": [...]}`), when the route is on.
    pub(crate) fn jwks(&self) -> Option<Bytes> {
        self.keys.load().jwks.clone()
    }

    /// The `iss` of every token, when configured.
    pub(crate) fn issuer(&self) -> Option<&str> {
        self.rules.issuer.as_deref()
    }

    /// The access-token lifetime in whole seconds (`expires_in`).
    pub(crate) fn ttl_secs(&self) -> u64 {
        self.ttl.as_secs()
    }

    /// The leeway on `exp` and `nbf`, in milliseconds.
    pub(crate) fn leeway_ms(&self) -> u64 {
        self.leeway_ms
    }

    /// Turns the application's claims into the JSON object stored with a session, refusing
    /// anything that is not an object or that would overwrite a registered claim.
    pub(crate) fn custom_claims<C: Serialize>(custom: &C) -> Result<Map<String, Value>, AuthError> {
        match serde_json::to_value(custom) {
            Ok(Value::Object(map)) => {
                if let Some(name) = REGISTERED.iter().find(|name| map.contains_key(**name)) {
                    return Err(AuthError::Claims(
                        format!("the application claims may not set the registered claim `{name}`")
                            .into(),
                    ));
                }
                Ok(map)
            }
            Ok(Value::Null) => Ok(Map::new()),
            Ok(_) => Err(AuthError::Claims(
                "the application claims must serialize to a JSON object".into(),
            )),
            Err(e) => Err(AuthError::Claims(Cow::Owned(e.to_string()))),
        }
    }

    /// Signs a new access token of `session` as the store keeps it: its subject, its claims
    /// (the application's, and how the user authenticated: `docs/protocol.md` §15) and its
    /// DPoP binding.
    ///
    /// # Errors
    ///
    /// [`StoreError::Corrupt`] when the stored claims are not a JSON object (the seal was
    /// checked before, so the layer wrote them: this is a store that garbled them).
    pub(crate) fn sign_session(
        &self,
        session: &Session,
        now: SystemTime,
    ) -> Result<String, AuthError> {
        let mut custom: Map<String, Value> = serde_json::from_str(&session.claims)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let auth = AuthenticationClaims::take_from(&mut custom, to_secs(session.created_at));
        self.sign(
            &session.subject,
            &session.id,
            &custom,
            &auth,
            session.jkt.as_deref(),
            now,
        )
    }

    /// Signs a new access token; bound to the DPoP key of thumbprint `jkt`, if given.
    pub(crate) fn sign(
        &self,
        subject: &str,
        session: &SessionId,
        custom: &Map<String, Value>,
        auth: &AuthenticationClaims,
        jkt: Option<&str>,
        now: SystemTime,
    ) -> Result<String, AuthError> {
        let iat = to_secs(now);
        let jti = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 16]>());
        let claims = SignClaims {
            sub: subject,
            sid: session,
            jti: &jti,
            iat,
            exp: iat.saturating_add(self.ttl.as_secs()),
            iss: self.rules.issuer.as_deref(),
            aud: self.rules.audience.as_deref(),
            cnf: jkt.map(|jkt| Cnf { jkt }),
            auth_time: auth.auth_time,
            acr: auth.acr.as_deref(),
            amr: &auth.amr,
            custom,
        };
        let keys = self.keys.load();
        // An HMAC signing key's precomputed state signs the very bytes `encode` would.
        match keys.verifiers.first().and_then(|v| v.fast.as_ref()) {
            Some(fast) => fast.sign(&claims),
            None => jsonwebtoken::encode(&keys.header, &claims, &keys.signing.encoding),
        }
        .map_err(|e| AuthError::Claims(Cow::Owned(e.to_string())))
    }

    /// Verifies an access token: signature under the key its `kid` names (or, without a
    /// `kid`, the one key of its algorithm), pinned algorithm,
    /// `typ`, issuer and audience, then expiry against `now` with the configured leeway; and
    /// the token names its session (`sid`).
    pub(crate) fn verify<C: DeserializeOwned>(
        &self,
        token: &str,
        now: SystemTime,
    ) -> Result<Claims<C>, AuthError> {
        // One lock-free load; a rotation swaps the whole set, never a part of it.
        let keys = self.keys.load();
        let claims = verify_with::<C>(&keys.verifiers, token, now, self.leeway_ms)?;
        // Every token this layer signs names its session; one without is not ours to accept
        // (a resource server, which takes other issuers' tokens, does not ask this).
        if claims.sid.is_none() {
            return Err(super::claims::no_session());
        }
        Ok(claims)
    }
}

impl Rules {
    fn key_set(
        &self,
        signing: SigningKey,
        others: Vec<(VerifyingKey, KeyStatus)>,
    ) -> Result<KeySet, ConfigError> {
        let all = std::iter::once((signing.verifying.clone(), KeyStatus::Current)).chain(others);
        let mut verifiers: Vec<Verifier> = Vec::new();
        for (key, status) in all {
            key.validate()?;
            if verifiers.iter().any(|v| v.key.kid == key.kid) {
                return Err(ConfigError::DuplicateKid(key.kid));
            }
            if self.publish && key.hmac_secret.is_some() {
                return Err(ConfigError::SymmetricKeyPublished { kid: key.kid });
            }
            let validation = self.validation(&key);
            verifiers.push(Verifier::new(key, status, validation));
        }
        let jwks = self.publish.then(|| render_jwks(&verifiers)).transpose()?;
        let mut header = Header::new(signing.verifying.alg.to_jwt());
        header.typ = Some(TYP.to_owned());
        header.kid = Some(signing.verifying.kid.clone());
        Ok(KeySet {
            header,
            signing,
            verifiers,
            jwks,
        })
    }

    fn validation(&self, key: &VerifyingKey) -> Validation {
        let audiences: Vec<String> = self.audience.iter().cloned().collect();
        validation(&[key.alg], self.issuer.as_deref(), &audiences)
    }
}

impl KeySet {
    /// The key that signs new tokens.
    pub(crate) fn signing(&self) -> &SigningKey {
        &self.signing
    }

    /// Every key but the signing one, newest first, with where it stands.
    pub(crate) fn others(&self) -> impl Iterator<Item = (&VerifyingKey, KeyStatus)> {
        self.verifiers.iter().skip(1).map(|v| (&v.key, v.status))
    }
}

/// The JWK Set of every key in `verifiers` (RFC 7517 §5), in their order.
fn render_jwks(verifiers: &[Verifier]) -> Result<Bytes, ConfigError> {
    let keys = verifiers
        .iter()
        .map(|v| {
            public_jwk(&v.key).ok_or_else(|| ConfigError::SymmetricKeyPublished {
                kid: v.key.kid.clone(),
            })
        })
        .collect::<Result<_, _>>()?;
    // A JWK Set of plain strings always serializes.
    let body = serde_json::to_vec(&JwkSet { keys }).unwrap_or_else(|_| br#"{"keys":[]}"#.to_vec());
    Ok(Bytes::from(body))
}
