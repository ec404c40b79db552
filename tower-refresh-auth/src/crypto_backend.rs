//! Which cryptography signs and verifies access tokens: jsonwebtoken's process-wide
//! `CryptoProvider`, chosen by this crate's features.
//!
//! - `aws-lc` (the default): `aws-lc-rs`, which compiles AWS-LC's C and assembly (a C
//!   compiler and CMake-free `cc` build; the fastest signatures).
//! - `rust-crypto`: RustCrypto's pure-Rust `hmac`, `p256`, `p384`, `ed25519-dalek` and `rsa`;
//!   builds without a C toolchain (BENCHMARKS.md §10 has its cost per algorithm).
//!
//! With both on, `aws-lc` is used. With neither, the crate still compiles (so a library can
//! leave the choice to the application), and [`RefreshAuthBuilder::build`] and the key
//! constructors that read key material refuse with [`ConfigError::NoCryptoBackend`], unless
//! the application installed a provider of its own with
//! `jsonwebtoken::crypto::CryptoProvider::install_default` first.
//!
//! [`RefreshAuthBuilder::build`]: crate::RefreshAuthBuilder::build

use jsonwebtoken::crypto::CryptoProvider;

use crate::error::ConfigError;

/// Makes sure jsonwebtoken has a provider: the one already installed, else the one this
/// crate's features select, else [`ConfigError::NoCryptoBackend`].
pub(crate) fn ensure() -> Result<&'static CryptoProvider, ConfigError> {
    if let Some(provider) = CryptoProvider::try_get_default() {
        return Ok(provider);
    }
    if let Some(ours) = selected() {
        // Another thread may install one between the check and here: either way one is set.
        let _ = ours.install_default();
    }
    CryptoProvider::try_get_default().ok_or(ConfigError::NoCryptoBackend)
}

/// The provider this crate's features select (`aws-lc` over `rust-crypto`), if any.
fn selected() -> Option<&'static CryptoProvider> {
    #[cfg(feature = "aws-lc")]
    {
        Some(&jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER)
    }
    #[cfg(all(feature = "rust-crypto", not(feature = "aws-lc")))]
    {
        Some(&jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER)
    }
    #[cfg(not(any(feature = "aws-lc", feature = "rust-crypto")))]
    {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(any(feature = "aws-lc", feature = "rust-crypto"))]
    #[test]
    fn the_features_provider_is_the_one_in_use() {
        let in_use = ensure().unwrap();
        #[cfg(feature = "aws-lc")]
        let expected = &jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER;
        #[cfg(all(feature = "rust-crypto", not(feature = "aws-lc")))]
        let expected = &jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER;
        assert!(std::ptr::eq(in_use, expected));
    }

    #[cfg(not(any(feature = "aws-lc", feature = "rust-crypto")))]
    #[test]
    fn without_a_backend_the_build_says_how_to_fix_it() {
        let err = ensure().unwrap_err();
        assert!(err.to_string().contains("`rust-crypto`"), "{err}");
    }
}
