//! [`DpopError`] and its [`DpopCode`]: a DPoP refusal.

use std::borrow::Cow;

use super::AuthError;

/// A DPoP refusal ([`AuthError::Dpop`]): what kind, where, and why.
///
/// At the refresh endpoint and at login it is `400` with no challenge (RFC 9449 §5); on a
/// protected request `401` with a `WWW-Authenticate: DPoP` challenge naming the error (§7.1).
/// A [`UseNonce`](DpopCode::UseNonce) response carries a fresh `DPoP-Nonce` (§8, §9).
#[derive(Debug, Clone, thiserror::Error)]
#[error("DPoP: {description}")]
pub struct DpopError {
    pub(super) code: DpopCode,
    pub(super) resource: bool,
    pub(super) description: Cow<'static, str>,
}

/// The error code of a [`DpopError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DpopCode {
    /// `invalid_dpop_proof`: no proof where one is needed, or one that does not verify.
    InvalidProof,
    /// `invalid_token`: an access token sent with the DPoP scheme that did not verify, or is
    /// not bound to a key.
    InvalidToken,
    /// `use_dpop_nonce`: retry with the nonce in the `DPoP-Nonce` header.
    UseNonce,
}

impl DpopCode {
    /// The RFC 9449 error code.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::InvalidProof => "invalid_dpop_proof",
            Self::InvalidToken => "invalid_token",
            Self::UseNonce => "use_dpop_nonce",
        }
    }
}

impl DpopError {
    /// A refusal at the refresh endpoint or a login (`400`).
    pub(crate) fn grant(code: DpopCode, description: impl Into<Cow<'static, str>>) -> AuthError {
        AuthError::Dpop(Self {
            code,
            resource: false,
            description: description.into(),
        })
    }

    /// A refusal of a protected request (`401` with a DPoP challenge).
    pub(crate) fn resource(code: DpopCode, description: impl Into<Cow<'static, str>>) -> AuthError {
        AuthError::Dpop(Self {
            code,
            resource: true,
            description: description.into(),
        })
    }

    /// The error code.
    pub fn code(&self) -> DpopCode {
        self.code
    }

    /// Whether a protected request was refused (`401` with a challenge), rather than a login
    /// or a refresh (`400`).
    pub fn is_resource(&self) -> bool {
        self.resource
    }
}
