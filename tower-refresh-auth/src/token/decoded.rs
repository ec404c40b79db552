//! Verifying a token decoded once: for a resource server ([`crate::resource`]), which must read
//! a token's header (for its `kid` and the header keys it refuses) and, with several issuers,
//! its `iss` (to choose the key set) before verifying it.
//!
//! `jsonwebtoken::decode` decodes the header again, and the payload twice (once for its own
//! validation, once for the caller). [`Decoded`] splits the token and decodes its header and
//! payload once; the payload is parsed once into the [`Claims`] handlers receive, whose `iss`
//! routes the token before anything about it is trusted. [`verify_decoded`] then checks the
//! signature over the signed bytes under the chosen key, and the same rules as the general
//! path, on those claims.
//!
//! As the [fast path](super::fast) for HMAC tokens, it gives a verdict only where the general
//! path ([`verify_general`]) is known to give the same one: it accepts a token only when
//! `jsonwebtoken::decode` with the verifier's `Validation`, and every check after it, would
//! accept it with the same claims; it refuses one only for a signature that does not verify
//! (which `decode` checks before anything not checked here yet) or for the general path's own
//! expiry checks. Anything else — a header this path does not know, a `Validation` whose rules
//! it does not mirror, claims the rules do not accept — goes to the general path with every
//! check it has. The differential test below holds the two paths to that.

use std::time::SystemTime;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Header, Validation};
use serde::de::DeserializeOwned;

#[cfg(doc)]
use super::access::verify_general;
use super::access::{MAX_TOKEN_LEN, TYP, Verifier, verify_with, within_validity};
use super::claims::Claims;
use crate::error::{AuthError, invalid_token};

/// What a `Validation` asks of a token's claims besides its time claims, in a form checked on
/// the parsed [`Claims`]: the fast paths' mirror of `jsonwebtoken`'s validation.
pub(crate) struct ClaimRules {
    /// `Some`: `iss` must be one of these (`Validation::iss`).
    issuers: Option<Box<[String]>>,
    /// `Some`: `aud` must be one of these (`Validation::validate_aud` and `aud`).
    audiences: Option<Box<[String]>>,
    require_iss: bool,
    require_aud: bool,
    require_nbf: bool,
}

impl ClaimRules {
    /// The rules of `validation`; `None` for one whose checks these do not make (time claims
    /// checked by `jsonwebtoken`, a pinned `sub`): then no fast path applies.
    pub(crate) fn new(validation: &Validation) -> Option<Self> {
        if validation.validate_exp || validation.validate_nbf || validation.sub.is_some() {
            return None;
        }
        let required = |claim: &str| validation.required_spec_claims.contains(claim);
        Some(Self {
            issuers: validation
                .iss
                .as_ref()
                .map(|set| set.iter().cloned().collect()),
            // `validate_aud` without an audience refuses every `aud`: an empty set.
            audiences: validation
                .validate_aud
                .then(|| validation.aud.iter().flatten().cloned().collect()),
            require_iss: required("iss"),
            require_aud: required("aud"),
            require_nbf: required("nbf"),
        })
    }

    /// Whether `decode`'s validation would accept these claims (already parsed as the
    /// caller's type, so `exp` and `sub` are there).
    pub(crate) fn accepts<C>(&self, claims: &Claims<C>) -> bool {
        // Stricter than `decode` where that is simpler (an absent `iss` or `aud` that is
        // checked but not required): such a token takes the general path.
        let one_of = |value: Option<&String>, set: &Option<Box<[String]>>| match set {
            Some(set) => value.is_some_and(|v| set.contains(v)),
            None => true,
        };
        (!self.require_iss || claims.iss.is_some())
            && (!self.require_aud || !claims.aud.is_empty())
            && (!self.require_nbf || claims.nbf.is_some())
            && one_of(claims.iss.as_ref(), &self.issuers)
            // `aud` may be an array (RFC 7519 §4.1.3): one of its members must be accepted.
            && match &self.audiences {
                Some(set) => claims.aud.iter().any(|aud| set.contains(aud)),
                None => true,
            }
    }
}

impl std::fmt::Debug for ClaimRules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClaimRules").finish_non_exhaustive()
    }
}

/// A token split once, its header parsed and its payload decoded: nothing of it verified yet.
pub(crate) struct Decoded<'t> {
    token: &'t str,
    /// The parsed header, as `jsonwebtoken::decode_header` gives it.
    pub(crate) header: Header,
    /// `header.payload`: what the signature is over.
    message: &'t str,
    signature: &'t str,
    /// The payload's bytes; `None` when they are not base64url (the general path refuses).
    payload: Option<Vec<u8>>,
}

impl<'t> Decoded<'t> {
    /// Splits `token` into its three parts and decodes its header and payload.
    ///
    /// # Errors
    ///
    /// `401 invalid_token` for a token that is too long, not three parts, or whose header is
    /// not a JOSE header: where `jsonwebtoken::decode_header` fails.
    pub(crate) fn new(token: &'t str) -> Result<Self, AuthError> {
        let malformed = || invalid_token("the token is malformed");
        if token.len() > MAX_TOKEN_LEN {
            return Err(invalid_token("the token is too long"));
        }
        let (message, signature) = token.rsplit_once('.').ok_or_else(malformed)?;
        let (header_b64, payload_b64) = message.rsplit_once('.').ok_or_else(malformed)?;
        let header_json = URL_SAFE_NO_PAD
            .decode(header_b64)
            .map_err(|_| malformed())?;
        let header: Header = serde_json::from_slice(&header_json).map_err(|_| malformed())?;
        Ok(Self {
            token,
            header,
            message,
            signature,
            payload: URL_SAFE_NO_PAD.decode(payload_b64).ok(),
        })
    }

    /// The payload's bytes, if they are base64url.
    pub(crate) fn payload_bytes(&self) -> Option<&[u8]> {
        self.payload.as_deref()
    }

    /// The payload parsed as the handlers' claims, once; `None` when it is not (the general
    /// path then gives the refusal). Nothing in them is trusted before [`verify_decoded`]:
    /// their `iss` may only choose the key set the token must verify under.
    pub(crate) fn parse_claims<C: DeserializeOwned>(&self) -> Option<Claims<C>> {
        serde_json::from_slice(self.payload.as_deref()?).ok()
    }
}

/// Verifies the token `decoded` was made from under one of `verifiers`, with `claims` its
/// payload as [`Decoded::parse_claims`] parsed it: the verdict and claims [`verify_with`] gives,
/// without decoding anything again where this path can decide.
pub(crate) fn verify_decoded<C: DeserializeOwned>(
    verifiers: &[Verifier],
    decoded: &Decoded<'_>,
    claims: Claims<C>,
    now: SystemTime,
    leeway_ms: u64,
) -> Result<Claims<C>, AuthError> {
    match decide(verifiers, decoded, claims, now, leeway_ms) {
        Some(verdict) => verdict,
        None => verify_with(verifiers, decoded.token, now, leeway_ms),
    }
}

/// The verdict when this path can give it; `None` when the general path must.
fn decide<C>(
    verifiers: &[Verifier],
    decoded: &Decoded<'_>,
    claims: Claims<C>,
    now: SystemTime,
    leeway_ms: u64,
) -> Option<Result<Claims<C>, AuthError>> {
    let header = &decoded.header;
    let alg = header.alg;
    // The key the general path would choose; where it would refuse, it says why.
    let verifier = match verifiers {
        [only] => only,
        all => all
            .iter()
            .find(|v| header.kid.as_deref() == Some(v.key.kid.as_str()))?,
    };
    let rules = verifier.claim_rules.as_ref()?;
    // What `decode` checks before the signature: the algorithm is the key's own and allowed,
    // every allowed one of its family, and the header is one `Header::from_encoded` accepts
    // (no `crit`, no `b64`).
    if verifier.key.alg.to_jwt() != alg
        || !verifier.validation.algorithms.contains(&alg)
        || verifier
            .validation
            .algorithms
            .iter()
            .any(|a| a.family() != alg.family())
        || header.crit.is_some()
        || !matches!(header.extras.get::<serde_json::Value>("b64"), Ok(None))
    {
        return None;
    }
    // What the general path checks after `decode`: the kid, the type.
    if header
        .kid
        .as_deref()
        .is_some_and(|kid| kid != verifier.key.kid)
        || !header.typ.as_deref().is_some_and(|t| {
            t.eq_ignore_ascii_case(TYP) || t.eq_ignore_ascii_case("application/at+jwt")
        })
    {
        return None;
    }
    match jsonwebtoken::crypto::verify(
        decoded.signature,
        decoded.message.as_bytes(),
        &verifier.key.decoding,
        alg,
    ) {
        Ok(true) => {}
        // `decode` checks the signature before anything it has not checked yet.
        Ok(false) => return Some(Err(invalid_token("the signature does not verify"))),
        Err(_) => return None,
    }
    if !rules.accepts(&claims) {
        return None;
    }
    Some(within_validity(claims, now, leeway_ms))
}

#[cfg(test)]
mod tests;
