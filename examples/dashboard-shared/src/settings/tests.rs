//! The settings read from variables: defaults, values, refusals.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::ffi::OsString;

use super::store::redact;
use super::*;

fn read(vars: &[(&str, &str)]) -> Result<Settings, SettingsError> {
    let vars: HashMap<String, OsString> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), OsString::from(*v)))
        .collect();
    Settings::from_vars(|name| vars.get(name).cloned())
}

/// Starts with `vars` as `main` does, short of listening: the settings read, the store
/// connected, the layer built (`build_auth`), where the library's own checks stop a bad
/// value.
async fn start(vars: &[(&str, &str)]) -> Result<tower_refresh_auth::RefreshAuth, SettingsError> {
    let settings = read(vars)?;
    let store = settings.connect_store().await?;
    crate::build_auth(&settings, crate::auth_builder(&settings, store)).await
}

/// The refusal of a start with `vars`, which the settings table lets through and the library
/// refuses: its message.
async fn refused(vars: &[(&str, &str)]) -> String {
    read(vars).unwrap();
    let err = start(vars).await.map(|_| ()).unwrap_err();
    assert!(matches!(err, SettingsError::Refused { .. }), "{err}");
    err.to_string()
}

#[test]
fn defaults_are_the_contracts() {
    let config = read(&[]).unwrap();
    assert_eq!(config.bind_addr(), "127.0.0.1:3000");
    assert_eq!(config.access_ttl, Duration::from_secs(60));
    assert_eq!(config.refresh_ttl, Duration::from_secs(604_800));
    assert_eq!(config.reuse_grace, Duration::from_secs(10));
    assert_eq!(config.step_up_max_age, Duration::from_secs(300));
    assert_eq!(config.transport, RefreshTransport::Body);
    assert!(config.jwt_secret.is_none());
    assert_eq!(config.metrics_addr, None);
}

#[test]
fn every_variable_is_read() {
    let config = read(&[
        ("HOST", "0.0.0.0"),
        ("PORT", "0"),
        ("JWT_SECRET", "0123456789abcdef0123456789abcdef"),
        ("ACCESS_TOKEN_TTL", "2s"),
        ("REFRESH_TOKEN_TTL", "1h 30m"),
        ("REFRESH_REUSE_GRACE", "500ms"),
        ("STEP_UP_MAX_AGE", "90s"),
        ("REFRESH_TRANSPORT", "cookie"),
        ("METRICS_ADDR", "127.0.0.1:9100"),
    ])
    .unwrap();
    assert_eq!(config.metrics_addr, Some(([127, 0, 0, 1], 9100).into()));
    assert_eq!(config.bind_addr(), "0.0.0.0:0");
    assert_eq!(config.access_ttl, Duration::from_secs(2));
    assert_eq!(config.refresh_ttl, Duration::from_secs(5400));
    assert_eq!(config.reuse_grace, Duration::from_millis(500));
    assert_eq!(config.step_up_max_age, Duration::from_secs(90));
    assert_eq!(config.transport, RefreshTransport::cookie());
}

#[tokio::test]
async fn bad_settings_are_refused_with_the_variable_named() {
    // The library's check, named: its message after the variable.
    let err = refused(&[("JWT_SECRET", "too short")]).await;
    assert!(
        err.starts_with("JWT_SECRET: the HS256 secret is 9 bytes"),
        "{err}"
    );
    let err = read(&[("METRICS_ADDR", "localhost")]).unwrap_err();
    assert!(
        err.to_string().starts_with("METRICS_ADDR=\"localhost\""),
        "{err}"
    );
    let err = read(&[("ACCESS_TOKEN_TTL", "soon")]).unwrap_err();
    assert!(
        err.to_string().starts_with("ACCESS_TOKEN_TTL=\"soon\""),
        "{err}"
    );
    let err = read(&[("REFRESH_TRANSPORT", "carrier-pigeon")]).unwrap_err();
    assert!(err.to_string().contains("REFRESH_TRANSPORT"), "{err}");
    let err = read(&[("PORT", "http")]).unwrap_err();
    assert!(matches!(err, SettingsError::Port(_)), "{err}");
    for bad in ["many", "-1"] {
        let err = read(&[("MAX_SESSIONS_PER_USER", bad)]).unwrap_err();
        assert!(matches!(err, SettingsError::MaxSessions(_)), "{err}");
        assert!(
            err.to_string().starts_with("MAX_SESSIONS_PER_USER="),
            "{err}"
        );
    }
    // Numbers out of the range are the library's to refuse.
    for bad in ["0", "10001"] {
        let err = refused(&[("MAX_SESSIONS_PER_USER", bad)]).await;
        assert!(err.starts_with("MAX_SESSIONS_PER_USER: "), "{err}");
        assert!(err.contains(&format!("({bad})")), "{err}");
    }
    assert_eq!(
        read(&[("MAX_SESSIONS_PER_USER", "10000")])
            .unwrap()
            .max_sessions_per_user,
        10_000
    );
    for bad in ["gateway", ":secret", "gateway:", ""] {
        let err = read(&[("INTROSPECTION_CLIENT", bad)]).unwrap_err();
        assert!(matches!(err, SettingsError::IntrospectionClient), "{err}");
    }
    let read_client = read(&[("INTROSPECTION_CLIENT", "gateway:0f3a9c2e7b4d1a6f8e5c3b2a")])
        .unwrap()
        .introspection;
    let debug = format!("{read_client:?}");
    assert!(
        debug.contains("gateway") && !debug.contains("0f3a9c"),
        "{debug}"
    );
    assert!(read(&[]).unwrap().introspection.is_none());
    let err = read(&[("VERIFIED_TOKEN_CACHE", "lots")]).unwrap_err();
    assert!(matches!(err, SettingsError::TokenCache(_)), "{err}");
    assert_eq!(
        read(&[("VERIFIED_TOKEN_CACHE", "1000")])
            .unwrap()
            .token_cache,
        1000
    );
}

/// The test keys of the library crate (tower-refresh-auth/tests/keys/README.md).
fn test_key(name: &str) -> String {
    format!(
        "{}/../../tower-refresh-auth/tests/keys/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

#[test]
fn a_key_file_is_read_and_keys_the_refresh_tokens() {
    let es256 = test_key("es256.pem");
    let settings = read(&[("JWT_PRIVATE_KEY_FILE", es256.as_str())]).unwrap();
    let key = settings.jwt_private_key.as_ref().unwrap();
    assert_eq!(key.algorithm(), tower_refresh_auth::Algorithm::ES256);
    // SEC1 and PKCS#1 too, with the algorithm read from the key.
    for (file, alg) in [
        ("es256.sec1.pem", tower_refresh_auth::Algorithm::ES256),
        ("rsa.pkcs1.pem", tower_refresh_auth::Algorithm::RS256),
        ("ed25519.pem", tower_refresh_auth::Algorithm::EdDSA),
        ("es384.pem", tower_refresh_auth::Algorithm::ES384),
        ("es256.der", tower_refresh_auth::Algorithm::ES256),
    ] {
        let path = test_key(file);
        let settings = read(&[("JWT_PRIVATE_KEY_FILE", path.as_str())]).unwrap();
        assert_eq!(settings.jwt_private_key.unwrap().algorithm(), alg, "{file}");
    }
    // Only a key file: a random refresh secret per call (per start), never the same twice.
    let random = settings.refresh_secret().unwrap();
    assert_eq!(random.len(), 48);
    assert_ne!(settings.refresh_secret().unwrap(), random);
    // With JWT_SECRET, which then signs nothing, that; REFRESH_TOKEN_SECRET over both.
    let secret = "0123456789abcdef0123456789abcdef";
    let refresh = "a refresh-token secret of 32+ bytes";
    let settings = read(&[
        ("JWT_PRIVATE_KEY_FILE", es256.as_str()),
        ("JWT_SECRET", secret),
    ])
    .unwrap();
    assert_eq!(settings.refresh_secret().unwrap(), secret.as_bytes());
    let settings = read(&[
        ("JWT_PRIVATE_KEY_FILE", es256.as_str()),
        ("JWT_SECRET", secret),
        ("REFRESH_TOKEN_SECRET", refresh),
    ])
    .unwrap();
    assert_eq!(settings.refresh_secret().unwrap(), refresh.as_bytes());
    // HS256: the library derives the MAC key from JWT_SECRET unless one is given.
    assert_eq!(
        read(&[("JWT_SECRET", secret)]).unwrap().refresh_secret(),
        None
    );
    let settings = read(&[("JWT_SECRET", secret), ("REFRESH_TOKEN_SECRET", refresh)]).unwrap();
    assert_eq!(settings.refresh_secret().unwrap(), refresh.as_bytes());
    // The secrets never reach a log line through `Debug`.
    let debug = format!("{settings:?}");
    assert!(
        !debug.contains(secret) && !debug.contains(refresh),
        "{debug}"
    );
}

#[tokio::test]
async fn bad_key_files_are_refused_naming_the_variable_and_the_file() {
    for (file, problem) in [
        ("missing.pem", "cannot be read"),
        ("README.md", "not a private key"),
        ("cert.pem", "certificate"),
        ("es256.pub.pem", "a public key"),
        ("p521.pem", "P-521 is not supported"),
        ("encrypted.pem", "encrypted"),
    ] {
        let path = test_key(file);
        let err = read(&[("JWT_PRIVATE_KEY_FILE", path.as_str())]).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, SettingsError::KeyFile(_)), "{file}: {msg}");
        assert!(msg.starts_with("JWT_PRIVATE_KEY_FILE: "), "{msg}");
        assert!(msg.contains(&path), "{msg}");
        assert!(msg.contains(problem), "{file}: {msg}");
        // Not a line of what the file holds.
        if let Ok(text) = std::fs::read_to_string(&path) {
            for line in text
                .lines()
                .filter(|l| l.len() > 16 && !l.starts_with("-----"))
            {
                assert!(!msg.contains(line), "{file}: {msg}");
            }
        }
    }
    let err = refused(&[("REFRESH_TOKEN_SECRET", "short")]).await;
    assert!(
        err.starts_with("REFRESH_TOKEN_SECRET: the refresh-token secret is 5 bytes"),
        "{err}"
    );
    // With a key file, a short JWT_SECRET is the refresh-token secret the library refuses.
    let es256 = test_key("es256.pem");
    let err = refused(&[
        ("JWT_PRIVATE_KEY_FILE", es256.as_str()),
        ("JWT_SECRET", "short"),
    ])
    .await;
    assert!(
        err.starts_with("JWT_SECRET: the refresh-token secret is 5 bytes"),
        "{err}"
    );
}

#[test]
fn sessions_settings_are_read_and_checked() {
    let dpop = read(&[("DPOP", "required")]).unwrap();
    assert_eq!(dpop.dpop, DpopMode::Required);
    assert!(
        read(&[("DPOP", "maybe")])
            .unwrap_err()
            .to_string()
            .starts_with("DPOP=")
    );
    let settings = read(&[("SESSION_LIFETIME", "30d"), ("CHECK_SESSIONS", "true")]).unwrap();
    assert_eq!(
        settings.session_lifetime,
        Some(Duration::from_secs(30 * 86_400))
    );
    assert_eq!(settings.check_sessions, SessionChecking::PerRequest);
    let defaults = read(&[]).unwrap();
    assert_eq!(defaults.session_lifetime, None);
    assert_eq!(defaults.check_sessions, SessionChecking::Off);
    let feed = read(&[("CHECK_SESSIONS", "feed")]).unwrap();
    assert_eq!(feed.check_sessions, SessionChecking::Feed);
    assert_eq!(defaults.token_cache, 0);
    let err = read(&[("CHECK_SESSIONS", "yes")]).unwrap_err();
    assert!(err.to_string().starts_with("CHECK_SESSIONS="), "{err}");
    let err = read(&[("SESSION_LIFETIME", "forever")]).unwrap_err();
    assert!(err.to_string().starts_with("SESSION_LIFETIME="), "{err}");
}

#[tokio::test]
async fn durations_are_bounded_by_ten_years() {
    assert_eq!(
        read(&[("REFRESH_TOKEN_TTL", "10y")]).unwrap().refresh_ttl,
        MAX_DURATION
    );
    start(&[("REFRESH_TOKEN_TTL", "10y")]).await.unwrap();
    // The lifetimes the library takes: its check, named.
    for (var, value) in [
        ("REFRESH_TOKEN_TTL", "300000000000y"),
        ("REFRESH_TOKEN_TTL", "11y"),
        ("ACCESS_TOKEN_TTL", "4000d"),
        ("SESSION_LIFETIME", "100y"),
    ] {
        let err = refused(&[(var, value)]).await;
        assert!(err.starts_with(&format!("{var}: ")), "{err}");
        assert!(err.contains("ten years"), "{err}");
    }
    // The durations the library takes as they are: the example's own bound.
    for (var, value) in [("STEP_UP_MAX_AGE", "11y"), ("KEY_ROTATION", "11y")] {
        let err = read(&[(var, value)]).unwrap_err();
        assert!(
            matches!(err, SettingsError::DurationTooLong { .. }),
            "{err}"
        );
        assert!(err.to_string().starts_with(&format!("{var}=")), "{err}");
    }
}

/// The library's other checks of what the table lets through stop the start naming the
/// variables.
#[tokio::test]
async fn the_librarys_refusals_name_the_variables() {
    for (vars, named) in [
        (
            &[("REFRESH_TOKEN_TTL", "1s")][..],
            "REFRESH_REUSE_GRACE, REFRESH_TOKEN_TTL: the reuse grace window",
        ),
        (
            &[("SESSION_LIFETIME", "1h")],
            "SESSION_LIFETIME, REFRESH_TOKEN_TTL: the session lifetime",
        ),
        (
            &[("ACCESS_TOKEN_TTL", "0s")],
            "ACCESS_TOKEN_TTL: `access_ttl`",
        ),
        (
            &[("INTROSPECTION_CLIENT", "gateway:short")],
            "INTROSPECTION_CLIENT: the introspection client secret",
        ),
        (
            &[("DPOP", "required"), ("PUBLIC_URL", "ftp://app.example")],
            "PUBLIC_URL: the DPoP origin",
        ),
    ] {
        let err = refused(vars).await;
        assert!(err.starts_with(named), "{vars:?}: {err}");
    }
}

#[test]
fn store_urls_name_their_store() {
    for (url, kind) in [
        ("memory://", StoreKind::Memory),
        ("redis://127.0.0.1:6379", StoreKind::Redis),
        ("rediss://cache.example:6380", StoreKind::Redis),
        (
            "redis+cluster://10.0.0.1:6379,10.0.0.2:6379",
            StoreKind::Redis,
        ),
        (
            "rediss+cluster://u:p@10.0.0.1:6379,10.0.0.2:6379",
            StoreKind::Redis,
        ),
        ("postgresql://db/app", StoreKind::Postgres),
        ("postgres://u:p@db/app", StoreKind::Postgres),
        ("sqlite://sessions.db", StoreKind::Sqlite),
    ] {
        let settings = Settings {
            store_url: url.to_owned(),
            ..Settings::default()
        };
        assert_eq!(settings.store_kind().unwrap(), kind);
        // A URL of a store this build leaves out stops the server, saying how to get it.
        match (kind.is_built(), read(&[("STORE_URL", url)])) {
            (true, Ok(_)) => {}
            (false, Err(err @ SettingsError::StoreNotBuilt { .. })) => {
                let msg = err.to_string();
                assert!(msg.contains("--features "), "{msg}");
                assert!(!msg.contains(":p@"), "{msg}");
            }
            (built, other) => panic!("{url} (built: {built}): {other:?}"),
        }
    }
    let err = read(&[("STORE_URL", "/tmp/sessions")]).unwrap_err();
    assert!(matches!(err, SettingsError::UnknownStore(_)), "{err}");
    let err = read(&[("STORE_URL", "mysql://u:hunter2@db/app")]).unwrap_err();
    assert!(!err.to_string().contains("hunter2"), "{err}");
}

#[test]
fn passwords_never_reach_a_message() {
    assert_eq!(
        redact("postgres://app:s3cret@db:5432/x"),
        "postgres://app:***@db:5432/x"
    );
    assert_eq!(redact("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
    assert_eq!(redact("redis://:pw@host"), "redis://:***@host");
}

#[cfg(feature = "redis")]
#[tokio::test]
async fn an_unreachable_store_is_refused_with_a_clear_message() {
    // Port 9 (discard) on loopback: nothing listens there.
    let config = read(&[("STORE_URL", "redis://:pw@127.0.0.1:9")]).unwrap();
    let err = config.connect_store().await.map(|_| ()).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("unreachable") && msg.contains("memory://"),
        "{msg}"
    );
    assert!(!msg.contains(":pw@"), "{msg}");
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn an_sqlite_file_is_created_when_missing() {
    let dir = std::env::temp_dir().join(format!("dashboard-shared-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("sessions.db");
    let _ = std::fs::remove_file(&file);
    let url = format!("sqlite://{}", file.display());
    let config = read(&[("STORE_URL", url.as_str())]).unwrap();
    config.connect_store().await.unwrap();
    assert!(file.exists());
    std::fs::remove_dir_all(&dir).unwrap();
}
