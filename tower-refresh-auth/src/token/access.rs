//! Signing and verifying access tokens (RFC 9068 JWTs); the key sets they are signed and
//! verified under are made in [`keyset`](super::keyset).
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
use jsonwebtoken::errors::ErrorKind;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::cache::TokenCache;
use super::claims::{AuthenticationClaims, Claims, REGISTERED};
use super::fast;
use super::keyset::Rules;
pub(crate) use super::keyset::{KeySet, KeyStatus, TYP, Verifier, validation};
use crate::clock::{to_millis, to_secs};
use crate::credentials::Presented;
use crate::error::{AuthError, ConfigError, invalid_token};
use crate::keys::{SigningKey, VerifyingKey};
use crate::session::{Session, SessionId};
use crate::store::StoreError;

/// Tokens longer than this are refused before any parsing work. Our own tokens are a few
/// hundred bytes; 8 KiB leaves room for generous application claims.
pub(crate) const MAX_TOKEN_LEN: usize = 8 * 1024;

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
/// its claims type, and shared, so a cache hit copies nothing.
pub(crate) trait VerifyAccess<C> {
    /// The claims of `token`, verified at `now`.
    fn verify_access(
        &self,
        token: Presented<'_>,
        now: SystemTime,
    ) -> Result<Arc<Claims<C>>, AuthError>;
}

impl<C> VerifyAccess<C> for AccessTokens
where
    C: DeserializeOwned + Clone + Send + Sync + 'static,
{
    /// Through the cache, when there is one: the one way the issuing layer verifies an
    /// access token.
    fn verify_access(
        &self,
        token: Presented<'_>,
        now: SystemTime,
    ) -> Result<Arc<Claims<C>>, AuthError> {
        let Some(cache) = &self.cache else {
            return self.verify(token.text()?, now).map(Arc::new);
        };
        cache.verify_through(
            token.as_bytes(),
            to_millis(now),
            || self.verify(token.text()?, now),
            |claims| validity_ms(claims, self.leeway_ms),
        )
    }
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

/// Verifies `token` under one of `verifiers`: the one its `kid` names (or, without a `kid`,
/// the one key of its algorithm), with that key's pinned algorithm and rules (issuer,
/// audience), then `typ`, `crit`, and expiry against `now` with `leeway_ms`.
///
/// The one verification path of the crate: the issuing layer's key set and a resource
/// server's key sets ([`crate::resource`]) both call it. A token of ours under an HMAC key
/// takes the [fast path](super::fast), which gives the same verdict and claims; any other
/// token, the general one.
pub(crate) fn verify_with<C: DeserializeOwned>(
    verifiers: &[Verifier],
    token: &str,
    now: SystemTime,
    leeway_ms: u64,
) -> Result<Claims<C>, AuthError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(invalid_token("the token is too long"));
    }
    if let Some(verdict) = fast::verify(verifiers, token, now, leeway_ms) {
        return verdict;
    }
    verify_general(verifiers, token, now, leeway_ms)
}

/// [`verify_with`] without the fast path: `jsonwebtoken::decode` and the checks after it.
pub(crate) fn verify_general<C: DeserializeOwned>(
    verifiers: &[Verifier],
    token: &str,
    now: SystemTime,
    leeway_ms: u64,
) -> Result<Claims<C>, AuthError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(invalid_token("the token is too long"));
    }
    // With one key there is nothing to choose: its kid is checked after decoding, which
    // saves parsing the header twice on the hot path.
    let verifier = match verifiers {
        [only] => only,
        all => {
            let header = jsonwebtoken::decode_header(token).map_err(map_jwt_error)?;
            match header.kid.as_deref() {
                Some(kid) => all
                    .iter()
                    .find(|v| v.key.kid == kid)
                    .ok_or_else(|| invalid_token("the token's kid is unknown"))?,
                // RFC 7515 §4.1.4: `kid` is optional. Without one, the token verifies
                // only when exactly one key could have signed it.
                None => {
                    let mut candidates = all
                        .iter()
                        .filter(|v| v.validation.algorithms.contains(&header.alg));
                    match (candidates.next(), candidates.next()) {
                        (Some(only), None) => only,
                        (Some(_), Some(_)) => {
                            return Err(invalid_token("the token has no kid"));
                        }
                        (None, _) => {
                            return Err(invalid_token("the token's algorithm is not accepted"));
                        }
                    }
                }
            }
        }
    };
    let data =
        jsonwebtoken::decode::<Claims<C>>(token, &verifier.key.decoding, &verifier.validation)
            .map_err(map_jwt_error)?;
    let header = &data.header;
    if header
        .kid
        .as_deref()
        .is_some_and(|kid| kid != verifier.key.kid)
    {
        return Err(invalid_token("the token's kid is unknown"));
    }
    // RFC 9068 §4: the typ must be at+jwt (or its full media type); this also keeps ID
    // tokens and other JWTs signed with the same key out.
    match header.typ.as_deref() {
        Some(typ)
            if typ.eq_ignore_ascii_case(TYP) || typ.eq_ignore_ascii_case("application/at+jwt") => {}
        _ => return Err(invalid_token("the token is not an access token (typ)")),
    }
    // RFC 7515 §4.1.11: extensions we do not understand must be refused.
    if header.crit.is_some() {
        return Err(invalid_token("the token has critical header extensions"));
    }
    within_validity(data.claims, now, leeway_ms)
}

/// The claims of a verified token, unless it has expired or is not valid yet at `now`.
pub(crate) fn within_validity<C>(
    claims: Claims<C>,
    now: SystemTime,
    leeway_ms: u64,
) -> Result<Claims<C>, AuthError> {
    let now_ms = to_millis(now);
    if now_ms >= deadline_ms(claims.exp, leeway_ms) {
        return Err(invalid_token("the token has expired"));
    }
    if not_before(&claims).saturating_mul(1000) > now_ms.saturating_add(leeway_ms) {
        return Err(invalid_token("the token is not valid yet"));
    }
    Ok(claims)
}

/// The first millisecond a token with this `exp` is refused (`exp` plus leeway).
pub(crate) fn deadline_ms(exp: u64, leeway_ms: u64) -> u64 {
    exp.saturating_mul(1000).saturating_add(leeway_ms)
}

/// The milliseconds a verified token is valid in, `[from, until)`, with the leeway: what
/// [`verify_with`] checks against the clock, for the verified-token cache.
pub(crate) fn validity_ms<C>(claims: &Claims<C>, leeway_ms: u64) -> (u64, u64) {
    let from = not_before(claims)
        .saturating_mul(1000)
        .saturating_sub(leeway_ms);
    (from, deadline_ms(claims.exp, leeway_ms))
}

fn not_before<C>(claims: &Claims<C>) -> u64 {
    claims.nbf.unwrap_or(0).max(claims.iat)
}

/// The description for a token jsonwebtoken refused. Nothing of the token or the key is
/// echoed.
fn map_jwt_error(err: jsonwebtoken::errors::Error) -> AuthError {
    invalid_token(match err.kind() {
        ErrorKind::InvalidSignature => "the signature does not verify",
        ErrorKind::InvalidAlgorithm
        | ErrorKind::InvalidAlgorithmName
        | ErrorKind::MissingAlgorithm => "the token's algorithm is not accepted",
        ErrorKind::InvalidIssuer => "the token's issuer is not accepted",
        ErrorKind::InvalidAudience => "the token's audience is not accepted",
        ErrorKind::MissingRequiredClaim(_) => "the token lacks a required claim",
        ErrorKind::ExpiredSignature => "the token has expired",
        ErrorKind::ImmatureSignature => "the token is not valid yet",
        _ => "the token is malformed",
    })
}
