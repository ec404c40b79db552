//! The claims of an access token.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{AuthError, invalid_token};
use crate::session::{Authentication, SessionId};

/// The verified claims of an access token: the registered ones and the application's own
/// (`custom`, flattened into the same JSON object).
///
/// The layer puts an `Arc<Claims<C>>` into the request extensions of every request whose
/// token verified (shared with the verified-token cache, so a cache hit copies nothing);
/// handlers read it from there (or through an adapter's extractor).
///
/// ```
/// use std::sync::Arc;
///
/// use serde::{Deserialize, Serialize};
/// use tower_refresh_auth::Claims;
///
/// #[derive(Clone, Debug, Serialize, Deserialize)]
/// struct Role { role: String }
///
/// fn handler(req: http::Request<()>) -> String {
///     match req.extensions().get::<Arc<Claims<Role>>>() {
///         Some(claims) => format!("{} is {}", claims.sub, claims.custom.role),
///         None => "anonymous".into(),
///     }
/// }
/// # assert_eq!(handler(http::Request::new(())), "anonymous");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Claims<C = NoClaims> {
    /// The subject: the user the token was issued to.
    pub sub: String,
    /// The login session the token belongs to (RFC 9068 does not name it; OpenID Connect's
    /// `sid`).
    ///
    /// Every token the issuing layer signs carries one, and the issuing layer refuses a token
    /// without one, so behind a [`RefreshAuth`](crate::RefreshAuth) it is always `Some`. A
    /// [resource server](crate::resource) also accepts tokens of other issuers, which may
    /// name no session, or name it in a form other than this crate's (a UUID, say): then it
    /// is `None`.
    #[serde(
        default,
        deserialize_with = "wire::session",
        skip_serializing_if = "Option::is_none"
    )]
    pub sid: Option<SessionId>,
    /// The token's unique id.
    pub jti: String,
    /// Issued at, in seconds since the Unix epoch.
    pub iat: u64,
    /// Expires at, in seconds since the Unix epoch.
    pub exp: u64,
    /// Not before, if the token has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    /// The issuer, when one is configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// The audiences the token is for (RFC 7519 §4.1.3): empty when it has no `aud`; the one
    /// the issuing layer writes when an [`audience`](crate::RefreshAuthBuilder::audience) is
    /// configured; possibly several in a token of another issuer (`aud` may be a string or an
    /// array). When an audience is required, the token was accepted because one of these is
    /// it.
    #[serde(
        default,
        with = "wire::audience",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub aud: Vec<String>,
    /// The confirmation of a DPoP-bound token (RFC 9449 §6.1): the thumbprint of the key
    /// whose proofs must come with it. `None` for a bearer token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation>,
    /// When the user last authenticated in this session, in seconds since the Unix epoch
    /// (OpenID Connect Core §2, RFC 9068 §2.2.1): the login, or the latest
    /// [re-authentication](crate::RefreshAuth::reauthenticate). A refresh never changes it.
    /// Every token this version of the layer signs carries it; `None` only for a token
    /// signed before (which no [step-up requirement](crate::step_up::StepUp) accepts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<u64>,
    /// The Authentication Context Class Reference the application gave at login or
    /// re-authentication ([`Authentication::acr`](crate::session::Authentication::acr)), if
    /// any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    /// The Authentication Methods References (RFC 8176) the application gave at login or
    /// re-authentication ([`Authentication::amr`](crate::session::Authentication::amr));
    /// empty when it gave none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
    /// The application's own claims.
    #[serde(flatten)]
    pub custom: C,
}

impl<C> Claims<C> {
    /// The session the token belongs to ([`sid`](Self::sid)), for the calls that take one
    /// ([`reauthenticate`](crate::RefreshAuth::reauthenticate),
    /// [`revoke_session`](crate::RefreshAuth::revoke_session)).
    ///
    /// # Errors
    ///
    /// `invalid_token` for a token without a session — never one the issuing layer let
    /// through, only another issuer's on a [resource server](crate::resource).
    pub fn session(&self) -> Result<&SessionId, AuthError> {
        self.sid.as_ref().ok_or_else(no_session)
    }
}

/// The issuing layer's refusal of a token without a session: the one it gave before `sid`
/// could be absent from [`Claims`], when such a token failed to decode.
pub(crate) fn no_session() -> AuthError {
    invalid_token("the token is malformed")
}

/// How `sid` and `aud` are read from (and written back to) a token's JSON.
mod wire {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::session::SessionId;

    /// A `sid` in this crate's form; anything else — another issuer's session ids, which
    /// may be any string (OpenID Connect Front-Channel Logout §1) — counts as absent.
    pub(super) fn session<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SessionId>, D::Error> {
        let sid = Option::<serde_json::Value>::deserialize(d)?;
        Ok(sid.and_then(|v| v.as_str().and_then(|s| s.parse().ok())))
    }

    /// `aud` (RFC 7519 §4.1.3): "an array of case-sensitive strings" or, with one audience,
    /// a single string — written back the same way.
    pub(super) mod audience {
        use super::*;
        use serde::Serialize;

        #[derive(Deserialize)]
        #[serde(untagged)]
        enum OneOrMany {
            One(String),
            Many(Vec<String>),
        }

        pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Vec<String>, D::Error> {
            Ok(match Option::<OneOrMany>::deserialize(d)? {
                None => Vec::new(),
                Some(OneOrMany::One(aud)) => vec![aud],
                Some(OneOrMany::Many(auds)) => auds,
            })
        }

        pub(crate) fn serialize<S: Serializer>(auds: &[String], s: S) -> Result<S::Ok, S::Error> {
            match auds {
                [one] => one.serialize(s),
                many => many.serialize(s),
            }
        }
    }
}

/// The `cnf` (confirmation) claim of a DPoP-bound access token (RFC 9449 §6.1, RFC 7800).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Confirmation {
    /// The SHA-256 JWK thumbprint of the key the token is bound to.
    pub jkt: String,
}

/// The application claims of a layer that has none of its own.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoClaims {}

/// The claim names the layer writes itself; the application's claims may not use them.
pub(crate) const REGISTERED: &[&str] = &[
    "sub",
    "sid",
    "jti",
    "iat",
    "exp",
    "nbf",
    "iss",
    "aud",
    "cnf",
    "auth_time",
    "acr",
    "amr",
];

/// How the user authenticated, as a session holds it inside its sealed claims
/// (`docs/protocol.md` §15): `auth_time` in seconds, and `acr`/`amr` if the application gave
/// them. Stored among the session's claims — the application cannot use these names — so
/// the session seal binds them and no store needs a column of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AuthenticationClaims {
    pub(crate) auth_time: u64,
    pub(crate) acr: Option<String>,
    pub(crate) amr: Vec<String>,
}

impl AuthenticationClaims {
    /// An authentication at `auth_time` (seconds).
    pub(crate) fn new(auth_time: u64, how: Authentication) -> Self {
        let (acr, amr) = how.into_parts();
        Self {
            auth_time,
            acr,
            amr,
        }
    }

    /// Takes the authentication out of a session's stored claims, leaving the application's.
    /// A session sealed before these claims existed has none: it authenticated when it was
    /// created (`created_at`, in seconds), with no `acr` or `amr`. A value of the wrong type
    /// (which the layer never writes) counts as absent.
    pub(crate) fn take_from(claims: &mut Map<String, Value>, created_at: u64) -> Self {
        let auth_time = claims
            .remove("auth_time")
            .and_then(|v| v.as_u64())
            .unwrap_or(created_at);
        let acr = match claims.remove("acr") {
            Some(Value::String(acr)) => Some(acr),
            _ => None,
        };
        let amr = match claims.remove("amr") {
            Some(Value::Array(methods)) => methods
                .into_iter()
                .filter_map(|m| match m {
                    Value::String(m) => Some(m),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        Self {
            auth_time,
            acr,
            amr,
        }
    }

    /// Puts the authentication into a session's claims, beside the application's.
    pub(crate) fn put_into(&self, claims: &mut Map<String, Value>) {
        claims.insert("auth_time".to_owned(), Value::from(self.auth_time));
        if let Some(acr) = &self.acr {
            claims.insert("acr".to_owned(), Value::from(acr.as_str()));
        }
        if !self.amr.is_empty() {
            claims.insert("amr".to_owned(), Value::from(self.amr.clone()));
        }
    }
}
