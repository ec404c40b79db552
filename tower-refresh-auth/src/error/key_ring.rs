//! [`KeyRingError`]: what went wrong with the fleet's key ring kept in the store.

use crate::store::StoreError;

/// What went wrong with the key ring kept in the store (the `fleet` module, `key-rotation` feature).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyRingError {
    /// The key-encryption key is not 32 random bytes.
    #[error(
        "the key-encryption key is unusable ({reason}): give 32 random bytes, base64url \
         (for example `openssl rand 32 | basenc --base64url`)"
    )]
    WeakKek {
        /// Why it was refused.
        reason: String,
    },
    /// The key-encryption key's file could not be read.
    #[error("the key-encryption key file {path} cannot be read: {reason}")]
    KekFile {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The stored ring was sealed under a key-encryption key that is neither the configured
    /// one nor the previous one.
    #[error(
        "the key ring in the store (version {version}) was sealed under another key-encryption \
         key: configure the key it was sealed under, or give it as the previous key-encryption \
         key while rotating to a new one"
    )]
    WrongKek {
        /// The stored record's version.
        version: u64,
    },
    /// The stored ring names the configured key-encryption key but does not open under it:
    /// changed or planted by someone without the key. Refused; the last good ring stays.
    #[error(
        "the key ring in the store (version {version}) does not open under the key-encryption \
         key: it was changed or planted without the key, and is refused"
    )]
    Unsealed {
        /// The stored record's version.
        version: u64,
    },
    /// The stored ring is older than one this instance already used: refused.
    #[error(
        "the key ring in the store (version {stored}) is older than version {known}, already in use: refused"
    )]
    Rollback {
        /// The stored record's version.
        stored: u64,
        /// The version in use here.
        known: u64,
    },
    /// The stored ring opened but makes no sense.
    #[error("the key ring in the store is unusable: {0}")]
    Corrupt(String),
    /// The crypto backend could not make or seal a key.
    #[error(
        "the crypto backend could not make or seal a key: enable the `aws-lc` (default) or \
         `rust-crypto` feature of tower-refresh-auth"
    )]
    Crypto,
    /// The store could not be reached.
    #[error("the key ring's store: {0}")]
    Store(#[from] StoreError),
    /// A key directory that does not load: the file (or the directory) and why.
    #[error("key directory: {file}: {reason}")]
    KeyDir {
        /// The file or directory.
        file: String,
        /// Why.
        reason: String,
    },
}
