//! [`KeyDirectory`]: signing keys from a directory of key files (a Kubernetes Secret volume,
//! a secret manager's sync), watched for changes and reloaded without a restart
//! (`docs/protocol.md` §13).
//!
//! Each file's role is in its name: `current*.pem` (exactly one) signs, `next*.pem` are
//! published ahead and verify, `retired*.pem` verify until removed. Every file is a private
//! key in PEM (the formats of [`SigningKey::from_file`]). Other names are ignored — hidden
//! files (`.…`, which is how a Kubernetes volume swaps its contents atomically) and anything
//! not ending in `.pem`, so write a file under another name and rename it into place.
//!
//! A directory that does not load — no or two current keys, a file that is not a key (a
//! half-written one included: PEM has its end marker last) — keeps the last good set in use
//! and says which file and why.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::error::KeyRingError;
use crate::keys::SigningKey;
use crate::shared::RefreshAuth;
use crate::shared::Shared;
use crate::token::access::KeyStatus;

/// A directory of key files (`docs/protocol.md` §13), each file's role in its name:
/// `current*.pem` (exactly one) signs, `next*.pem` are published ahead and verify,
/// `retired*.pem` verify until removed. Each is a private key in PEM; hidden files and names
/// not ending in `.pem` are ignored, so write a file under another name and rename it into
/// place. A directory that does not load keeps the last good keys in use, naming the file.
///
/// ```
/// use tower_refresh_auth::fleet::KeyDirectory;
/// use tower_refresh_auth::keys::Jwks;
/// use tower_refresh_auth::{NoClaims, RefreshAuth};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let dir = std::env::temp_dir().join(format!("key-dir-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// std::fs::copy(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/keys/es256.pem"), dir.join("current.pem"))?;
/// let source = KeyDirectory::new(&dir);
/// let keys = source.load()?;
/// let auth = keys
///     .apply(RefreshAuth::<NoClaims>::builder())
///     .refresh_secret(b"a refresh secret of 32 bytes or more".to_vec())
///     .jwks(Jwks::new())
///     .build()?;
/// let watch = source.watch(&auth, keys);
/// tokio::spawn(watch.clone().run());
/// assert!(!watch.reload()?); // nothing changed
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct KeyDirectory {
    path: PathBuf,
    poll: Duration,
}

/// The keys a [`KeyDirectory`] holds, by role.
#[derive(Clone)]
#[non_exhaustive]
pub struct DirectoryKeys {
    /// The key that signs (`current*.pem`).
    pub current: SigningKey,
    /// Keys published ahead of signing (`next*.pem`), by file name.
    pub next: Vec<SigningKey>,
    /// Keys that only verify (`retired*.pem`), by file name.
    pub retired: Vec<SigningKey>,
    /// What was read, to tell a change.
    contents: Contents,
}

/// Each key file's name and bytes, sorted by name.
type Contents = Vec<(String, Vec<u8>)>;

impl KeyDirectory {
    /// The directory at `path`, polled every 10 s once watched.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            poll: Duration::from_secs(10),
        }
    }

    /// How often [`KeyDirectoryWatch::run`] reads the directory again.
    #[must_use]
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll = interval;
        self
    }

    /// The directory's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads every key file of the directory.
    ///
    /// # Errors
    ///
    /// [`KeyRingError::KeyDir`], naming the file and why: unreadable, not a key, no or two
    /// current keys.
    pub fn load(&self) -> Result<DirectoryKeys, KeyRingError> {
        let problem = |file: &Path, reason: String| KeyRingError::KeyDir {
            file: file.display().to_string(),
            reason,
        };
        let entries =
            std::fs::read_dir(&self.path).map_err(|e| problem(&self.path, e.to_string()))?;
        let mut files = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| problem(&self.path, e.to_string()))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || !name.ends_with(".pem") {
                continue;
            }
            let path = entry.path();
            if !path.is_file() {
                continue;
            }
            let bytes = std::fs::read(&path).map_err(|e| problem(&path, e.to_string()))?;
            files.push((name, bytes));
        }
        files.sort();
        let (mut current, mut next, mut retired) = (Vec::new(), Vec::new(), Vec::new());
        for (name, bytes) in &files {
            let path = self.path.join(name);
            let role = if name.starts_with("current") {
                &mut current
            } else if name.starts_with("next") {
                &mut next
            } else if name.starts_with("retired") {
                &mut retired
            } else {
                return Err(problem(
                    &path,
                    "its name says no role: start it with `current`, `next` or `retired`".into(),
                ));
            };
            let key = SigningKey::from_private_key_pem(bytes)
                .map_err(|err| problem(&path, err.to_string()))?;
            role.push(key);
        }
        let current = match <[SigningKey; 1]>::try_from(current) {
            Ok([key]) => key,
            Err(found) => {
                return Err(problem(
                    &self.path,
                    format!(
                        "{} files named `current*.pem`: exactly one key signs",
                        found.len()
                    ),
                ));
            }
        };
        Ok(DirectoryKeys {
            current,
            next,
            retired,
            contents: files,
        })
    }

    /// Keeps `auth`'s keys in step with the directory, from `keys` (what
    /// [`load`](Self::load) gave when the layer was built with them).
    pub fn watch<C>(&self, auth: &RefreshAuth<C>, keys: DirectoryKeys) -> KeyDirectoryWatch {
        let watch = KeyDirectoryWatch {
            dir: self.clone(),
            shared: Arc::clone(&auth.shared),
            last: Arc::new(Mutex::new(keys.contents.clone())),
        };
        watch.install(&keys);
        watch
    }
}

impl std::fmt::Debug for DirectoryKeys {
    /// The keys' `kid`s; never a key's bytes.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kids =
            |keys: &[SigningKey]| keys.iter().map(|k| k.kid().to_owned()).collect::<Vec<_>>();
        f.debug_struct("DirectoryKeys")
            .field("current", &self.current.kid())
            .field("next", &kids(&self.next))
            .field("retired", &kids(&self.retired))
            .finish()
    }
}

impl DirectoryKeys {
    /// `builder` signing with the current key and verifying the others: build the layer with
    /// it, then [`watch`](KeyDirectory::watch) the directory.
    pub fn apply<C>(&self, builder: crate::RefreshAuthBuilder<C>) -> crate::RefreshAuthBuilder<C> {
        let mut builder = builder.signing_key(self.current.clone());
        for key in self.next.iter().chain(&self.retired) {
            builder = builder.previous_key(key.verifying_key());
        }
        builder
    }
}

/// Reloads a [`KeyDirectory`] into a layer; made by [`KeyDirectory::watch`]. Cheap to clone.
#[derive(Clone)]
pub struct KeyDirectoryWatch {
    dir: KeyDirectory,
    shared: Arc<Shared>,
    last: Arc<Mutex<Contents>>,
}

impl std::fmt::Debug for KeyDirectoryWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyDirectoryWatch")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl KeyDirectoryWatch {
    /// Reads the directory now: `Ok(true)` when its keys changed and were installed,
    /// `Ok(false)` when nothing changed.
    ///
    /// # Errors
    ///
    /// The directory does not load (logged at `error` too); the last good keys stay in use.
    pub fn reload(&self) -> Result<bool, KeyRingError> {
        let keys = match self.dir.load() {
            Ok(keys) => keys,
            Err(err) => {
                tracing::error!(error = %err, "the key directory was refused; the last good keys stay in use");
                return Err(err);
            }
        };
        {
            let last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
            if *last == keys.contents {
                return Ok(false);
            }
        }
        self.install(&keys);
        *self.last.lock().unwrap_or_else(PoisonError::into_inner) = keys.contents;
        tracing::info!(signing = keys.current.kid(), "key directory reloaded");
        Ok(true)
    }

    /// Reloads every poll interval, forever: `tokio::spawn(watch.run())`.
    pub async fn run(self) {
        loop {
            tokio::time::sleep(self.dir.poll).await;
            // A refusal is logged by `reload`; the next poll tries again.
            let _ = self.reload();
        }
    }

    fn install(&self, keys: &DirectoryKeys) {
        let others: Vec<_> = keys
            .next
            .iter()
            .map(|k| (k.verifying_key(), KeyStatus::Next))
            .chain(
                keys.retired
                    .iter()
                    .map(|k| (k.verifying_key(), KeyStatus::Kept)),
            )
            .collect();
        let access = &self.shared.access;
        let installed = access.change(|_| {
            let set = access.key_set(keys.current.clone(), others.clone())?;
            Ok((Some(set), ()))
        });
        if let Err(err) = installed {
            tracing::error!(error = %err, "the key directory's keys were refused; the last good keys stay in use");
        }
    }
}
