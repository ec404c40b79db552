//! The keys of [`RefreshAuthBuilder`]: the access-token signing key, the keys still
//! accepted after a rotation, and the refresh-token secrets (`secrets.rs` checks them).

use super::RefreshAuthBuilder;
use crate::keys::{Algorithm, SigningKey, VerifyingKey};

impl<C> RefreshAuthBuilder<C> {
    /// Signs access tokens with HMAC-SHA256 under `secret` (at least 32 bytes).
    ///
    /// Unless [`refresh_secret`](Self::refresh_secret) is set, the refresh-token MAC key is
    /// derived from the same secret under a separate label.
    pub fn hs256(self, secret: impl Into<Vec<u8>>) -> Self {
        self.signing_key(SigningKey::hmac(Algorithm::HS256, secret))
    }

    /// Signs access tokens with HMAC-SHA384 under `secret` (at least 48 bytes).
    pub fn hs384(self, secret: impl Into<Vec<u8>>) -> Self {
        self.signing_key(SigningKey::hmac(Algorithm::HS384, secret))
    }

    /// Signs access tokens with HMAC-SHA512 under `secret` (at least 64 bytes).
    pub fn hs512(self, secret: impl Into<Vec<u8>>) -> Self {
        self.signing_key(SigningKey::hmac(Algorithm::HS512, secret))
    }

    /// Signs access tokens with `key` (any supported algorithm). Only this key's algorithm
    /// is accepted when verifying it (RFC 8725 §3.1).
    pub fn signing_key(mut self, key: SigningKey) -> Self {
        self.signing = Some(key);
        self
    }

    /// Also accepts tokens signed by `key`: keep the previous signing key here for one
    /// access-token lifetime after a rotation, so nobody is logged out. Tokens must name it by
    /// its `kid`.
    ///
    /// Without a [`refresh_secret`](Self::refresh_secret), refresh tokens and session seals
    /// are keyed from the HMAC secrets, this key's included: as with a
    /// [previous refresh secret](Self::previous_refresh_secret), a session refreshed while
    /// the old key is listed here moves to the new one, and removing it ends only the
    /// sessions that were not refreshed meanwhile.
    pub fn previous_key(mut self, key: VerifyingKey) -> Self {
        self.verifying.push(key);
        self
    }

    /// The secret refresh tokens are MACed with (at least 32 bytes), shared by every
    /// instance. Required with an asymmetric signing key.
    ///
    /// # Warning
    ///
    /// Anyone who holds this secret can mint refresh tokens for any session id. Keep it with
    /// the signing key, never in the store's database.
    pub fn refresh_secret(mut self, secret: impl Into<Vec<u8>>) -> Self {
        self.refresh_secret = Some(secret.into());
        self
    }

    /// Also accepts refresh tokens MACed with an older secret, after rotating
    /// [`refresh_secret`](Self::refresh_secret). Their successors use the new secret.
    ///
    /// A session is sealed at login under the secret of the day (see
    /// [`Session::seal`](crate::session::Session::seal)); its first refresh after the
    /// rotation seals it again under the new secret, as it re-mints its refresh token. So a
    /// session refreshed while the old secret is listed here survives its removal, and one
    /// that was not (an idle session) is refused, its user logs in again. Keep the old secret
    /// for as long as idle sessions should survive: up to the refresh-token TTL.
    pub fn previous_refresh_secret(mut self, secret: impl Into<Vec<u8>>) -> Self {
        self.previous_refresh_secrets.push(secret.into());
        self
    }
}
