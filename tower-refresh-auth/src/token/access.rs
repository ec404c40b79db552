//! Signing and verifying access tokens (RFC 9068 JWTs).
//!
//! Everything that can be prepared is prepared once, when the layer is built: the header, the
//! per-key `Validation`, the key list. Verification is one short function on the hot path.

use std::borrow::Cow;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{DecodingKey, EncodingKey, Header, Validation};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::claims::{Claims, REGISTERED};
use crate::clock::{to_millis, to_secs};
use crate::error::{AuthError, invalid_token};
use crate::keys::{SigningKey, VerifyingKey};
use crate::session::SessionId;

/// The `typ` header of an access token (RFC 9068 §2.1).
pub(crate) const TYP: &str = "at+jwt";

/// Tokens longer than this are refused before any parsing work. Our own tokens are a few
/// hundred bytes; 8 KiB leaves room for generous application claims.
pub(crate) const MAX_TOKEN_LEN: usize = 8 * 1024;

#[derive(Debug)]
pub(crate) struct AccessTokens {
    header: Header,
    encoding: EncodingKey,
    verifiers: Vec<Verifier>,
    ttl: Duration,
    leeway_ms: u64,
    issuer: Option<String>,
    audience: Option<String>,
}

struct Verifier {
    kid: String,
    decoding: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
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
    #[serde(flatten)]
    custom: &'a Map<String, Value>,
}

impl AccessTokens {
    pub(crate) fn new(
        signing: &SigningKey,
        older: &[VerifyingKey],
        ttl: Duration,
        leeway: Duration,
        issuer: Option<String>,
        audience: Option<String>,
    ) -> Self {
        let mut header = Header::new(signing.verifying.alg);
        header.typ = Some(TYP.to_owned());
        header.kid = Some(signing.verifying.kid.clone());
        let verifiers = std::iter::once(&signing.verifying)
            .chain(older)
            .map(|key| {
                let mut validation = Validation::new(key.alg);
                // Expiry is checked against the layer's clock, below.
                validation.validate_exp = false;
                validation.validate_nbf = false;
                validation.leeway = 0;
                let mut required = vec!["exp", "sub"];
                match &issuer {
                    Some(iss) => {
                        validation.set_issuer(&[iss]);
                        required.push("iss");
                    }
                    None => validation.iss = None,
                }
                match &audience {
                    Some(aud) => {
                        validation.set_audience(&[aud]);
                        required.push("aud");
                    }
                    None => validation.validate_aud = false,
                }
                validation.set_required_spec_claims(&required);
                Verifier {
                    kid: key.kid.clone(),
                    decoding: key.decoding.clone(),
                    validation,
                }
            })
            .collect();
        Self {
            header,
            encoding: signing.encoding.clone(),
            verifiers,
            ttl,
            leeway_ms: u64::try_from(leeway.as_millis()).unwrap_or(u64::MAX),
            issuer,
            audience,
        }
    }

    /// The access-token lifetime in whole seconds (`expires_in`).
    pub(crate) fn ttl_secs(&self) -> u64 {
        self.ttl.as_secs()
    }

    /// The first millisecond a token with this `exp` is refused (`exp` plus leeway).
    pub(crate) fn deadline_ms(&self, exp: u64) -> u64 {
        exp.saturating_mul(1000).saturating_add(self.leeway_ms)
    }

    /// The milliseconds a verified token is valid in, `[from, until)`, with the leeway: what
    /// [`verify`](Self::verify) checks against the clock, for the verified-token cache.
    pub(crate) fn validity_ms<C>(&self, claims: &Claims<C>) -> (u64, u64) {
        let from = Self::not_before(claims)
            .saturating_mul(1000)
            .saturating_sub(self.leeway_ms);
        (from, self.deadline_ms(claims.exp))
    }

    fn not_before<C>(claims: &Claims<C>) -> u64 {
        claims.nbf.unwrap_or(0).max(claims.iat)
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

    /// Signs a new access token.
    pub(crate) fn sign(
        &self,
        subject: &str,
        session: &SessionId,
        custom: &Map<String, Value>,
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
            iss: self.issuer.as_deref(),
            aud: self.audience.as_deref(),
            custom,
        };
        jsonwebtoken::encode(&self.header, &claims, &self.encoding)
            .map_err(|e| AuthError::Claims(Cow::Owned(e.to_string())))
    }

    /// Verifies an access token: signature under the key its `kid` names (or, without a
    /// `kid`, the one key of its algorithm), pinned algorithm,
    /// `typ`, issuer and audience, then expiry against `now` with the configured leeway.
    pub(crate) fn verify<C: DeserializeOwned>(
        &self,
        token: &str,
        now: SystemTime,
    ) -> Result<Claims<C>, AuthError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(invalid_token("the token is too long"));
        }
        // With one key there is nothing to choose: its kid is checked after decoding, which
        // saves parsing the header twice on the hot path.
        let verifier = match self.verifiers.as_slice() {
            [only] => only,
            all => {
                let header = jsonwebtoken::decode_header(token).map_err(map_jwt_error)?;
                match header.kid.as_deref() {
                    Some(kid) => all
                        .iter()
                        .find(|v| v.kid == kid)
                        .ok_or_else(|| invalid_token("the token's kid is unknown"))?,
                    // RFC 7515 §4.1.4: `kid` is optional. Without one, the token verifies
                    // only when exactly one key could have signed it.
                    None => {
                        let mut candidates = all
                            .iter()
                            .filter(|v| v.validation.algorithms == [header.alg]);
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
            jsonwebtoken::decode::<Claims<C>>(token, &verifier.decoding, &verifier.validation)
                .map_err(map_jwt_error)?;
        let header = &data.header;
        if header.kid.as_deref().is_some_and(|kid| kid != verifier.kid) {
            return Err(invalid_token("the token's kid is unknown"));
        }
        // RFC 9068 §4: the typ must be at+jwt (or its full media type); this also keeps ID
        // tokens and other JWTs signed with the same key out.
        match header.typ.as_deref() {
            Some(typ)
                if typ.eq_ignore_ascii_case(TYP)
                    || typ.eq_ignore_ascii_case("application/at+jwt") => {}
            _ => return Err(invalid_token("the token is not an access token (typ)")),
        }
        // RFC 7515 §4.1.11: extensions we do not understand must be refused.
        if header.crit.is_some() {
            return Err(invalid_token("the token has critical header extensions"));
        }
        let claims = data.claims;
        let now_ms = to_millis(now);
        if now_ms >= self.deadline_ms(claims.exp) {
            return Err(invalid_token("the token has expired"));
        }
        if Self::not_before(&claims).saturating_mul(1000) > now_ms.saturating_add(self.leeway_ms) {
            return Err(invalid_token("the token is not valid yet"));
        }
        Ok(claims)
    }
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
