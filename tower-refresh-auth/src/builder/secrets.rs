//! Which secrets key refresh tokens and session seals: the explicit refresh secrets, or keys
//! derived from the HMAC signing secret (and from older HMAC verifying secrets, so their
//! refresh tokens survive a rotation too).

use crate::error::ConfigError;
use crate::keys::{SigningKey, VerifyingKey};
use crate::token::refresh_token::SessionKeys;

/// The refresh-token secrets, current first, and whether they were derived.
pub(super) fn session_secrets(
    refresh_secret: Option<Vec<u8>>,
    previous: Vec<Vec<u8>>,
    signing: &SigningKey,
    verifying: &[VerifyingKey],
) -> Result<(Vec<Vec<u8>>, bool), ConfigError> {
    match refresh_secret {
        Some(secret) => {
            let secrets = std::iter::once(secret)
                .chain(previous)
                .map(|s| {
                    if s.len() < 32 {
                        Err(ConfigError::WeakRefreshSecret { len: s.len() })
                    } else {
                        Ok(s)
                    }
                })
                .collect::<Result<_, _>>()?;
            Ok((secrets, false))
        }
        None => {
            let primary = signing
                .verifying
                .hmac_secret
                .as_deref()
                .ok_or(ConfigError::MissingRefreshSecret)?;
            let secrets = std::iter::once(primary)
                .chain(verifying.iter().filter_map(|k| k.hmac_secret.as_deref()))
                .map(|s| SessionKeys::derive(s).to_vec())
                .collect();
            Ok((secrets, true))
        }
    }
}
