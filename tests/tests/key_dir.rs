//! The key-directory source (`docs/protocol.md` §13): keys whose roles are their file names,
//! reloaded without a restart; files replaced atomically and not, a bad file, a removed one.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use tower_refresh_auth::fleet::{KeyDirectory, KeyRingError};
use tower_refresh_auth::keys::{Jwks, SigningKey};
use tower_refresh_auth::{NoClaims, RefreshAuth};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/../tower-refresh-auth/tests/keys/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn kid(name: &str) -> String {
    SigningKey::from_private_key_pem(&fixture(name))
        .unwrap()
        .kid()
        .to_owned()
}

/// Writes a file under a hidden name, then renames it into place: how a file is replaced
/// atomically.
fn put(dir: &Path, name: &str, bytes: &[u8]) {
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(tmp, dir.join(name)).unwrap();
}

fn kid_of(token: &str) -> String {
    use base64::Engine as _;
    let header = token.split('.').next().unwrap();
    let header: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(header)
            .unwrap(),
    )
    .unwrap();
    header["kid"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_directory_rotates_keys_without_a_restart_and_keeps_the_last_good_set() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    put(path, "current.pem", &fixture("es256.pem"));
    put(path, "retired-old.pem", &fixture("ed25519.pem"));
    std::fs::write(path.join("README"), "ignored").unwrap();
    let source = KeyDirectory::new(path);
    let keys = source.load().unwrap();
    assert!(
        !format!("{keys:?}").contains("PRIVATE"),
        "no key bytes in Debug"
    );
    let auth = keys
        .apply(RefreshAuth::<NoClaims>::builder())
        .refresh_secret(b"a refresh secret of 32 bytes or more".to_vec())
        .jwks(Jwks::new())
        .build()
        .unwrap();
    let watch = source.watch(&auth, keys);
    assert_eq!(auth.keys().signing_kid(), kid("es256.pem"));
    assert_eq!(
        auth.keys().verifying_kids(),
        [kid("es256.pem"), kid("ed25519.pem")]
    );
    assert!(!watch.reload().unwrap(), "nothing changed");
    let before = auth.issue("user1", NoClaims {}).await.unwrap();

    // Published ahead: an atomic replace.
    put(path, "next.pem", &fixture("ed25519.pem"));
    std::fs::remove_file(path.join("retired-old.pem")).unwrap();
    assert!(watch.reload().unwrap());
    assert_eq!(auth.keys().signing_kid(), kid("es256.pem"));
    assert!(auth.keys().verifying_kids().contains(&kid("ed25519.pem")));

    // A non-atomic write: half a key file is refused, naming it; the last good set stays.
    let full = fixture("es256.pem");
    std::fs::write(path.join("retired-1.pem"), &full[..full.len() / 2]).unwrap();
    let err = watch.reload().unwrap_err();
    assert!(
        matches!(&err, KeyRingError::KeyDir { file, .. } if file.ends_with("retired-1.pem")),
        "{err}"
    );
    assert_eq!(auth.keys().signing_kid(), kid("es256.pem"));
    auth.verify(&before.access_token).unwrap();
    // Once the write is whole, it loads: the rotation, in two renames.
    std::fs::write(path.join("retired-1.pem"), &full).unwrap();
    std::fs::remove_file(path.join("current.pem")).unwrap();
    std::fs::rename(path.join("next.pem"), path.join("current.pem")).unwrap();
    assert!(watch.reload().unwrap());
    assert_eq!(auth.keys().signing_kid(), kid("ed25519.pem"));
    let after = auth.issue("user1", NoClaims {}).await.unwrap();
    assert_eq!(kid_of(&after.access_token), kid("ed25519.pem"));
    auth.verify(&before.access_token)
        .expect("the retired key verifies");

    // A bad file, and two current keys: refused, naming why; the last good set stays.
    std::fs::write(path.join("next-bad.pem"), "not a key").unwrap();
    let err = watch.reload().unwrap_err().to_string();
    assert!(err.contains("next-bad.pem"), "{err}");
    std::fs::remove_file(path.join("next-bad.pem")).unwrap();
    put(path, "current-2.pem", &fixture("es256.pem"));
    let err = watch.reload().unwrap_err().to_string();
    assert!(err.contains("2 files named `current*.pem`"), "{err}");
    std::fs::remove_file(path.join("current-2.pem")).unwrap();
    std::fs::write(path.join("other.pem"), &full).unwrap();
    let err = watch.reload().unwrap_err().to_string();
    assert!(
        err.contains("other.pem") && err.contains("no role"),
        "{err}"
    );
    std::fs::remove_file(path.join("other.pem")).unwrap();
    assert_eq!(auth.keys().signing_kid(), kid("ed25519.pem"));
    auth.verify(&before.access_token).unwrap();

    // A removed file: the retired key stops verifying.
    std::fs::remove_file(path.join("retired-1.pem")).unwrap();
    assert!(watch.reload().unwrap());
    assert_eq!(auth.keys().verifying_kids(), [kid("ed25519.pem")]);
    assert!(auth.verify(&before.access_token).is_err());
    auth.verify(&after.access_token).unwrap();
}
