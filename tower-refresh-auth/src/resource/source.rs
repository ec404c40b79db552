//! [`Issuer`]: one issuer a resource server trusts — where its keys come from, and what its
//! tokens must say; [`KeySourceError`]: why its keys could not be had.

use crate::keys::{Algorithm, VerifyingKey};

/// The algorithms an issuer may sign with unless [`Issuer::algorithms`] says otherwise:
/// every asymmetric one. Never an HMAC: a resource server holds no shared secret.
pub(crate) const DEFAULT_ALGORITHMS: [Algorithm; 9] = [
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
];

/// One issuer a [`ResourceServer`](super::ResourceServer) trusts: where its keys come from,
/// the `iss` its tokens carry, the audiences and algorithms it accepts.
///
/// ```
/// use tower_refresh_auth::Algorithm;
/// use tower_refresh_auth::resource::Issuer;
///
/// let jwks = r#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k1","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#;
/// let issuer = Issuer::from_jwks(jwks)
///     .issuer("https://login.example.com")
///     .audience("https://api.example.com")
///     .algorithms([Algorithm::EdDSA]);
/// # let _ = issuer;
/// ```
#[derive(Debug, Clone)]
pub struct Issuer {
    pub(crate) iss: Option<String>,
    pub(crate) source: Source,
    pub(crate) audiences: Vec<String>,
    pub(crate) algorithms: Vec<Algorithm>,
}

/// Where an issuer's keys come from.
#[derive(Debug, Clone)]
pub(crate) enum Source {
    /// A JWK Set document, read when the server is built.
    Jwks(Vec<u8>),
    /// Keys in hand (read from files with [`VerifyingKey::from_pem`] or
    /// [`SigningKey::from_file`](crate::keys::SigningKey::from_file)).
    Keys(Vec<VerifyingKey>),
    /// A JWKS URL, fetched and kept fresh.
    #[cfg(feature = "remote-jwks")]
    JwksUrl(String),
    /// An issuer URL whose metadata names the JWKS URL.
    #[cfg(feature = "remote-jwks")]
    Discover(String),
}

impl Issuer {
    fn with_source(source: Source) -> Self {
        Self {
            iss: None,
            source,
            audiences: Vec::new(),
            algorithms: DEFAULT_ALGORITHMS.to_vec(),
        }
    }

    /// An issuer whose keys are this JWK Set (`{"keys": [...]}`, RFC 7517 §5), read when the
    /// resource server is built. Keys that are symmetric, for encryption, of an algorithm not
    /// allowed, or sharing a `kid` are left out; a set with no usable key is refused.
    pub fn from_jwks(document: impl Into<Vec<u8>>) -> Self {
        Self::with_source(Source::Jwks(document.into()))
    }

    /// An issuer whose keys are these public keys (each with its algorithm and `kid`), for
    /// instance read from key files with [`VerifyingKey::from_pem`]. An HMAC key is refused
    /// when the resource server is built.
    pub fn from_keys(keys: impl IntoIterator<Item = VerifyingKey>) -> Self {
        Self::with_source(Source::Keys(keys.into_iter().collect()))
    }

    /// An issuer whose keys are fetched from a JWKS URL (the `remote-jwks` feature), and kept
    /// fresh as its `Cache-Control: max-age` says. Tokens' `iss` is not checked unless
    /// [`issuer`](Self::issuer) is set too.
    ///
    /// # Warning
    ///
    /// The URL must be `https`, except on loopback (`localhost`, `127.0.0.1`, `::1`); plain
    /// `http` elsewhere is refused when the server is built unless
    /// [`allow_insecure_http`](super::ResourceServerBuilder::allow_insecure_http) is on.
    #[cfg(feature = "remote-jwks")]
    #[cfg_attr(docsrs, doc(cfg(feature = "remote-jwks")))]
    pub fn jwks_url(url: impl Into<String>) -> Self {
        Self::with_source(Source::JwksUrl(url.into()))
    }

    /// An issuer found from its URL alone (the `remote-jwks` feature): its metadata (RFC 8414
    /// `/.well-known/oauth-authorization-server`, else OpenID Connect's
    /// `/.well-known/openid-configuration`) names its `jwks_uri`. The metadata's `issuer` must
    /// equal `issuer_url` exactly (RFC 8414 §3.3), and so must every token's `iss`.
    ///
    /// The same `https` rule as [`jwks_url`](Self::jwks_url) applies to the issuer URL and to
    /// the `jwks_uri` it names.
    #[cfg(feature = "remote-jwks")]
    #[cfg_attr(docsrs, doc(cfg(feature = "remote-jwks")))]
    pub fn discover(issuer_url: impl Into<String>) -> Self {
        let issuer_url = issuer_url.into();
        Self {
            iss: Some(issuer_url.clone()),
            ..Self::with_source(Source::Discover(issuer_url))
        }
    }

    /// The `iss` every token of this issuer must carry; with several issuers, also how a
    /// token is routed to this one's keys. Unset, the issuer takes tokens whose `iss` names
    /// no other (and does not check it): at most one issuer may be left so.
    pub fn issuer(mut self, iss: impl Into<String>) -> Self {
        self.iss = Some(iss.into());
        self
    }

    /// An audience this issuer's tokens may be for; a token must carry one of them in `aud`
    /// once any is set.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// The algorithms this issuer may sign with (default: every asymmetric one). A key whose
    /// `alg` (or, without one, whose key type) allows none of them is left out of its set.
    /// HMAC algorithms are refused when the server is built.
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = algorithms.into_iter().collect();
        self
    }

    /// The name logs, metrics and events give this issuer: its `iss`, else its URL.
    pub(crate) fn name(&self) -> String {
        if let Some(iss) = &self.iss {
            return iss.clone();
        }
        match &self.source {
            #[cfg(feature = "remote-jwks")]
            Source::JwksUrl(url) | Source::Discover(url) => url.clone(),
            Source::Jwks(_) | Source::Keys(_) => "static".to_owned(),
        }
    }
}

/// Why an issuer's keys could not be fetched; names the URL. Returned by
/// [`ResourceServer::ready`](super::ResourceServer::ready), reported in
/// [`SecurityEvent::KeySetFetchFailed`](crate::SecurityEvent::KeySetFetchFailed).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum KeySourceError {
    /// No answer: the host could not be reached, or the fetch timed out.
    #[error("{url}: {reason}")]
    Unreachable {
        /// The URL fetched.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// An answer other than `200`.
    #[error("{url} answered HTTP {status}")]
    Status {
        /// The URL fetched.
        url: String,
        /// The status.
        status: u16,
    },
    /// A redirect to another host (or scheme, or port), never followed.
    #[error(
        "{url} redirected to {location:?}, another host: key sources are not followed off their host"
    )]
    Redirect {
        /// The URL fetched.
        url: String,
        /// Where it pointed.
        location: String,
    },
    /// An answer over the size cap.
    #[error("{url} sent more than {limit} bytes")]
    TooLarge {
        /// The URL fetched.
        url: String,
        /// The cap.
        limit: usize,
    },
    /// An answer that is no usable metadata or key set.
    #[error("{url} sent no usable document: {reason}")]
    Invalid {
        /// The URL fetched.
        url: String,
        /// Why.
        reason: String,
    },
    /// Metadata naming another issuer than the one configured (RFC 8414 §3.3).
    #[error("{url} names the issuer {found:?}, not the configured {expected:?} (RFC 8414 §3.3)")]
    IssuerMismatch {
        /// The metadata URL.
        url: String,
        /// The configured issuer.
        expected: String,
        /// The metadata's `issuer`.
        found: String,
    },
}

impl KeySourceError {
    /// The URL whose fetch failed.
    pub fn url(&self) -> &str {
        match self {
            Self::Unreachable { url, .. }
            | Self::Status { url, .. }
            | Self::Redirect { url, .. }
            | Self::TooLarge { url, .. }
            | Self::Invalid { url, .. }
            | Self::IssuerMismatch { url, .. } => url,
        }
    }
}
