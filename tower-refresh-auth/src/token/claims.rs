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
///
/// Both read the value in place, with a visitor: no `serde_json::Value` or buffered copy is
/// made on the way (`sid` and `aud` are parsed on every verification that misses the cache).
mod wire {
    use std::fmt;

    use serde::Deserializer;
    use serde::de::{IgnoredAny, MapAccess, SeqAccess, Visitor};

    use crate::session::SessionId;

    /// A `sid` in this crate's form; anything else — another issuer's session ids, which
    /// may be any string (OpenID Connect Front-Channel Logout §1), or not a string at all —
    /// counts as absent.
    pub(super) fn session<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SessionId>, D::Error> {
        d.deserialize_any(Session)
    }

    /// Reads any JSON value: a string of this crate's form is a session, anything else none.
    struct Session;

    impl<'de> Visitor<'de> for Session {
        type Value = Option<SessionId>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a session id, or any value (read as no session)")
        }

        fn visit_str<E>(self, s: &str) -> Result<Self::Value, E> {
            Ok(s.parse().ok())
        }

        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_none<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(self)
        }

        fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(None)
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            Ok(None)
        }
    }

    /// `aud` (RFC 7519 §4.1.3): "an array of case-sensitive strings" or, with one audience,
    /// a single string — written back the same way.
    pub(super) mod audience {
        use super::*;
        use serde::{Serialize, Serializer};

        pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Vec<String>, D::Error> {
            d.deserialize_any(Audiences)
        }

        /// A string, an array of strings, or `null` (no audience).
        struct Audiences;

        impl<'de> Visitor<'de> for Audiences {
            type Value = Vec<String>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an audience: a string or an array of strings")
            }

            fn visit_str<E>(self, aud: &str) -> Result<Self::Value, E> {
                Ok(vec![aud.to_owned()])
            }

            fn visit_string<E>(self, aud: String) -> Result<Self::Value, E> {
                Ok(vec![aud])
            }

            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Vec::new())
            }

            fn visit_none<E>(self) -> Result<Self::Value, E> {
                Ok(Vec::new())
            }

            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                d.deserialize_any(self)
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut auds = Vec::with_capacity(seq.size_hint().unwrap_or(1).min(16));
                while let Some(aud) = seq.next_element::<String>()? {
                    auds.push(aud);
                }
                Ok(auds)
            }
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

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde::Deserialize;
    use serde_json::{Value, json};

    use super::{Claims, NoClaims};
    use crate::session::SessionId;

    /// A token's `sid` and `aud` as `Claims` reads them, or the refusal.
    type Read = Result<(Option<SessionId>, Vec<String>), ()>;

    /// How `sid` and `aud` were read before the visitors: through a `serde_json::Value` and
    /// an untagged enum. The visitors must give the same claims, and fail where they failed.
    fn reference(sid: Option<&Value>, aud: Option<&Value>) -> Read {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum OneOrMany {
            One(String),
            Many(Vec<String>),
        }
        let sid = sid.and_then(|v| v.as_str().and_then(|s| s.parse().ok()));
        let aud = match aud {
            None | Some(Value::Null) => Vec::new(),
            Some(v) => match OneOrMany::deserialize(v).map_err(|_| ())? {
                OneOrMany::One(a) => vec![a],
                OneOrMany::Many(a) => a,
            },
        };
        Ok((sid, aud))
    }

    fn parsed(sid: Option<&Value>, aud: Option<&Value>) -> Read {
        let mut claims = json!({"sub": "u", "jti": "j", "iat": 1, "exp": 2});
        if let Some(sid) = sid {
            claims["sid"] = sid.clone();
        }
        if let Some(aud) = aud {
            claims["aud"] = aud.clone();
        }
        // From the JSON text, as a token's payload is read (`serde_json::from_slice`).
        let text = serde_json::to_vec(&claims).map_err(|_| ())?;
        let claims: Claims<NoClaims> = serde_json::from_slice(&text).map_err(|_| ())?;
        Ok((claims.sid, claims.aud))
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let sid = SessionId::random().to_string();
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            (-1e6f64..1e6).prop_map(Value::from),
            "[a-zA-Z0-9_-]{0,24}".prop_map(Value::from),
            Just(Value::from(sid)),
        ];
        leaf.prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map("[a-z]{1,4}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn sid_and_aud_read_as_before(
            sid in prop::option::of(json_value()),
            aud in prop::option::of(json_value()),
        ) {
            prop_assert_eq!(parsed(sid.as_ref(), aud.as_ref()), reference(sid.as_ref(), aud.as_ref()));
        }
    }

    #[test]
    fn the_forms_of_sid_and_aud() {
        let sid = SessionId::random();
        let ours = json!(sid.to_string());
        let cases: &[(Option<Value>, Option<Value>, Read)] = &[
            (None, None, Ok((None, vec![]))),
            (
                Some(ours.clone()),
                Some(json!("api")),
                Ok((Some(sid), vec!["api".into()])),
            ),
            (
                Some(json!("a-uuid-of-another-issuer")),
                Some(json!(["a", "b"])),
                Ok((None, vec!["a".into(), "b".into()])),
            ),
            (Some(json!(7)), Some(Value::Null), Ok((None, vec![]))),
            (
                Some(json!({"sid": ours})),
                Some(json!([])),
                Ok((None, vec![])),
            ),
            (Some(json!([ours])), Some(json!(7)), Err(())),
            (Some(Value::Null), Some(json!(["a", 7])), Err(())),
        ];
        for (sid, aud, expected) in cases {
            assert_eq!(
                &parsed(sid.as_ref(), aud.as_ref()),
                expected,
                "sid {sid:?}, aud {aud:?}"
            );
            assert_eq!(
                &reference(sid.as_ref(), aud.as_ref()),
                expected,
                "sid {sid:?}, aud {aud:?}"
            );
        }
    }
}
