//! [`Authentication`]: how the user proved who they are, as the application tells the layer
//! at login and at re-authentication (`docs/protocol.md` §15).

/// How the user authenticated: the `acr` (Authentication Context Class Reference) and `amr`
/// (Authentication Methods References) of OpenID Connect Core §2 and RFC 9068 §2.2.1, as the
/// application that checked the credentials names them. The *time* of the authentication is
/// not given here: the layer takes it from its clock when it starts the session
/// ([`issue_with`](crate::RefreshAuth::issue_with), through
/// [`SessionMetadata::with_authentication`](super::SessionMetadata::with_authentication)) or
/// re-authenticates it ([`reauthenticate`](crate::RefreshAuth::reauthenticate)).
///
/// Both values are sealed with the session, so whoever can write to the store cannot raise
/// them, and every access token of the session carries them (with `auth_time`) until the next
/// re-authentication; a refresh never changes them.
///
/// ```
/// use tower_refresh_auth::session::Authentication;
///
/// // A password and a one-time code (RFC 8176 method names).
/// let mfa = Authentication::new().acr("urn:example:mfa").amr(["pwd", "otp"]);
/// assert_eq!(mfa.acr_value(), Some("urn:example:mfa"));
/// assert_eq!(mfa.amr_values(), ["pwd", "otp"]);
///
/// // Nothing but the time: the default.
/// assert_eq!(Authentication::new().acr_value(), None);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Authentication {
    acr: Option<String>,
    amr: Vec<String>,
}

impl Authentication {
    /// No `acr`, no `amr`: the tokens carry `auth_time` only.
    pub const fn new() -> Self {
        Self {
            acr: None,
            amr: Vec::new(),
        }
    }

    /// Sets the `acr` claim: the class of the authentication, such as
    /// `urn:example:mfa` or `phr` (RFC 8176 is about `amr`; `acr` values are the
    /// application's or its identity provider's). Empty is none.
    pub fn acr(mut self, acr: impl Into<String>) -> Self {
        let acr = acr.into();
        self.acr = (!acr.is_empty()).then_some(acr);
        self
    }

    /// Sets the `amr` claim: the methods used, such as `pwd`, `otp`, `hwk` (RFC 8176 §2).
    /// Empty values are left out.
    pub fn amr<I, S>(mut self, methods: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.amr = methods
            .into_iter()
            .map(Into::into)
            .filter(|m| !m.is_empty())
            .collect();
        self
    }

    /// The `acr` value, if set.
    pub fn acr_value(&self) -> Option<&str> {
        self.acr.as_deref()
    }

    /// The `amr` values, possibly none.
    pub fn amr_values(&self) -> &[String] {
        &self.amr
    }

    pub(crate) fn into_parts(self) -> (Option<String>, Vec<String>) {
        (self.acr, self.amr)
    }
}
