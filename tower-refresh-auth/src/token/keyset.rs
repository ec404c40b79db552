//! The key sets access tokens are signed and verified under: one immutable [`KeySet`] per
//! configuration (the signing key's header, every key's [`Verifier`] with its pinned rules,
//! the published JWKS), checked and rendered once when it is made, for the builder and for
//! every rotation alike ([`KeyRing`](crate::keyring::KeyRing)).

use std::time::SystemTime;

use bytes::Bytes;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Header, Validation};

use super::decoded::ClaimRules;
use super::fast::FastPath;
use crate::error::ConfigError;
use crate::keys::{Algorithm, SigningKey, VerifyingKey, public_jwk};

/// The `typ` header of an access token (RFC 9068 §2.1).
pub(crate) const TYP: &str = "at+jwt";

/// What every key set of one authority has in common.
#[derive(Debug)]
pub(super) struct Rules {
    pub(super) issuer: Option<String>,
    pub(super) audience: Option<String>,
    /// Whether key sets are published (the JWKS route is on): each then renders its JWKS,
    /// and refuses HMAC keys.
    pub(super) publish: bool,
}

/// Where a key stands in its rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyStatus {
    /// Signs new tokens (and verifies them).
    Current,
    /// Published ahead of signing, so verifiers' caches know it before it signs anything.
    Next,
    /// Signed until `at`; verifies until the overlap after `at` has passed.
    Retired { at: SystemTime },
    /// Given to the builder as a verifying key: verifies until removed by kid.
    Kept,
}

/// One immutable key set. Swapped whole, never changed in place, so a request sees either
/// the set before a rotation or the one after it.
#[derive(Debug)]
pub(crate) struct KeySet {
    pub(super) header: Header,
    pub(super) signing: SigningKey,
    /// The signing key's verifier first, then the others, newest first.
    pub(super) verifiers: Vec<Verifier>,
    /// `{"keys": [...]}`, rendered once, when the set is published.
    pub(super) jwks: Option<Bytes>,
}

/// A key with the rules a token must meet under it: what [`verify_with`](super::access::verify_with) chooses among.
pub(crate) struct Verifier {
    pub(crate) key: VerifyingKey,
    pub(crate) status: KeyStatus,
    pub(crate) validation: Validation,
    /// For an HMAC key: what its own tokens are verified with ([`super::fast`]).
    pub(crate) fast: Option<FastPath>,
    /// What `validation` asks of the claims, checked on claims parsed once
    /// ([`super::decoded`]); `None` when it asks what these rules do not mirror.
    pub(crate) claim_rules: Option<ClaimRules>,
}

impl Verifier {
    /// `key` under `validation`, with its fast paths precomputed when it has them.
    pub(crate) fn new(key: VerifyingKey, status: KeyStatus, validation: Validation) -> Self {
        let fast = FastPath::new(&key, &validation);
        let claim_rules = ClaimRules::new(&validation);
        Self {
            key,
            status,
            validation,
            fast,
            claim_rules,
        }
    }
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("kid", &self.key.kid)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

/// The rules a token must meet under `key`: its algorithms (`algorithms`, every one made
/// for the key's type), the issuer and one of the audiences when given, `exp` and `sub`
/// present. Expiry is checked against the layer's clock, in [`verify_with`](super::access::verify_with).
pub(crate) fn validation(
    algorithms: &[Algorithm],
    issuer: Option<&str>,
    audiences: &[String],
) -> Validation {
    let mut validation = Validation::new(
        algorithms
            .first()
            .map_or(jsonwebtoken::Algorithm::ES256, |a| a.to_jwt()),
    );
    validation.algorithms = algorithms.iter().map(|a| a.to_jwt()).collect();
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.leeway = 0;
    let mut required = vec!["exp", "sub"];
    match issuer {
        Some(iss) => {
            validation.set_issuer(&[iss]);
            required.push("iss");
        }
        None => validation.iss = None,
    }
    if audiences.is_empty() {
        validation.validate_aud = false;
    } else {
        validation.set_audience(audiences);
        required.push("aud");
    }
    validation.set_required_spec_claims(&required);
    validation
}

impl Rules {
    pub(super) fn key_set(
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
