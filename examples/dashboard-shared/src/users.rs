//! [`Users`]: the demo accounts, checked against argon2 hashes.

use std::collections::HashMap;
use std::sync::Arc;

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

/// The demo accounts of the original app. Only their hashes are kept.
const DEMO: &[(&str, &str)] = &[("user1", "password1"), ("user2", "password2")];

/// The accounts the login route accepts, as argon2id PHC strings.
///
/// Cheap to clone.
#[derive(Clone)]
pub struct Users {
    inner: Arc<Inner>,
    /// Password checks go to a few long-lived threads (one per core). Each argon2 check takes
    /// 19 MiB; spread over tokio's many blocking threads, glibc's per-thread heaps kept that
    /// memory, and a burst of logins grew the server by gigabytes. On a fixed set of threads
    /// each reuses its own 19 MiB.
    checks: std::sync::mpsc::Sender<Check>,
}

/// One password check for the checker threads, and where to send the answer.
type Check = (String, String, tokio::sync::oneshot::Sender<bool>);

struct Inner {
    hashes: HashMap<String, String>,
    /// Verified against when the user is unknown, so that an unknown name costs the same
    /// time as a wrong password: the response time is no oracle for which names exist.
    decoy: String,
}

impl std::fmt::Debug for Users {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Users")
            .field("names", &self.inner.hashes.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Users {
    /// `user1`/`password1` and `user2`/`password2`, hashed now with fresh random salts.
    ///
    /// # Panics
    ///
    /// If argon2 cannot hash with its default parameters, which it always can.
    pub fn demo() -> Self {
        let hashes = DEMO
            .iter()
            .map(|(name, password)| ((*name).to_owned(), hash(password)))
            .collect();
        let decoy = hash(SaltString::generate(&mut OsRng).as_str());
        let inner = Arc::new(Inner { hashes, decoy });
        let (checks, queue) = std::sync::mpsc::channel::<Check>();
        let queue = Arc::new(std::sync::Mutex::new(queue));
        for _ in 0..std::thread::available_parallelism().map_or(2, usize::from) {
            let inner = Arc::clone(&inner);
            let queue = Arc::clone(&queue);
            // The threads end when every `Users` clone (every sender) is gone.
            std::thread::spawn(move || {
                loop {
                    let next = match queue.lock() {
                        Ok(queue) => queue.recv(),
                        Err(_) => return,
                    };
                    let Ok((username, password, answer)) = next else {
                        return;
                    };
                    let _ = answer.send(inner.verify(&username, &password));
                }
            });
        }
        Self { inner, checks }
    }

    /// Whether `password` is `username`'s. Runs on the checker threads, as many at once as
    /// there are cores: argon2 is deliberately slow and memory-hungry.
    pub async fn verify(&self, username: String, password: String) -> bool {
        let (answer, verdict) = tokio::sync::oneshot::channel();
        if self.checks.send((username, password, answer)).is_err() {
            return false;
        }
        verdict.await.unwrap_or(false)
    }
}

impl Inner {
    fn verify(&self, username: &str, password: &str) -> bool {
        let (phc, known) = match self.hashes.get(username) {
            Some(phc) => (phc, true),
            None => (&self.decoy, false),
        };
        let matches = PasswordHash::new(phc).is_ok_and(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        });
        known && matches
    }
}

#[allow(clippy::expect_used)] // Hashing with the default parameters cannot fail.
fn hash(password: &str) -> String {
    Argon2::default()
        .hash_password(password.as_bytes(), &SaltString::generate(&mut OsRng))
        .expect("argon2 hashes with its default parameters")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_demo_users_log_in_and_nobody_else() {
        let users = Users::demo();
        assert!(users.verify("user1".into(), "password1".into()).await);
        assert!(users.verify("user2".into(), "password2".into()).await);
        assert!(!users.verify("user1".into(), "password2".into()).await);
        assert!(!users.verify("nobody".into(), "password1".into()).await);
        assert!(!users.verify(String::new(), String::new()).await);
    }

    #[test]
    fn only_hashes_are_kept() {
        let users = Users::demo();
        for (name, password) in DEMO {
            let phc = &users.inner.hashes[*name];
            assert!(phc.starts_with("$argon2id$"));
            assert!(!phc.contains(password));
        }
    }
}
