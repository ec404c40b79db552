//! [`TokenPair`]: what a login or a refresh hands to the client.

use std::fmt;

use crate::session::SessionId;

/// A new access token and the refresh token that can renew it.
///
/// Returned by [`RefreshAuth::issue`](crate::RefreshAuth::issue) for a login handler and by
/// [`RefreshAuth::refresh`](crate::RefreshAuth::refresh). Turn it into the wire format with
/// [`RefreshAuth::token_response`](crate::RefreshAuth::token_response), which also sets the
/// refresh cookie in cookie mode. Its `Debug` output never shows the tokens.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TokenPair {
    /// The signed access token (a JWT).
    pub access_token: String,
    /// The opaque refresh token.
    pub refresh_token: String,
    /// The access token's lifetime in seconds (`expiresIn`).
    pub expires_in: u64,
    /// The session both tokens belong to.
    pub session_id: SessionId,
    /// The thumbprint of the DPoP key the session is bound to (the access token's
    /// `cnf.jkt`), if it is: the pair is then of [type](Self::token_type) `DPoP`.
    pub dpop_jkt: Option<String>,
}

impl TokenPair {
    /// `DPoP` for a pair bound to a key, `Bearer` otherwise: the `tokenType` / `token_type`
    /// of the response (RFC 9449 §5).
    pub fn token_type(&self) -> &'static str {
        if self.dpop_jkt.is_some() {
            "DPoP"
        } else {
            "Bearer"
        }
    }
}

impl fmt::Debug for TokenPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenPair")
            .field("access_token", &"<redacted>")
            .field("refresh_token", &"<redacted>")
            .field("expires_in", &self.expires_in)
            .field("session_id", &self.session_id)
            .field("dpop_jkt", &self.dpop_jkt)
            .finish()
    }
}
