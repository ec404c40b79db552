//! The decode-once path against the general one, token by token: headers, claims, signers,
//! key sets and rules in every combination, each token also with a broken signature. Where
//! [`verify_decoded`] decides, it must give the general path's verdict, its description, and
//! the same claims.

use std::time::{Duration, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::EncodingKey;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use super::*;
use crate::keys::SigningKey;
use crate::token::access::{KeyStatus, validation};
use crate::token::claims::NoClaims;

const ISS: &str = "https://login.example.com";
const AUD: &str = "orders";
const NOW: u64 = 1_800_000_000;

/// A key of the test directory: what signs (any header) and what verifies.
struct Key {
    signing: EncodingKey,
    alg: jsonwebtoken::Algorithm,
    verifying: crate::keys::VerifyingKey,
}

fn key(file: &str) -> Key {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/keys")
        .join(file);
    let pem = std::fs::read(&path).unwrap();
    let verifying = SigningKey::from_file(&path).unwrap().verifying_key();
    let alg = verifying.alg.to_jwt();
    let signing = match alg {
        jsonwebtoken::Algorithm::EdDSA => EncodingKey::from_ed_pem(&pem),
        _ => EncodingKey::from_ec_pem(&pem),
    }
    .unwrap();
    Key {
        signing,
        alg,
        verifying,
    }
}

fn sign(key: &Key, header: &Value, claims: &Value) -> String {
    let message = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), &key.signing, key.alg).unwrap();
    format!("{message}.{signature}")
}

/// The headers tried: ours, and every way of differing from it that matters to a check.
fn headers(alg: &str, kid: &str) -> Vec<Value> {
    let ours = json!({"alg": alg, "typ": "at+jwt", "kid": kid});
    let with = |edit: &dyn Fn(&mut Map<String, Value>)| {
        let mut header = ours.as_object().unwrap().clone();
        edit(&mut header);
        Value::Object(header)
    };
    vec![
        ours.clone(),
        with(&|h| {
            h.insert("typ".into(), json!("application/at+jwt"));
        }),
        with(&|h| {
            h.insert("typ".into(), json!("AT+JWT"));
        }),
        with(&|h| {
            h.insert("typ".into(), json!("JWT"));
        }),
        with(&|h| {
            h.remove("typ");
        }),
        with(&|h| {
            h.remove("kid");
        }),
        with(&|h| {
            h.insert("kid".into(), json!("another-kid"));
        }),
        with(&|h| {
            h.insert("alg".into(), json!("ES384"));
        }),
        with(&|h| {
            h.insert(
                "alg".into(),
                json!(if alg == "EdDSA" { "ES256" } else { "EdDSA" }),
            );
        }),
        with(&|h| {
            h.insert("alg".into(), json!("HS256"));
        }),
        with(&|h| {
            h.insert("crit".into(), json!(["b64"]));
            h.insert("b64".into(), json!(true));
        }),
        with(&|h| {
            h.insert("b64".into(), json!(false));
        }),
        with(&|h| {
            h.insert("b64".into(), json!(true));
        }),
        with(&|h| {
            h.insert("cty".into(), json!("something"));
            h.insert("extra".into(), json!({"a": 1}));
        }),
    ]
}

/// The claims tried: good ones, and every way of failing a rule.
fn claims() -> Vec<Value> {
    let good = json!({
        "sub": "user1", "jti": "j1", "iat": NOW - 10, "exp": NOW + 600, "iss": ISS, "aud": AUD
    });
    let with = |edit: &dyn Fn(&mut Map<String, Value>)| {
        let mut claims = good.as_object().unwrap().clone();
        edit(&mut claims);
        Value::Object(claims)
    };
    vec![
        good.clone(),
        with(&|c| {
            c.insert("exp".into(), json!(NOW - 1));
        }),
        with(&|c| {
            c.insert("nbf".into(), json!(NOW + 60));
        }),
        with(&|c| {
            c.insert("nbf".into(), json!(NOW - 60));
        }),
        with(&|c| {
            c.insert("iat".into(), json!(NOW + 60));
        }),
        with(&|c| {
            c.insert("iss".into(), json!("https://elsewhere.example"));
        }),
        with(&|c| {
            c.remove("iss");
        }),
        with(&|c| {
            c.insert("iss".into(), json!([ISS]));
        }),
        with(&|c| {
            c.insert("aud".into(), json!(["other", AUD]));
        }),
        with(&|c| {
            c.insert("aud".into(), json!(["other"]));
        }),
        with(&|c| {
            c.insert("aud".into(), json!([]));
        }),
        with(&|c| {
            c.remove("aud");
        }),
        with(&|c| {
            c.remove("sub");
        }),
        with(&|c| {
            c.remove("jti");
        }),
        with(&|c| {
            c.insert("exp".into(), json!(1.8e9));
        }),
        with(&|c| {
            c.insert("exp".into(), json!("soon"));
        }),
        with(&|c| {
            c.insert("sid".into(), json!("not one of ours"));
            c.insert("role".into(), json!("admin"));
            c.insert("cnf".into(), json!({"jkt": "abc"}));
        }),
        json!("not an object"),
    ]
}

/// Verifies `token` both ways as claims `C` and panics unless they agree; whether the
/// decode-once path decided it, and whether it was accepted.
fn agree<C: DeserializeOwned + std::fmt::Debug>(
    verifiers: &[Verifier],
    token: &str,
) -> (bool, bool) {
    let now = UNIX_EPOCH + Duration::from_secs(NOW);
    let general = verify_with::<C>(verifiers, token, now, 0);
    let Ok(decoded) = Decoded::new(token) else {
        assert!(general.is_err(), "{token}");
        return (false, false);
    };
    let Some(claims) = decoded.parse_claims::<C>() else {
        return (false, general.is_ok());
    };
    let decided = decide(verifiers, &decoded, claims, now, 0);
    if let Some(verdict) = &decided {
        assert_eq!(
            format!("{verdict:?}"),
            format!("{general:?}"),
            "the paths disagree on {token}"
        );
    }
    let once = decoded
        .parse_claims::<C>()
        .map(|claims| verify_decoded(verifiers, &decoded, claims, now, 0));
    assert_eq!(format!("{once:?}"), format!("{:?}", Some(&general)));
    (decided.is_some(), general.is_ok())
}

#[test]
fn the_decode_once_path_gives_the_general_paths_verdicts() {
    let keys = [
        key("es256.pem"),
        key("ed25519.pem"),
        key("foreign-es256.pem"),
    ];
    // Tokens this path decided: accepted, refused.
    let (mut accepted, mut refused) = (0, 0);
    for (issuer, audiences) in [(Some(ISS), vec![AUD.to_owned()]), (None, vec![])] {
        let under = |k: &Key| {
            Verifier::new(
                k.verifying.clone(),
                KeyStatus::Kept,
                validation(&[k.verifying.alg], issuer, &audiences),
            )
        };
        let sets: Vec<Vec<Verifier>> = vec![
            vec![under(&keys[0])],
            vec![under(&keys[1])],
            keys.iter().map(under).collect(),
        ];
        for signer in &keys {
            let alg = format!("{:?}", signer.alg);
            for header in headers(&alg, &signer.verifying.kid) {
                for claims in claims() {
                    let token = sign(signer, &header, &claims);
                    // The same token with a signature that does not verify.
                    let mut broken = token.clone().into_bytes();
                    let last = broken.len() - 2;
                    broken[last] = if broken[last] == b'A' { b'B' } else { b'A' };
                    let broken = String::from_utf8(broken).unwrap();
                    for set in &sets {
                        for token in [&token, &broken] {
                            let (fast, ok) = agree::<NoClaims>(set, token);
                            let (fast_map, ok_map) = agree::<Map<String, Value>>(set, token);
                            assert_eq!((fast, ok), (fast_map, ok_map), "{token}");
                            accepted += usize::from(fast && ok);
                            refused += usize::from(fast && !ok);
                        }
                    }
                }
            }
        }
    }
    // Not vacuous: the path decides, both ways.
    assert!(accepted > 100, "{accepted} accepted");
    assert!(refused > 100, "{refused} refused");
}

#[test]
fn a_payload_that_is_not_base64_or_not_claims_parses_to_nothing() {
    let es = key("es256.pem");
    let token = sign(
        &es,
        &json!({"alg": "ES256", "typ": "at+jwt"}),
        &json!({"sub": 1}),
    );
    let decoded = Decoded::new(&token).unwrap();
    assert!(decoded.payload_bytes().is_some());
    assert!(decoded.parse_claims::<NoClaims>().is_none());
    let mangled = token.replacen('.', ".*", 1);
    let decoded = Decoded::new(&mangled).unwrap();
    assert!(decoded.payload_bytes().is_none());
    assert!(decoded.parse_claims::<NoClaims>().is_none());
    for malformed in ["", "a", "a.b", "!!.b.c", "e30.b.c.d"] {
        assert!(Decoded::new(malformed).is_err(), "{malformed}");
        assert!(
            jsonwebtoken::decode_header(malformed).is_err(),
            "{malformed}"
        );
    }
    let long = format!("{token}{}", "A".repeat(MAX_TOKEN_LEN));
    assert_eq!(
        Decoded::new(&long).err().map(|e| e.to_string()),
        Some(invalid_token("the token is too long").to_string())
    );
}
