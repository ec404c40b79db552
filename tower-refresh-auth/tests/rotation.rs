//! Published keys and key rotation at run time (docs/protocol.md §7): the JWKS route, and
//! rotations of signing keys and refresh-token MAC secrets under concurrent requests.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tower_refresh_auth::keys::Jwks;

use common::{Harness, admin};
use http::Request;
use tower_refresh_auth::keys::SigningKey;
use tower_refresh_auth::{Algorithm, ConfigError, RefreshAuthBuilder};

const REFRESH_SECRET: &[u8] = b"the refresh-token secret, 32 bytes or more";
const JWKS: &str = "/.well-known/jwks.json";

fn key(name: &str) -> SigningKey {
    SigningKey::from_file(format!("{}/tests/keys/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn published(b: RefreshAuthBuilder<common::Role>) -> RefreshAuthBuilder<common::Role> {
    b.signing_key(key("es256.pem"))
        .refresh_secret(REFRESH_SECRET.to_vec())
        .jwks(Jwks::new())
}

fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

async fn jwks_kids(h: &Harness) -> Vec<String> {
    let res = h.get(JWKS, None).await;
    assert_eq!(res.status, 200, "{}", res.text());
    res.json()["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn the_jwks_route_serves_public_keys_only_to_anyone() {
    let h = Harness::with(published);
    for bearer in [None, Some("not-a-token")] {
        let res = h.get(JWKS, bearer).await;
        assert_eq!(res.status, 200, "{}", res.text());
        assert_eq!(res.header("content-type"), "application/json");
        assert_eq!(res.header("cache-control"), "public, max-age=60");
        let jwks = res.json();
        let keys = jwks["keys"].as_array().unwrap();
        assert_eq!(keys.len(), 1);
        let jwk = keys[0].as_object().unwrap();
        let names: BTreeSet<&str> = jwk.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            BTreeSet::from(["alg", "crv", "kid", "kty", "use", "x", "y"])
        );
        assert_eq!(jwk["kty"], "EC");
        assert_eq!(jwk["crv"], "P-256");
        assert_eq!(jwk["alg"], "ES256");
        assert_eq!(jwk["use"], "sig");
        assert_eq!(jwk["kid"], h.auth.keys().signing_kid());
    }
    // The tokens name the published key.
    let pair = h.login().await;
    assert_eq!(kid_of(&pair.access_token), h.auth.keys().signing_kid());

    for method in ["POST", "PUT", "DELETE", "HEAD"] {
        let res = h
            .send(
                Request::builder()
                    .method(method)
                    .uri(JWKS)
                    .body(String::new())
                    .unwrap(),
            )
            .await;
        assert_eq!(res.status, 405, "{method}");
        assert_eq!(res.header("allow"), "GET", "{method}");
        assert!(res.body.is_empty(), "{method}");
    }
}

#[tokio::test]
async fn the_jwks_route_is_off_unless_enabled_and_moves_with_its_path() {
    let h = Harness::with(|b| {
        b.signing_key(key("ed25519.pem"))
            .refresh_secret(REFRESH_SECRET.to_vec())
    });
    // Off: an ordinary guarded path.
    assert_eq!(h.get(JWKS, None).await.status, 401);

    let h = Harness::with(|b| published(b).jwks(Jwks::new().path("/keys")));
    assert_eq!(h.get(JWKS, None).await.status, 401);
    let res = h.get("/keys", None).await;
    assert_eq!(res.status, 200);
    assert_eq!(res.json()["keys"][0]["kty"], "EC");
}

#[tokio::test]
async fn every_supported_key_type_is_published_with_its_parameters() {
    for (file, kty, params) in [
        ("es384.pem", "EC", &["crv", "x", "y"][..]),
        ("ed25519.pem", "OKP", &["crv", "x"]),
        ("rsa.pkcs1.pem", "RSA", &["e", "n"]),
    ] {
        let h = Harness::with(|b| published(b).signing_key(key(file)));
        let jwks = h.get(JWKS, None).await.json();
        let jwk = jwks["keys"][0].as_object().unwrap();
        assert_eq!(jwk["kty"], kty, "{file}");
        for param in params {
            assert!(jwk[*param].is_string(), "{file}: {param}");
        }
        assert!(!jwk.contains_key("d") && !jwk.contains_key("k"), "{file}");
        // A token it signs verifies against the published key alone.
        let pair = h.login().await;
        let decoding = jsonwebtoken::DecodingKey::from_jwk(
            &serde_json::from_value(jwks["keys"][0].clone()).unwrap(),
        )
        .unwrap();
        let mut validation =
            jsonwebtoken::Validation::new(key(file).algorithm().as_str().parse().unwrap());
        validation.validate_exp = false;
        jsonwebtoken::decode::<serde_json::Value>(&pair.access_token, &decoding, &validation)
            .unwrap_or_else(|e| panic!("{file}: {e}"));
    }
}

#[tokio::test]
async fn publish_rotate_remove_and_prune_show_in_the_jwks_at_once() {
    let h = Harness::with(|b| published(b).key_overlap(Duration::from_secs(300)));
    let keys = h.auth.keys();
    let first = keys.signing_kid();
    let before = h.login().await;

    // Publish ahead: verifies and is listed, does not sign.
    let next = key("ed25519.pem");
    keys.publish(next.verifying_key()).unwrap();
    assert_eq!(jwks_kids(&h).await, [first.clone(), next.kid().to_owned()]);
    assert_eq!(kid_of(&h.login().await.access_token), first);
    assert!(matches!(
        keys.publish(next.verifying_key()),
        Err(ConfigError::DuplicateKid(_))
    ));

    // Rotate: signs at once; the old key stays listed and verifying.
    keys.rotate(next.clone()).unwrap();
    assert_eq!(jwks_kids(&h).await, [next.kid().to_owned(), first.clone()]);
    let after = h.login().await;
    assert_eq!(kid_of(&after.access_token), next.kid());
    assert_eq!(h.get("/api", Some(&before.access_token)).await.status, 200);
    assert_eq!(h.get("/api", Some(&after.access_token)).await.status, 200);
    assert!(matches!(
        keys.rotate(next.clone()),
        Err(ConfigError::DuplicateKid(_))
    ));

    // Inside the overlap nothing is pruned; after it, the old key goes.
    h.clock.advance(Duration::from_secs(299));
    assert!(keys.prune().keys.is_empty());
    h.clock.advance(Duration::from_secs(1));
    assert_eq!(keys.prune().keys, std::slice::from_ref(&first));
    assert_eq!(jwks_kids(&h).await, [next.kid().to_owned()]);

    // Remove stops a key at once, whatever its overlap; never the signing key.
    let third = key("es384.pem");
    keys.rotate(third.clone()).unwrap();
    let by_second = next.kid().to_owned();
    assert!(keys.remove(&by_second));
    assert!(!keys.remove(&by_second));
    assert!(!keys.remove(third.kid()));
    assert_eq!(jwks_kids(&h).await, [third.kid().to_owned()]);
    let refused = h.get("/api", Some(&after.access_token)).await;
    refused.assert_challenge(401, "invalid_token");
}

#[tokio::test]
async fn verifying_keys_given_to_the_builder_are_never_pruned_only_removed() {
    let elsewhere = key("ed25519.pem");
    let h = Harness::with(|b| published(b).previous_key(elsewhere.verifying_key()));
    let keys = h.auth.keys();
    let first = keys.signing_kid();
    keys.rotate(key("es384.pem")).unwrap();
    h.clock.advance(Duration::from_secs(24 * 3600));
    assert_eq!(keys.prune().keys, std::slice::from_ref(&first));
    assert!(jwks_kids(&h).await.contains(&elsewhere.kid().to_owned()));
    assert!(keys.remove(elsewhere.kid()));
    assert_eq!(jwks_kids(&h).await, [keys.signing_kid()]);
}

#[tokio::test]
async fn a_rotation_prunes_the_keys_whose_overlap_has_passed() {
    let h = Harness::with(published);
    let keys = h.auth.keys();
    let first = keys.signing_kid();
    keys.rotate(key("ed25519.pem")).unwrap();
    h.clock.advance(Duration::from_secs(59));
    keys.rotate(key("es384.pem")).unwrap();
    // The first key is still inside its overlap (60 s); the second was retired just now.
    assert_eq!(keys.verifying_kids().len(), 3);
    h.clock.advance(Duration::from_secs(1));
    keys.rotate(key("rsa.pem")).unwrap();
    let kids = keys.verifying_kids();
    assert!(!kids.contains(&first), "{kids:?}");
    assert_eq!(kids.len(), 3);
}

#[tokio::test]
async fn a_weak_hmac_key_is_refused_at_run_time_too() {
    let h = Harness::new();
    let keys = h.auth.keys();
    let before = keys.verifying_kids();
    let err = keys
        .rotate(SigningKey::hmac(Algorithm::HS256, vec![1; 16]))
        .unwrap_err();
    assert!(err.to_string().contains("at least 32 bytes"), "{err}");
    assert_eq!(keys.verifying_kids(), before);
    assert_eq!(keys.refresh_secrets(), 1);
}

#[tokio::test]
async fn a_published_set_refuses_an_hmac_key_and_stays_as_it_was() {
    let h = Harness::with(published);
    let keys = h.auth.keys();
    let before = keys.verifying_kids();
    let hmac = SigningKey::hmac(Algorithm::HS256, vec![7; 32]);
    let err = keys.rotate(hmac.clone()).unwrap_err();
    assert!(err.to_string().contains("is an HMAC secret"), "{err}");
    assert!(keys.publish(hmac.verifying_key()).is_err());
    assert_eq!(keys.verifying_kids(), before);
    assert_eq!(jwks_kids(&h).await, before);
    // A weak refresh secret is refused too.
    assert!(matches!(
        keys.rotate_refresh_secret(vec![1; 31]),
        Err(ConfigError::WeakRefreshSecret { len: 31 })
    ));
    assert_eq!(keys.refresh_secrets(), 1);
}

#[tokio::test]
async fn rotating_an_hmac_key_rotates_the_refresh_secret_derived_from_it() {
    let h = Harness::new();
    let keys = h.auth.keys();
    let before = h.login().await;
    keys.rotate(SigningKey::hmac(
        Algorithm::HS256,
        b"a second HS256 secret of 32 bytes or more".to_vec(),
    ))
    .unwrap();
    assert_eq!(keys.refresh_secrets(), 2);
    let after = h.login().await;
    assert_eq!(h.get("/api", Some(&before.access_token)).await.status, 200);
    assert_eq!(h.get("/api", Some(&after.access_token)).await.status, 200);
    // The old refresh token still refreshes; its successor is MACed with the new secret.
    let res = h.refresh(&before.refresh_token).await;
    assert_eq!(res.status, 200, "{}", res.text());
    let successor = res.json()["refreshToken"].as_str().unwrap().to_owned();

    // One refresh-token TTL after the rotation the old secret is pruned: a token minted
    // under it could not be alive any more. Sessions refreshed since are unaffected.
    let ttl = Duration::from_secs(7 * 24 * 3600);
    h.clock.advance(ttl - Duration::from_secs(1));
    let pruned = keys.prune();
    // The old signing key went long ago, one access-token lifetime after the rotation.
    assert_eq!((pruned.keys.len(), pruned.refresh_secrets), (1, 0));
    let res = h.refresh(&successor).await;
    assert_eq!(res.status, 200, "{}", res.text());
    let successor = res.json()["refreshToken"].as_str().unwrap().to_owned();
    h.clock.advance(Duration::from_secs(1));
    let pruned = keys.prune();
    assert_eq!((pruned.keys.len(), pruned.refresh_secrets), (0, 1));
    assert_eq!(keys.refresh_secrets(), 1);
    let res = h.refresh(&successor).await;
    assert_eq!(res.status, 200, "{}", res.text());
}

/// Many tasks log in, call a guarded route and refresh, on a multi-thread runtime, while
/// another task rotates the signing key and the refresh secret several times. Nobody is
/// logged out: every access token verifies until it expires, every refresh token refreshes,
/// and the JWKS lists each new key at once and every retired one until pruned.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rotations_under_concurrent_requests_log_nobody_out() {
    const WORKERS: usize = 16;
    let h = Arc::new(Harness::with(|b| {
        published(b).key_overlap(Duration::from_secs(3600))
    }));
    let keys = h.auth.keys();
    let initial = keys.signing_kid();
    // A session started before any rotation, refreshed only at the end.
    let early = h.login().await;

    let seen = Arc::new(Mutex::new(BTreeSet::new()));
    let done = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..WORKERS)
        .map(|_| {
            let (h, seen, done) = (Arc::clone(&h), Arc::clone(&seen), Arc::clone(&done));
            tokio::spawn(async move {
                let mut pair = h.auth.issue("user1", admin()).await.unwrap();
                let mut tokens = vec![pair.access_token.clone()];
                let mut rounds = 0;
                while !done.load(Ordering::SeqCst) || rounds < 3 {
                    rounds += 1;
                    let res = h.get("/api", Some(&pair.access_token)).await;
                    assert_eq!(res.status, 200, "{}", res.text());
                    let res = h.refresh(&pair.refresh_token).await;
                    assert_eq!(res.status, 200, "refresh: {}", res.text());
                    let body = res.json();
                    pair.access_token = body["accessToken"].as_str().unwrap().to_owned();
                    pair.refresh_token = body["refreshToken"].as_str().unwrap().to_owned();
                    seen.lock().unwrap().insert(kid_of(&pair.access_token));
                    tokens.push(pair.access_token.clone());
                    let fresh = h.auth.issue("user2", admin()).await.unwrap();
                    seen.lock().unwrap().insert(kid_of(&fresh.access_token));
                    tokens.push(fresh.access_token);
                    tokio::task::yield_now().await;
                }
                (tokens, pair)
            })
        })
        .collect();

    let rotator = {
        let (h, seen) = (Arc::clone(&h), Arc::clone(&seen));
        tokio::spawn(async move {
            let keys = h.auth.keys();
            let mut retired = vec![keys.signing_kid()];
            // The last one back to the first key, retired by then: promoted, listed once.
            for (i, file) in ["ed25519.pem", "es384.pem", "rsa.pem", "es256.pem"]
                .into_iter()
                .enumerate()
            {
                // Rotate only once the current key has signed something a worker holds, so
                // every key signs tokens that outlive its rotation.
                while !seen.lock().unwrap().contains(&keys.signing_kid()) {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                let next = key(file);
                if !keys.verifying_kids().iter().any(|kid| kid == next.kid()) {
                    keys.publish(next.verifying_key()).unwrap();
                }
                keys.rotate(next).unwrap();
                let mut secret = REFRESH_SECRET.to_vec();
                secret.push(b'0' + i as u8);
                keys.rotate_refresh_secret(secret).unwrap();

                let current = keys.signing_kid();
                let listed = jwks_kids(&h).await;
                assert_eq!(listed[0], current, "the new key is listed first, at once");
                retired.retain(|kid| *kid != current);
                for kid in &retired {
                    assert!(listed.contains(kid), "retired {kid} still listed");
                }
                retired.push(current);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            done_after(&seen, &keys.signing_kid()).await;
        })
    };
    rotator.await.unwrap();
    done.store(true, Ordering::SeqCst);

    let mut all = Vec::new();
    for worker in workers {
        let (tokens, pair) = worker.await.unwrap();
        // Each worker's latest refresh token still refreshes.
        let res = h.refresh(&pair.refresh_token).await;
        assert_eq!(res.status, 200, "{}", res.text());
        all.extend(tokens);
    }
    // Tokens signed before, during and after the rotations all verify.
    let kids: BTreeSet<String> = all.iter().map(|t| kid_of(t)).collect();
    assert_eq!(kids.len(), 4, "tokens of every key: {kids:?}");
    for token in &all {
        let res = h.get("/api", Some(token)).await;
        assert_eq!(res.status, 200, "{}", res.text());
    }
    // The session started before every rotation refreshes, across four secret rotations.
    assert_eq!(keys.refresh_secrets(), 5);
    let res = h.refresh(&early.refresh_token).await;
    assert_eq!(res.status, 200, "{}", res.text());

    // They verify until they expire (one access-token lifetime), whatever the rotations ...
    h.clock.advance(Duration::from_secs(60));
    for token in all.iter().take(20) {
        h.get("/api", Some(token))
            .await
            .assert_challenge(401, "invalid_token");
    }
    // ... and the retired keys stay published until their overlap has passed.
    assert_eq!(jwks_kids(&h).await.len(), 4);
    h.clock.advance(Duration::from_secs(3600));
    let pruned = keys.prune();
    assert_eq!(pruned.keys.len(), 3, "{pruned:?}");
    assert_eq!(keys.signing_kid(), initial);
    assert_eq!(jwks_kids(&h).await, [keys.signing_kid()]);
}

/// Waits until a worker has been handed a token of `kid`.
async fn done_after(seen: &Mutex<BTreeSet<String>>, kid: &str) {
    while !seen.lock().unwrap().contains(kid) {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}
