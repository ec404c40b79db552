//! [`Login`]: what a login hands [`issue_with`](crate::RefreshAuth::issue_with) — the session's
//! metadata, and how the session starts (its DPoP binding, how the user authenticated).

use super::{Authentication, DpopProof, SessionMetadata};

/// What a login hands [`issue_with`](crate::RefreshAuth::issue_with): the [`SessionMetadata`]
/// stored with the session (its user agent, a label), and how the session starts — the
/// login request's verified DPoP proof, which binds it to the client's key, and how the user
/// authenticated. Those two are sealed into the session, not stored as metadata.
///
/// A [`SessionMetadata`] is a login with neither; [`SessionMetadata::with_dpop`] and
/// [`SessionMetadata::with_authentication`] make one with them.
///
/// ```
/// use tower_refresh_auth::session::{Authentication, Login, SessionMetadata};
///
/// let login = SessionMetadata::new()
///     .with_label("work laptop")
///     .with_authentication(Authentication::new().acr("urn:example:mfa"));
/// assert_eq!(login.metadata().label(), Some("work laptop"));
/// assert_eq!(login.dpop(), None);
/// assert_eq!(Login::from(SessionMetadata::new()), Login::new());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Login {
    metadata: SessionMetadata,
    dpop: Option<DpopProof>,
    authentication: Authentication,
}

impl Login {
    /// No metadata, no DPoP binding, no `acr` or `amr`.
    pub const fn new() -> Self {
        Self {
            metadata: SessionMetadata::new(),
            dpop: None,
            authentication: Authentication::new(),
        }
    }

    /// Binds the session [`issue_with`](crate::RefreshAuth::issue_with) starts to the key of
    /// the login request's verified DPoP `proof` (from
    /// [`RefreshAuth::verify_dpop`](crate::RefreshAuth::verify_dpop)); `None` leaves it a
    /// bearer session. Unlike the metadata, the binding is sealed with the session
    /// (`docs/protocol.md` §10).
    pub fn with_dpop(mut self, proof: Option<DpopProof>) -> Self {
        self.dpop = proof;
        self
    }

    /// The DPoP proof the session will be bound to, if any.
    pub fn dpop(&self) -> Option<&DpopProof> {
        self.dpop.as_ref()
    }

    /// Records how the user authenticated at this login — its `acr` and `amr`
    /// (`docs/protocol.md` §15) — for [`issue_with`](crate::RefreshAuth::issue_with) to seal
    /// into the session; every access token of the session carries them, with `auth_time`,
    /// until a [re-authentication](crate::RefreshAuth::reauthenticate) replaces them. Like
    /// the DPoP binding and unlike the metadata, they are sealed, so a store
    /// writer cannot raise them.
    ///
    /// ```
    /// use tower_refresh_auth::session::{Authentication, SessionMetadata};
    /// use tower_refresh_auth::{NoClaims, RefreshAuth};
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// # let auth = RefreshAuth::<NoClaims>::builder().hs256(b"an example secret of at least 32 bytes".to_vec()).build()?;
    /// let how = Authentication::new().acr("urn:example:mfa").amr(["pwd", "otp"]);
    /// let pair = auth
    ///     .issue_with("user1", NoClaims {}, SessionMetadata::new().with_authentication(how))
    ///     .await?;
    /// let claims = auth.verify(&pair.access_token)?;
    /// assert_eq!(claims.acr.as_deref(), Some("urn:example:mfa"));
    /// assert_eq!(claims.amr, ["pwd", "otp"]);
    /// assert!(claims.auth_time.is_some());
    /// # Ok::<_, Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn with_authentication(mut self, authentication: Authentication) -> Self {
        self.authentication = authentication;
        self
    }

    /// How the user authenticated, as given to
    /// [`with_authentication`](Self::with_authentication).
    pub fn authentication(&self) -> &Authentication {
        &self.authentication
    }

    /// The metadata stored with the session.
    pub fn with_metadata(mut self, metadata: SessionMetadata) -> Self {
        self.metadata = metadata;
        self
    }

    /// The metadata stored with the session.
    pub fn metadata(&self) -> &SessionMetadata {
        &self.metadata
    }

    /// The metadata, the proof and the authentication, apart.
    pub(crate) fn into_parts(self) -> (SessionMetadata, Option<DpopProof>, Authentication) {
        (self.metadata, self.dpop, self.authentication)
    }
}

impl From<SessionMetadata> for Login {
    fn from(metadata: SessionMetadata) -> Self {
        Self::new().with_metadata(metadata)
    }
}
