//! Fleet keys for the dashboards (`docs/protocol.md` §13): `KEY_ROTATION`, `SIGNING_ALG`,
//! `KEY_ENCRYPTION_KEY` / `KEY_ENCRYPTION_KEY_FILE` and `PREVIOUS_KEY_ENCRYPTION_KEY` read
//! into the library's [`KeyRotation`], or `KEY_DIR` into a [`KeyDirectory`], and the layer
//! built on them.

use tower_refresh_auth::fleet::{
    DirectoryKeys, KeyDirectory, KeyEncryptionKey, KeyRingError, KeyRotation,
};
use tower_refresh_auth::{Algorithm, ConfigError, NoClaims, RefreshAuth, RefreshAuthBuilder};

use crate::settings::bounded_duration;
use crate::variables::Variables;
use crate::{Settings, SettingsError};

/// What may go wrong reading the fleet-key variables; each message names the variable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FleetSettingsError {
    /// Two key sources at once: `KEY_ROTATION`, `JWT_PRIVATE_KEY_FILE`, `KEY_DIR`.
    #[error("{0} and {1} are both set: the keys come from one source; unset one of them")]
    TwoKeySources(&'static str, &'static str),
    /// `KEY_DIR` does not load.
    #[error("KEY_DIR: {0}")]
    KeyDir(#[source] KeyRingError),
    /// `SIGNING_ALG` is not an algorithm's name (the library refuses one the key ring does
    /// not make: [`SettingsError::Refused`]).
    #[error("SIGNING_ALG={0:?} is not an algorithm the key ring makes: write `ES256` or `EdDSA`")]
    Algorithm(String),
    /// No key-encryption key.
    #[error(
        "KEY_ROTATION is set but KEY_ENCRYPTION_KEY is not: give 32 random bytes, base64url \
         (`openssl rand 32 | basenc --base64url`), in KEY_ENCRYPTION_KEY or in the file \
         KEY_ENCRYPTION_KEY_FILE names"
    )]
    MissingKek,
    /// Both `KEY_ENCRYPTION_KEY` and `KEY_ENCRYPTION_KEY_FILE`.
    #[error("KEY_ENCRYPTION_KEY and KEY_ENCRYPTION_KEY_FILE are both set: unset one of them")]
    TwoKeks,
    /// A key-encryption key that is not 32 random bytes, or a file that cannot be read.
    #[error("{var}: {source}")]
    Kek {
        /// The variable.
        var: &'static str,
        /// Why.
        #[source]
        source: KeyRingError,
    },
}

/// Reads the fleet-key variables: `None` unless `KEY_ROTATION` is set.
pub(crate) fn read(
    vars: &Variables,
    key_dir_set: bool,
) -> Result<Option<KeyRotation>, SettingsError> {
    let Some(lifetime_text) = &vars.key_rotation else {
        return Ok(None);
    };
    if vars.jwt_private_key_file.is_some() {
        return Err(
            FleetSettingsError::TwoKeySources("KEY_ROTATION", "JWT_PRIVATE_KEY_FILE").into(),
        );
    }
    if key_dir_set {
        return Err(FleetSettingsError::TwoKeySources("KEY_ROTATION", "KEY_DIR").into());
    }
    // At least 1 s, ES256 or EdDSA: the library's to check, when the layer is built.
    let lifetime = bounded_duration("KEY_ROTATION", lifetime_text)?;
    let alg = vars.signing_alg.trim();
    let algorithm: Algorithm = alg
        .parse()
        .map_err(|_| FleetSettingsError::Algorithm(alg.to_owned()))?;
    let kek = |var, read: fn(&str) -> Result<KeyEncryptionKey, KeyRingError>, value: &str| {
        read(value).map_err(|source| FleetSettingsError::Kek { var, source })
    };
    let current = match (&vars.key_encryption_key, &vars.key_encryption_key_file) {
        (Some(_), Some(_)) => return Err(FleetSettingsError::TwoKeks.into()),
        (None, None) => return Err(FleetSettingsError::MissingKek.into()),
        (Some(text), None) => kek("KEY_ENCRYPTION_KEY", KeyEncryptionKey::from_base64url, text)?,
        (None, Some(path)) => kek(
            "KEY_ENCRYPTION_KEY_FILE",
            |path| KeyEncryptionKey::from_file(path),
            path,
        )?,
    };
    let mut rotation = KeyRotation::new(lifetime, current).algorithm(algorithm);
    if let Some(text) = &vars.previous_key_encryption_key {
        rotation = rotation.previous_key_encryption_key(kek(
            "PREVIOUS_KEY_ENCRYPTION_KEY",
            KeyEncryptionKey::from_base64url,
            text,
        )?);
    }
    Ok(Some(rotation))
}

/// Reads `KEY_DIR` at once (so a bad directory stops the server before anything is bound).
pub(crate) fn read_key_dir(
    vars: &Variables,
) -> Result<Option<(KeyDirectory, DirectoryKeys)>, SettingsError> {
    let Some(path) = &vars.key_dir else {
        return Ok(None);
    };
    if vars.jwt_private_key_file.is_some() {
        return Err(FleetSettingsError::TwoKeySources("KEY_DIR", "JWT_PRIVATE_KEY_FILE").into());
    }
    let dir = KeyDirectory::new(path.trim());
    let keys = dir.load().map_err(FleetSettingsError::KeyDir)?;
    Ok(Some((dir, keys)))
}

/// Builds the layer: on the store's key ring when `KEY_ROTATION` is set (keeping it in step
/// in a background task), else with `.build()`.
///
/// # Errors
///
/// The builder's [`ConfigError`] as [`SettingsError::Refused`], its message after the
/// variables to fix; a stored ring that does not open under the key-encryption key is
/// reported naming `KEY_ENCRYPTION_KEY` (and `PREVIOUS_KEY_ENCRYPTION_KEY`).
pub async fn build_auth(
    settings: &Settings,
    builder: RefreshAuthBuilder<NoClaims>,
) -> Result<RefreshAuth<NoClaims>, SettingsError> {
    let refused = |err: ConfigError| SettingsError::refused(err, settings);
    let Some(rotation) = &settings.key_rotation else {
        let auth = builder.build().map_err(refused)?;
        if let Some((dir, keys)) = &settings.key_dir {
            tokio::spawn(dir.watch(&auth, keys.clone()).run());
        }
        return Ok(auth);
    };
    let (auth, sync) = builder
        .key_rotation(rotation.clone())
        .build_with_key_rotation()
        .await
        .map_err(refused)?;
    tracing::info!(
        version = sync.status().version,
        "signing keys from the key ring in STORE_URL"
    );
    tokio::spawn(sync.run());
    Ok(auth)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEK: &str = "kSLE4f1bIdGV3BzOmAntt7dcmIMb-G30wtgCcQvMe-o";
    const OTHER_KEK: &str = "3q2-7wABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGho";

    fn read(vars: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        let vars: std::collections::HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Settings::from_vars(|name| vars.get(name).map(Into::into))
    }

    #[test]
    fn the_variables_are_read() {
        assert!(read(&[]).unwrap().key_rotation.is_none());
        let settings = read(&[
            ("KEY_ROTATION", "30d"),
            ("SIGNING_ALG", "EdDSA"),
            ("KEY_ENCRYPTION_KEY", KEK),
            ("PREVIOUS_KEY_ENCRYPTION_KEY", OTHER_KEK),
        ])
        .unwrap();
        assert!(settings.key_rotation.is_some());
        let dir = tempfile_dir();
        let path = dir.join("kek");
        std::fs::write(&path, format!("{KEK}\n")).unwrap();
        let path = path.display().to_string();
        let settings = read(&[("KEY_ROTATION", "1s"), ("KEY_ENCRYPTION_KEY_FILE", &path)]);
        assert!(settings.unwrap().key_rotation.is_some());
    }

    #[test]
    fn bad_settings_are_refused_naming_the_variable() {
        let key_file = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tower-refresh-auth/tests/keys/es256.pem"
        );
        let dir = tempfile_dir();
        std::fs::copy(key_file, dir.join("current.pem")).unwrap();
        let key_dir = &*dir.display().to_string();
        for (vars, named) in [
            (
                vec![
                    ("KEY_ROTATION", "30d"),
                    ("KEY_ENCRYPTION_KEY", KEK),
                    ("JWT_PRIVATE_KEY_FILE", key_file),
                ],
                vec!["KEY_ROTATION", "JWT_PRIVATE_KEY_FILE"],
            ),
            (
                vec![
                    ("KEY_ROTATION", "30d"),
                    ("KEY_ENCRYPTION_KEY", KEK),
                    ("KEY_DIR", key_dir),
                ],
                vec!["KEY_ROTATION", "KEY_DIR"],
            ),
            (
                vec![("KEY_DIR", key_dir), ("JWT_PRIVATE_KEY_FILE", key_file)],
                vec!["KEY_DIR", "JWT_PRIVATE_KEY_FILE"],
            ),
            (
                vec![("KEY_DIR", "/nonexistent/keys")],
                vec!["KEY_DIR", "/nonexistent/keys"],
            ),
            (vec![("KEY_ROTATION", "30d")], vec!["KEY_ENCRYPTION_KEY"]),
            (
                vec![("KEY_ROTATION", "soon"), ("KEY_ENCRYPTION_KEY", KEK)],
                vec!["KEY_ROTATION"],
            ),
            (
                vec![
                    ("KEY_ROTATION", "30d"),
                    ("KEY_ENCRYPTION_KEY", KEK),
                    ("SIGNING_ALG", "RS-whatever"),
                ],
                vec!["SIGNING_ALG"],
            ),
            (
                vec![("KEY_ROTATION", "30d"), ("KEY_ENCRYPTION_KEY", "c2hvcnQ")],
                vec!["KEY_ENCRYPTION_KEY", "32 random bytes"],
            ),
            (
                vec![
                    ("KEY_ROTATION", "30d"),
                    ("KEY_ENCRYPTION_KEY_FILE", "/nonexistent/kek"),
                ],
                vec!["KEY_ENCRYPTION_KEY_FILE", "/nonexistent/kek"],
            ),
            (
                vec![
                    ("KEY_ROTATION", "30d"),
                    ("KEY_ENCRYPTION_KEY", KEK),
                    ("PREVIOUS_KEY_ENCRYPTION_KEY", "AAAA"),
                ],
                vec!["PREVIOUS_KEY_ENCRYPTION_KEY"],
            ),
        ] {
            let err = read(&vars).unwrap_err().to_string();
            for name in named {
                assert!(err.contains(name), "{vars:?}: {err}");
            }
            assert!(!err.contains(KEK), "the key never reaches a message: {err}");
        }
    }

    /// What the library checks of the ring's settings (a lifetime of at least 1 s, an
    /// algorithm the ring makes) stops the start, its message after the variables.
    #[tokio::test]
    async fn bad_ring_settings_stop_the_start_naming_the_variable() {
        for (vars, named) in [
            (
                vec![("KEY_ROTATION", "500ms"), ("KEY_ENCRYPTION_KEY", KEK)],
                vec!["KEY_ROTATION"],
            ),
            (
                vec![
                    ("KEY_ROTATION", "30d"),
                    ("KEY_ENCRYPTION_KEY", KEK),
                    ("SIGNING_ALG", "HS256"),
                ],
                vec!["SIGNING_ALG"],
            ),
        ] {
            let settings = read(&vars).unwrap();
            let store = std::sync::Arc::new(tower_refresh_auth::store::MemoryStore::new());
            let builder = crate::auth_builder(&settings, store);
            let err = build_auth(&settings, builder).await.unwrap_err();
            assert!(matches!(err, SettingsError::Refused { .. }), "{err}");
            let err = err.to_string();
            for name in named {
                assert!(err.contains(name), "{vars:?}: {err}");
            }
            assert!(!err.contains(KEK), "the key never reaches a message: {err}");
        }
    }

    #[tokio::test]
    async fn a_wrong_key_encryption_key_stops_the_start_naming_the_variable() {
        let store = std::sync::Arc::new(tower_refresh_auth::store::MemoryStore::new());
        let start = |kek: &str| {
            let settings = read(&[("KEY_ROTATION", "30d"), ("KEY_ENCRYPTION_KEY", kek)]).unwrap();
            let builder = crate::auth_builder(&settings, store.clone());
            async move { build_auth(&settings, builder).await }
        };
        let auth = start(KEK).await.unwrap();
        assert_eq!(auth.keys().verifying_kids().len(), 1);
        // A second instance adopts the ring: the same key.
        let again = start(KEK).await.unwrap();
        assert_eq!(again.keys().signing_kid(), auth.keys().signing_kid());
        let err = start(OTHER_KEK).await.unwrap_err().to_string();
        assert!(err.starts_with("KEY_ENCRYPTION_KEY: "), "{err}");
    }

    fn tempfile_dir() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "dashboard-fleet-{}-{}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
