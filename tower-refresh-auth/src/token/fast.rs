//! The fast path for the tokens this layer issues: an HMAC-signed access token whose header
//! is byte for byte the one the layer writes.
//!
//! `jsonwebtoken::decode` decodes and parses the header, sets the HMAC key up, verifies,
//! decodes the payload and parses the claims twice (once for its own validation, once for
//! the caller). For a token of ours most of that is known in advance, so each HMAC
//! [`Verifier`] precomputes, when its key set is made:
//!
//! - the exact base64url header segment its tokens carry (`alg`, `typ: at+jwt`, its `kid`,
//!   as [`jsonwebtoken::encode`] writes them): one byte comparison replaces decoding and
//!   parsing the header, and decides the key;
//! - the HMAC key state (inner and outer pads hashed once), in the backend's own type:
//!   `aws_lc_rs::hmac::Key` with the `aws-lc` feature, RustCrypto's `Hmac` otherwise;
//! - what its `Validation` asks of the claims (issuer, audience, required claims).
//!
//! Then a token costs one MAC over its first two segments, one base64url decode of the
//! payload and one parse of the claims, straight into the [`Claims`] handlers receive; the
//! checks that follow are the general path's.
//!
//! The fast path gives a verdict only where the general path ([`verify_with`]) is known to
//! give the same one: it accepts a token only when `jsonwebtoken::decode` with the
//! verifier's `Validation` and every check after it would accept it with the same claims,
//! and it refuses one only for a signature that does not verify (which `decode` checks
//! before anything else) or for the general path's own expiry checks. Anything else — another
//! header, a malformed segment, a claim the general path would refuse — returns `None`, and
//! the caller takes the general path with every check it has. The differential test below
//! and the `access_token_fast_path` fuzz target hold the two paths to that.
//!
//! [`verify_with`]: super::access::verify_with

use std::time::SystemTime;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Header, Validation};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::access::{TYP, Verifier, within_validity};
use super::claims::Claims;
use super::decoded::ClaimRules;
use crate::error::{AuthError, invalid_token};
use crate::keys::{Algorithm, VerifyingKey};

/// What a verifier precomputes for the tokens it signed itself.
pub(crate) struct FastPath {
    /// `base64url(header JSON)` and the `.` after it: how every token of this key begins.
    prefix: Box<str>,
    mac: HmacKey,
    /// What its `Validation` asks of the claims.
    rules: ClaimRules,
}

impl FastPath {
    /// The fast path of an HMAC key under `validation`; `None` for any other key, or for a
    /// validation whose checks the fast path does not make (it then never applies).
    pub(crate) fn new(key: &VerifyingKey, validation: &Validation) -> Option<Self> {
        let secret = key.hmac_secret.as_deref()?;
        let mac = HmacKey::new(key.alg, secret)?;
        // What `decode` would check that the fast path does not: time claims are the
        // layer's own, no `sub` is pinned, and every algorithm allowed is an HMAC one (else
        // `decode` refuses the key as of the wrong family).
        let alg = key.alg.to_jwt();
        let rules = ClaimRules::new(validation)?;
        if !validation.algorithms.contains(&alg)
            || validation
                .algorithms
                .iter()
                .any(|a| a.family() != alg.family())
        {
            return None;
        }
        let mut header = Header::new(alg);
        header.typ = Some(TYP.to_owned());
        header.kid = Some(key.kid.clone());
        let json = serde_json::to_vec(&header).ok()?;
        let mut prefix = URL_SAFE_NO_PAD.encode(json);
        prefix.push('.');
        Some(Self {
            prefix: prefix.into_boxed_str(),
            mac,
            rules,
        })
    }

    /// Signs `claims` under this key: byte for byte what `jsonwebtoken::encode` writes with
    /// the key's header (the same header segment, the claims' JSON, the HMAC), without
    /// setting the HMAC key up again for every token.
    pub(crate) fn sign<T: Serialize>(
        &self,
        claims: &T,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let json = serde_json::to_vec(claims)?;
        // The header, the claims, a `.`, and up to 86 characters of an HS512 tag.
        let mut token = String::with_capacity(self.prefix.len() + json.len().div_ceil(3) * 4 + 87);
        token.push_str(&self.prefix);
        URL_SAFE_NO_PAD.encode_string(json, &mut token);
        let tag = self.mac.sign(token.as_bytes());
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(tag, &mut token);
        Ok(token)
    }
}

impl std::fmt::Debug for FastPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FastPath").finish_non_exhaustive()
    }
}

/// The verdict on `token` when it is one of ours, under the key its header names; `None`
/// when the general path must decide.
pub(crate) fn verify<C: DeserializeOwned>(
    verifiers: &[Verifier],
    token: &str,
    now: SystemTime,
    leeway_ms: u64,
) -> Option<Result<Claims<C>, AuthError>> {
    let bytes = token.as_bytes();
    let (verifier, fast) = verifiers.iter().find_map(|v| {
        v.fast
            .as_ref()
            .filter(|fast| bytes.starts_with(fast.prefix.as_bytes()))
            .map(|fast| (v, fast))
    })?;
    // Among several keys the general path takes the first one of the token's kid.
    if verifiers.len() > 1
        && !verifiers
            .iter()
            .find(|w| w.key.kid == verifier.key.kid)
            .is_some_and(|first| std::ptr::eq(first, verifier))
    {
        return None;
    }
    let rest = &bytes[fast.prefix.len()..];
    let dot = rest.iter().position(|&b| b == b'.')?;
    let (payload, signature) = (&rest[..dot], &rest[dot + 1..]);
    if signature.contains(&b'.') {
        return None;
    }
    let mut tag = [0u8; 64];
    let tag_len = URL_SAFE_NO_PAD.decode_slice(signature, &mut tag).ok()?;
    let message = &bytes[..fast.prefix.len() + dot];
    if !fast.mac.verifies(message, &tag[..tag_len]) {
        // `decode` checks the signature before anything it has not checked yet.
        return Some(Err(invalid_token("the signature does not verify")));
    }
    let claims: Claims<C> = parse_payload(payload)?;
    if !fast.rules.accepts(&claims) {
        return None;
    }
    Some(within_validity(claims, now, leeway_ms))
}

/// The claims of a base64url payload segment; `None` when it does not decode or parse.
///
/// Decoded on the stack when it fits (an access token's claims are a few hundred bytes), so
/// a verification allocates nothing for them but the claims' own strings.
fn parse_payload<C: DeserializeOwned>(payload: &[u8]) -> Option<Claims<C>> {
    let mut buf = [0u8; 1024];
    match URL_SAFE_NO_PAD.decode_slice(payload, &mut buf) {
        Ok(len) => serde_json::from_slice(&buf[..len]).ok(),
        Err(base64::DecodeSliceError::OutputSliceTooSmall) => {
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()
        }
        Err(base64::DecodeSliceError::DecodeError(_)) => None,
    }
}

/// An HMAC key with its pads hashed once, in the backend's type.
#[cfg(feature = "aws-lc")]
struct HmacKey(aws_lc_rs::hmac::Key);

#[cfg(feature = "aws-lc")]
impl HmacKey {
    fn new(alg: Algorithm, secret: &[u8]) -> Option<Self> {
        use aws_lc_rs::hmac;
        let alg = match alg {
            Algorithm::HS256 => hmac::HMAC_SHA256,
            Algorithm::HS384 => hmac::HMAC_SHA384,
            Algorithm::HS512 => hmac::HMAC_SHA512,
            _ => return None,
        };
        Some(Self(hmac::Key::new(alg, secret)))
    }

    /// Constant-time.
    fn verifies(&self, message: &[u8], tag: &[u8]) -> bool {
        aws_lc_rs::hmac::verify(&self.0, message, tag).is_ok()
    }

    fn sign(&self, message: &[u8]) -> impl AsRef<[u8]> + use<> {
        aws_lc_rs::hmac::sign(&self.0, message)
    }
}

/// An HMAC key with its pads hashed once, in the backend's type.
#[cfg(not(feature = "aws-lc"))]
enum HmacKey {
    Hs256(hmac::Hmac<sha2::Sha256>),
    Hs384(hmac::Hmac<sha2::Sha384>),
    Hs512(hmac::Hmac<sha2::Sha512>),
}

#[cfg(not(feature = "aws-lc"))]
impl HmacKey {
    fn new(alg: Algorithm, secret: &[u8]) -> Option<Self> {
        use hmac::Mac as _;
        Some(match alg {
            Algorithm::HS256 => Self::Hs256(hmac::Hmac::new_from_slice(secret).ok()?),
            Algorithm::HS384 => Self::Hs384(hmac::Hmac::new_from_slice(secret).ok()?),
            Algorithm::HS512 => Self::Hs512(hmac::Hmac::new_from_slice(secret).ok()?),
            _ => return None,
        })
    }

    /// Constant-time.
    fn verifies(&self, message: &[u8], tag: &[u8]) -> bool {
        fn check<M: hmac::Mac + Clone>(key: &M, message: &[u8], tag: &[u8]) -> bool {
            let mut mac = key.clone();
            mac.update(message);
            mac.verify_slice(tag).is_ok()
        }
        match self {
            Self::Hs256(key) => check(key, message, tag),
            Self::Hs384(key) => check(key, message, tag),
            Self::Hs512(key) => check(key, message, tag),
        }
    }

    fn sign(&self, message: &[u8]) -> impl AsRef<[u8]> + use<> {
        fn tag<M: hmac::Mac + Clone>(key: &M, message: &[u8]) -> Vec<u8> {
            let mut mac = key.clone();
            mac.update(message);
            mac.finalize().into_bytes().to_vec()
        }
        match self {
            Self::Hs256(key) => tag(key, message),
            Self::Hs384(key) => tag(key, message),
            Self::Hs512(key) => tag(key, message),
        }
    }
}

#[cfg(any(test, fuzzing))]
#[cfg_attr(not(fuzzing), allow(unreachable_pub))]
pub mod differential;
