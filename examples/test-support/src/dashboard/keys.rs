//! Signing keys of a dashboard binary: key files refused at start or signing tokens that
//! verify with the published key alone.

use std::io::{BufRead, BufReader, Read};

use crate::{Running, command, json_string, test_key};

/// A key file that cannot sign stops the server at start: the message names the variable,
/// the file and what is wrong with it, and shows nothing the file holds.
pub fn bad_key_files_stop_it_at_start_naming_the_variable_and_the_file(bin: &str) {
    for (file, problem) in [
        ("missing.pem", "cannot be read"),
        ("README.md", "not a private key"),
        ("cert.pem", "certificate"),
        ("es256.pub.pem", "a public key"),
        ("p521.pem", "P-521 is not supported"),
    ] {
        let path = test_key(file);
        let output = command(bin, &[("JWT_PRIVATE_KEY_FILE", &path)])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{file} was accepted");
        assert!(
            stderr.contains(&format!("JWT_PRIVATE_KEY_FILE: {path}: ")),
            "{file}: {stderr}"
        );
        assert!(stderr.contains(problem), "{file}: {stderr}");
        assert!(output.stdout.is_empty(), "{file} printed to stdout");
        if let Ok(text) = std::fs::read_to_string(&path) {
            for line in text
                .lines()
                .filter(|l| l.len() > 16 && !l.starts_with("-----"))
            {
                assert!(!stderr.contains(line), "{file}: key material in {stderr}");
            }
        }
    }
}

/// With `JWT_PRIVATE_KEY_FILE` alone the server starts, warning that refresh tokens die with
/// it: no `REFRESH_TOKEN_SECRET` (nor `JWT_SECRET`) to key them with across restarts.
pub fn a_key_file_alone_starts_with_a_warning_about_the_refresh_secret(bin: &str) {
    let es256 = test_key("es256.pem");
    let mut child = command(bin, &[("PORT", "0"), ("JWT_PRIVATE_KEY_FILE", &es256)])
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(
        line.starts_with("listening on http://"),
        "{line:?}; {stderr}"
    );
    assert!(stderr.contains("REFRESH_TOKEN_SECRET"), "{stderr}");
    assert!(!stderr.contains("JWT_SECRET is unset"), "{stderr}");
}

/// `JWT_PRIVATE_KEY_FILE`: the access token verifies with `jsonwebtoken` given only the JWK
/// fetched from `/.well-known/jwks.json`, which carries no private parameter and may be
/// cached; `/token` still rotates the refresh token.
pub fn a_key_file_signs_tokens_that_verify_with_the_published_key_alone(bin: &str) {
    let es256 = test_key("es256.pem");
    let server = Running::start(
        bin,
        &[
            ("JWT_PRIVATE_KEY_FILE", &es256),
            (
                "REFRESH_TOKEN_SECRET",
                "a refresh-token secret of 32+ bytes",
            ),
        ],
    );
    let login = server.login("user1", "password1");
    assert_eq!(login.status, 200, "{login:?}");
    let pair: serde_json::Value = serde_json::from_str(&login.body).unwrap();
    let access = pair["accessToken"].as_str().unwrap();

    let jwks = server.send("GET", "/.well-known/jwks.json", &[], "");
    assert_eq!(jwks.status, 200, "{jwks:?}");
    assert_eq!(jwks.header("content-type"), Some("application/json"));
    let max_age: u64 = jwks
        .header("cache-control")
        .and_then(|v| v.strip_prefix("public, max-age="))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{jwks:?}"));
    assert!(max_age > 0, "{jwks:?}");
    let set: serde_json::Value = serde_json::from_str(&jwks.body).unwrap();
    let [jwk] = set["keys"].as_array().unwrap().as_slice() else {
        panic!("one key expected: {set}");
    };
    for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
        assert!(jwk.get(private).is_none(), "{private} in {jwk}");
    }
    assert_eq!(jwk["kty"], "EC", "{jwk}");
    assert_eq!(jwk["crv"], "P-256", "{jwk}");
    assert_eq!(jwk["alg"], "ES256", "{jwk}");

    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwk.clone()).unwrap();
    let header = jsonwebtoken::decode_header(access).unwrap();
    assert_eq!(header.kid.as_ref(), jwk.common.key_id.as_ref());
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.set_required_spec_claims(&["exp", "sub"]);
    let claims = jsonwebtoken::decode::<serde_json::Value>(
        access,
        &jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap(),
        &validation,
    )
    .unwrap()
    .claims;
    assert_eq!(claims["sub"], "user1");
    // A foreign key's JWK does not verify it: the check above could fail.
    let foreign = jsonwebtoken::EncodingKey::from_ec_pem(
        &std::fs::read(test_key("foreign-es256.pem")).unwrap(),
    )
    .unwrap();
    let foreign =
        jsonwebtoken::jwk::Jwk::from_encoding_key(&foreign, jsonwebtoken::Algorithm::ES256)
            .unwrap();
    assert!(
        jsonwebtoken::decode::<serde_json::Value>(
            access,
            &jsonwebtoken::DecodingKey::from_jwk(&foreign).unwrap(),
            &validation,
        )
        .is_err()
    );

    // The API takes the token; /token rotates under the refresh secret.
    let bearer = format!("Bearer {access}");
    let api = server.send("GET", "/api/dashboard", &[("Authorization", &bearer)], "");
    assert_eq!(api.status, 200, "{api:?}");
    let spent = pair["refreshToken"].as_str().unwrap();
    let body = format!(r#"{{"refreshToken":{}}}"#, json_string(spent));
    let refreshed = server.send(
        "POST",
        "/token",
        &[("Content-Type", "application/json")],
        &body,
    );
    assert_eq!(refreshed.status, 200, "{refreshed:?}");
    let next: serde_json::Value = serde_json::from_str(&refreshed.body).unwrap();
    assert_ne!(next["refreshToken"], pair["refreshToken"]);
    let next_access = next["accessToken"].as_str().unwrap();
    assert!(
        jsonwebtoken::decode::<serde_json::Value>(
            next_access,
            &jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap(),
            &validation,
        )
        .is_ok()
    );
}

/// Without a key file there is nothing to publish: no JWKS route, the path is guarded.
pub fn without_a_key_file_there_is_no_jwks_route(bin: &str) {
    let server = Running::start(bin, &[]);
    let jwks = server.send("GET", "/.well-known/jwks.json", &[], "");
    assert_eq!(jwks.status, 401, "{jwks:?}");
}
