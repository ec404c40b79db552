//! The demo accounts as parsed argon2id PHC strings, and the check of a password against
//! one of them (or against a decoy, for a name nobody has).

use std::collections::HashMap;

use argon2::password_hash::{Output, PasswordHash};
use argon2::{Algorithm, Argon2, Block, Params, Version};

/// The demo accounts of the original app, `user1`/`password1` and `user2`/`password2`, as
/// argon2id PHC strings (the default parameters: 19 MiB, 2 passes), computed once offline so
/// that the server hashes nothing at start.
pub(super) const DEMO: &[(&str, &str)] = &[
    (
        "user1",
        "$argon2id$v=19$m=19456,t=2,p=1$mqhgqKlrEjKYXerl8Pc9qA$O8xdyy+y2l8g1ajem4K6LBwlZMR4Znsbl1rYj71CHTc",
    ),
    (
        "user2",
        "$argon2id$v=19$m=19456,t=2,p=1$uiP/v8GibT6zcRkOCzaw2Q$kxUoVVjo+4szktFCiRmk98plJMQ/k85TAR3PyP5nMkw",
    ),
];

/// Checked when the user is unknown, so that an unknown name costs the same time as a wrong
/// password: the response time is no oracle for which names exist. The hash of 24 random
/// bytes nobody kept, with the same parameters as the accounts.
pub(super) const DECOY: &str = "$argon2id$v=19$m=19456,t=2,p=1$YDy+1ZIEX5y9rMkypqTgbA$+Eba4BZI3k6Rd0hgzFYVomTZny3AuUMDoRMsLVy9d7U";

/// The parsed PHC strings: what a check needs, without parsing per login.
pub(super) struct Accounts {
    by_name: HashMap<String, Account>,
    decoy: Account,
    /// The memory blocks the largest of the hashes needs.
    pub(super) blocks: usize,
}

struct Account {
    argon2: Argon2<'static>,
    salt: Vec<u8>,
    hash: Output,
}

impl Accounts {
    pub(super) fn parse(
        accounts: &[(&str, &str)],
        decoy: &str,
    ) -> Result<Self, argon2::password_hash::Error> {
        let by_name = accounts
            .iter()
            .map(|(name, phc)| Ok(((*name).to_owned(), Account::parse(phc)?)))
            .collect::<Result<HashMap<_, _>, argon2::password_hash::Error>>()?;
        let decoy = Account::parse(decoy)?;
        let blocks = by_name
            .values()
            .chain([&decoy])
            .map(|a| a.argon2.params().block_count())
            .max()
            .unwrap_or(0);
        Ok(Self {
            by_name,
            decoy,
            blocks,
        })
    }

    pub(super) fn verify(&self, memory: &mut [Block], username: &str, password: &str) -> bool {
        match self.by_name.get(username) {
            Some(account) => account.matches(memory, password),
            None => {
                // The same work for an unknown name, and the same answer whatever it gives.
                let _ = self.decoy.matches(memory, password);
                false
            }
        }
    }
}

impl Account {
    fn parse(phc: &str) -> Result<Self, argon2::password_hash::Error> {
        let parsed = PasswordHash::new(phc)?;
        let algorithm = Algorithm::try_from(parsed.algorithm)?;
        let version = parsed
            .version
            .map_or(Ok(Version::V0x13), Version::try_from)?;
        let params = Params::try_from(&parsed)?;
        let salt = parsed
            .salt
            .ok_or(argon2::password_hash::Error::SaltInvalid(
                argon2::password_hash::errors::InvalidValue::Malformed,
            ))?;
        let mut buf = [0; 64];
        let salt = salt.decode_b64(&mut buf)?.to_vec();
        let hash = parsed.hash.ok_or(argon2::password_hash::Error::Password)?;
        Ok(Self {
            argon2: Argon2::new(algorithm, version, params),
            salt,
            hash,
        })
    }

    /// Hashes `password` in `memory` and compares in constant time (`Output`'s `==`).
    fn matches(&self, memory: &mut [Block], password: &str) -> bool {
        let mut out = [0; 64];
        let out = &mut out[..self.hash.len()];
        self.argon2
            .hash_password_into_with_memory(password.as_bytes(), &self.salt, out, memory)
            .is_ok()
            && Output::new(out).is_ok_and(|out| out == self.hash)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn the_built_in_hashes_parse_with_the_default_parameters() {
        let accounts = Accounts::parse(DEMO, DECOY).unwrap();
        assert_eq!(accounts.by_name.len(), 2);
        assert_eq!(accounts.blocks, Params::default().block_count());
        for (name, phc) in DEMO {
            assert!(phc.starts_with("$argon2id$"), "{name}");
        }
    }
}
