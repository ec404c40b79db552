//! DPoP proofs (RFC 9449 §4.3, docs/protocol.md §10) through the public API: the parser and
//! the whole check against a request, and the replay memory behind it.
//!
//! The layer has DPoP optional, its public URL `https://api.example.com`, and one session
//! bound to the world's one DPoP key K. Input: byte 0 picks the request — bit 0 clear, a login
//! or refresh (`POST /token`, checked by `RefreshAuth::verify_dpop`, spent by `issue_with`);
//! set, a protected request (`GET /api/data` with the bound access token, checked and spent
//! by `RefreshAuth::authenticate`) — and the shape of the rest: bit 1 set, it is
//! `header\nclaims`, raw bytes, signed here by K (so the fuzzer gets past the signature to
//! the header and claims checks); clear, it is the `DPoP` header's value itself. Placeholders
//! as in the crate docs, and `@JWK@` (K's public JWK), `@PROOF@` (a genuine proof by K for
//! the request), `@ATH@` (the access token's hash), `@HTU@` (the request's URL).
//!
//! The contract, beyond never panicking: a proof that is accepted was signed by K (its
//! thumbprint is K's: nothing unsigned, HMACed or signed by another key passes); it is a
//! three-part JWT whose header says `dpop+jwt`, names an allowed algorithm and carries no
//! private key member and no `crit`; its claims name the request's method, a URL of the
//! layer's host (its query and fragment ignored), an `iat` within the 60 s window of the clock, a
//! non-empty `jti`, and on the protected request the access token's hash; and it is good
//! once — the second use of the same proof is refused as a replay.
#![no_main]

use tower_refresh_auth::dpop::Dpop;
use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{HeaderMap, HeaderValue, Method, Uri};
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};
use tower_refresh_auth::session::SessionMetadata;
use tower_refresh_auth::{AuthError, NoClaims};
use tower_refresh_auth_fuzz::{World, block_on, t0};
use tower_refresh_auth_test_support::dpop::{DpopKey, ath};

const ORIGIN: &str = "https://api.example.com";
const WINDOW_SECS: u64 = 60;

/// K: made once, its key generation is the slowest thing here.
fn key() -> &'static DpopKey {
    static KEY: OnceLock<DpopKey> = OnceLock::new();
    KEY.get_or_init(DpopKey::es256)
}

fn now_secs() -> u64 {
    t0().duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A genuine proof by K for `method` at `htu`, at the world's time.
fn genuine(method: &str, htu: &str, access_token: Option<&str>) -> String {
    let k = key();
    let mut claims = k.claims(method, htu, access_token);
    claims["iat"] = json!(now_secs());
    k.sign(&k.header(), &claims)
}

fn replace(input: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut rest = input;
    while !rest.is_empty() {
        if rest.starts_with(from) {
            out.extend_from_slice(to);
            rest = &rest[from.len()..];
        } else {
            out.push(rest[0]);
            rest = &rest[1..];
        }
    }
    out
}

fn part(b64: &str) -> Value {
    let bytes = URL_SAFE_NO_PAD
        .decode(b64)
        .expect("an accepted proof's parts are base64url");
    serde_json::from_slice(&bytes).expect("an accepted proof's parts are JSON")
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let protected = mode & 1 == 1;
    let signed = mode & 2 == 2;
    let world = World::with(|b| b.dpop(Dpop::optional().origin(ORIGIN)));
    let k = key();

    // The session bound to K, from a genuine login.
    let login = Uri::from_static("/token");
    let mut headers = HeaderMap::new();
    let login_proof = genuine("POST", &format!("{ORIGIN}/token"), None);
    headers.insert("dpop", HeaderValue::from_str(&login_proof).expect("ascii"));
    let proof = block_on(world.auth.verify_dpop(&Method::POST, &login, &headers))
        .expect("a genuine proof verifies")
        .expect("and is there");
    let bound = block_on(world.auth.issue_with(
        "fuzz-bound",
        NoClaims {},
        SessionMetadata::new().with_dpop(Some(proof)),
    ))
    .expect("a genuine login starts a session");
    let access_token = bound.access_token.clone();

    let (method, uri, htu) = if protected {
        (
            Method::GET,
            Uri::from_static("/api/data"),
            format!("{ORIGIN}/api/data"),
        )
    } else {
        (
            Method::POST,
            Uri::from_static("/token"),
            format!("{ORIGIN}/token"),
        )
    };
    let token_for_ath = protected.then_some(access_token.as_str());

    let mut input = world.substitute(rest);
    let jwk = serde_json::to_vec(k.jwk()).expect("a JWK serialises");
    input = replace(&input, b"@JWK@", &jwk);
    input = replace(&input, b"@ATH@", ath(&access_token).as_bytes());
    input = replace(&input, b"@HTU@", htu.as_bytes());
    if input.windows(7).any(|w| w == b"@PROOF@") {
        let proof = genuine(method.as_str(), &htu, token_for_ath);
        input = replace(&input, b"@PROOF@", proof.as_bytes());
    }
    let value = if signed {
        let at = input
            .iter()
            .position(|&b| b == b'\n')
            .unwrap_or(input.len());
        let claims = input.get(at + 1..).unwrap_or_default();
        k.sign_raw(&input[..at], claims)
    } else {
        match String::from_utf8(input) {
            Ok(value) => value,
            Err(_) => return,
        }
    };
    let Ok(header_value) = HeaderValue::from_str(&value) else {
        return;
    };
    let mut headers = HeaderMap::new();
    headers.insert("dpop", header_value);
    if protected {
        let auth = HeaderValue::from_str(&format!("DPoP {access_token}")).expect("ascii");
        headers.insert(http::header::AUTHORIZATION, auth);
    }

    let accepted = if protected {
        match block_on(world.auth.authenticate(&method, &uri, &headers)) {
            Ok(claims) => {
                assert_eq!(claims.sid, Some(bound.session_id));
                // Spent: the same request again is a replay.
                let again = block_on(world.auth.authenticate(&method, &uri, &headers));
                assert!(
                    matches!(again, Err(AuthError::Dpop(_))),
                    "a protected request's proof was accepted twice: {value}"
                );
                Some(k.thumbprint())
            }
            Err(_) => None,
        }
    } else {
        match block_on(world.auth.verify_dpop(&method, &uri, &headers)) {
            Ok(Some(proof)) => {
                let jkt = proof.thumbprint().to_owned();
                // Not spent by the check; spent by the session it starts, once.
                let metadata = SessionMetadata::new().with_dpop(Some(proof));
                block_on(world.auth.issue_with("fuzz", NoClaims {}, metadata.clone()))
                    .expect("a verified, unspent proof starts a session");
                let again = block_on(world.auth.issue_with("fuzz", NoClaims {}, metadata));
                assert!(
                    matches!(again, Err(AuthError::Dpop(_))),
                    "a login proof started two sessions: {value}"
                );
                Some(jkt)
            }
            Ok(None) => {
                // Optional mode: only a request without a proof has none.
                panic!("a request with a DPoP header was taken as one without: {value}");
            }
            Err(_) => None,
        }
    };
    let Some(jkt) = accepted else {
        return;
    };

    // Signed by K, and by nothing else.
    assert_eq!(
        jkt,
        k.thumbprint(),
        "a proof not by K was accepted: {value}"
    );
    let mut parts = value.split('.');
    let (Some(h), Some(c), Some(_sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        panic!("an accepted proof is not a three-part JWT: {value}");
    };
    let (header, claims) = (part(h), part(c));
    let typ = header["typ"].as_str().expect("typ").to_ascii_lowercase();
    assert_eq!(typ, "dpop+jwt", "{header}");
    let alg = header["alg"].as_str().expect("alg");
    assert!(
        ["ES256", "ES384", "EdDSA", "Ed25519"].contains(&alg),
        "{header}"
    );
    assert!(header.get("crit").is_none(), "{header}");
    let jwk = header["jwk"].as_object().expect("a jwk");
    for private in ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] {
        assert!(!jwk.contains_key(private), "{header}");
    }
    assert_eq!(claims["htm"], method.as_str(), "{claims}");
    // RFC 9449 §4.3 step 9: compared without its query and fragment.
    let htu = claims["htu"].as_str().expect("htu");
    let htu = htu.split(['?', '#']).next().unwrap_or_default();
    assert!(
        htu.to_ascii_lowercase().contains("api.example.com"),
        "{claims}"
    );
    let iat = claims["iat"].as_f64().expect("iat is a number");
    assert!(
        (iat - now_secs() as f64).abs() <= WINDOW_SECS as f64 + 1.0,
        "{claims}"
    );
    assert!(
        claims["jti"].as_str().is_some_and(|j| !j.is_empty()),
        "{claims}"
    );
    if protected {
        assert_eq!(claims["ath"], ath(&access_token), "{claims}");
    }
});
