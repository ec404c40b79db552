//! Verifying an access token (RFC 9068 JWT) under a list of keys, with each key's pinned
//! algorithm and rules: the one verification path of the crate, for the issuing layer's key
//! set ([`AccessTokens`](super::access::AccessTokens)) and a resource server's
//! ([`crate::resource`]) alike. Stateless: the keys and the clock are handed in.

use std::time::SystemTime;

use jsonwebtoken::Validation;
use jsonwebtoken::errors::ErrorKind;
use serde::de::DeserializeOwned;

use super::claims::Claims;
use super::fast::{self, FastPath};
use crate::clock::to_millis;
use crate::error::{AuthError, invalid_token};
use crate::keys::{Algorithm, VerifyingKey};

/// The `typ` header of an access token (RFC 9068 §2.1).
pub(crate) const TYP: &str = "at+jwt";

/// Tokens longer than this are refused before any parsing work. Our own tokens are a few
/// hundred bytes; 8 KiB leaves room for generous application claims.
pub(crate) const MAX_TOKEN_LEN: usize = 8 * 1024;

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

/// A key with the rules a token must meet under it: what [`verify_with`] chooses among.
pub(crate) struct Verifier {
    pub(crate) key: VerifyingKey,
    pub(crate) status: KeyStatus,
    pub(crate) validation: Validation,
    /// For an HMAC key: what its own tokens are verified with ([`super::fast`]).
    pub(crate) fast: Option<FastPath>,
}

impl Verifier {
    /// `key` under `validation`, with its fast path precomputed when it has one.
    pub(crate) fn new(key: VerifyingKey, status: KeyStatus, validation: Validation) -> Self {
        let fast = FastPath::new(&key, &validation);
        Self {
            key,
            status,
            validation,
            fast,
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

/// The rules a token must meet under `key`: its algorithms (`algorithms`, every one made
/// for the key's type), the issuer and one of the audiences when given, `exp` and `sub`
/// present. Expiry is checked against the layer's clock, in [`verify_with`].
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
