//! The fast path against the general one, token by token: the oracle the differential
//! property test (below) and the `access_token_fast_path` fuzz target share. Built for tests
//! and for `cargo fuzz` (`--cfg fuzzing`, exported as `tower_refresh_auth::fuzzing`); not
//! part of the API.

use std::time::SystemTime;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac as _};
use serde_json::{Map, Value};
use sha2::Sha256;

use super::super::access::{
    KeyStatus, MAX_TOKEN_LEN, Verifier, validation, verify_general, verify_with,
};
use super::super::claims::{Claims, NoClaims};
use crate::keys::{Algorithm, VerifyingKey};

/// HS256 keys as a key set of the issuing layer holds them, and the checks that hold the
/// fast path to the general one.
#[derive(Debug)]
pub struct Oracle {
    verifiers: Vec<Verifier>,
    secrets: Vec<Vec<u8>>,
    leeway_ms: u64,
}

/// What [`Oracle::check`] saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// The fast path gave the verdict (else it deferred to the general path).
    pub fast: bool,
    /// The token verified.
    pub accepted: bool,
}

impl Oracle {
    /// One HS256 key per `(secret, kid)`, the first the signing one, under the rules a
    /// layer with this `issuer` and `audience` applies.
    pub fn new(
        keys: &[(&[u8], &str)],
        issuer: Option<&str>,
        audience: Option<&str>,
        leeway_ms: u64,
    ) -> Self {
        // `check` calls `jsonwebtoken::decode`, which needs a provider installed: with both
        // backends' features on (`--all-features`) none is chosen for it.
        crate::crypto_backend::ensure().expect("a crypto backend");
        let audiences: Vec<String> = audience.map(str::to_owned).into_iter().collect();
        let verifiers = keys
            .iter()
            .enumerate()
            .map(|(i, (secret, kid))| {
                let key = VerifyingKey::hmac(Algorithm::HS256, secret.to_vec()).with_kid(*kid);
                let status = if i == 0 {
                    KeyStatus::Current
                } else {
                    KeyStatus::Kept
                };
                Verifier::new(
                    key,
                    status,
                    validation(&[Algorithm::HS256], issuer, &audiences),
                )
            })
            .collect();
        Self {
            verifiers,
            secrets: keys.iter().map(|(secret, _)| secret.to_vec()).collect(),
            leeway_ms,
        }
    }

    /// A token of `header` and `claims` (raw JSON) signed with key `key`'s secret (modulo
    /// the number of keys): what a holder of the secret could make.
    pub fn sign(&self, key: usize, header: &[u8], claims: &[u8]) -> String {
        let message = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(claims)
        );
        self.sign_message(key, message)
    }

    /// A token whose header is the one key `key` writes, with `claims` (raw JSON).
    pub fn genuine(&self, key: usize, claims: &[u8]) -> String {
        self.with_header_of(key, key, claims)
    }

    /// A token with the header key `header` writes and `claims`, signed with key `signer`'s
    /// secret (key indices are taken modulo the number of keys).
    pub fn with_header_of(&self, header: usize, signer: usize, claims: &[u8]) -> String {
        let prefix = self.verifiers[header % self.verifiers.len()]
            .fast
            .as_ref()
            .map_or("", |fast| &fast.prefix);
        let message = format!("{prefix}{}", URL_SAFE_NO_PAD.encode(claims));
        self.sign_message(signer, message)
    }

    fn sign_message(&self, key: usize, message: String) -> String {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.secrets[key % self.secrets.len()])
        else {
            return message;
        };
        mac.update(message.as_bytes());
        let tag = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{message}.{tag}")
    }

    /// Verifies `token` at `now` both ways, with the application's claims as a JSON object
    /// and as none, and panics unless the paths agree: where the fast path decides, the
    /// same verdict (and description) as the general path; where it accepts, the same claims
    /// as `jsonwebtoken::decode` with the key's `Validation`; and `verify_with` (the fast path,
    /// then the general one) always as the general path.
    pub fn check(&self, token: &str, now: SystemTime) -> Outcome {
        let with_map = self.check_as::<Map<String, Value>>(token, now);
        let with_none = self.check_as::<NoClaims>(token, now);
        assert_eq!(with_map.accepted, with_none.accepted, "{token}");
        with_map
    }

    fn check_as<C>(&self, token: &str, now: SystemTime) -> Outcome
    where
        C: serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
    {
        let described = |r: Result<Claims<C>, crate::AuthError>| r.map_err(|e| e.to_string());
        let general = described(verify_general::<C>(
            &self.verifiers,
            token,
            now,
            self.leeway_ms,
        ));
        // `verify_with` refuses an over-long token before it asks the fast path, so the fast
        // path is held to the general one only for the tokens it is ever given.
        let fast = (token.len() <= MAX_TOKEN_LEN)
            .then(|| super::verify::<C>(&self.verifiers, token, now, self.leeway_ms))
            .flatten()
            .map(described);
        let combined = described(verify_with::<C>(
            &self.verifiers,
            token,
            now,
            self.leeway_ms,
        ));
        assert_eq!(combined, general, "verify_with differs: {token}");
        if let Some(fast) = &fast {
            assert_eq!(fast, &general, "the fast path differs: {token}");
        }
        if let Some(Ok(claims)) = &fast {
            let key = self
                .verifiers
                .iter()
                .find(|v| {
                    v.fast
                        .as_ref()
                        .is_some_and(|f| token.starts_with(&*f.prefix))
                })
                .expect("the fast path accepted under a key whose header the token has");
            let decoded =
                jsonwebtoken::decode::<Claims<C>>(token, &key.key.decoding, &key.validation)
                    .unwrap_or_else(|e| {
                        panic!("decode refused what the fast path accepted ({e}): {token}")
                    });
            assert_eq!(&decoded.claims, claims, "decode's claims differ: {token}");
        }
        Outcome {
            fast: fast.is_some(),
            accepted: general.is_ok(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use proptest::prelude::*;

    use super::*;

    const NOW: u64 = 1_800_000_000;
    const SECRET: &[u8] = b"the differential secret, 32 bytes or more";
    const OTHER: &[u8] = b"another key's secret, also 32 bytes or more";

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn oracles() -> Vec<Oracle> {
        vec![
            Oracle::new(&[(SECRET, "k1")], None, None, 0),
            Oracle::new(
                &[(SECRET, "k1"), (OTHER, "k0")],
                Some("https://issuer.example"),
                Some("api"),
                30_000,
            ),
            // Two keys of one kid: the general path takes the first.
            Oracle::new(&[(OTHER, "k1"), (SECRET, "k1")], None, None, 0),
        ]
    }

    fn claims_json(exp: u64, extra: &str) -> String {
        format!(
            r#"{{"sub":"alice","sid":"c2lkLXNpZC1zaWQtc2lkIQ","jti":"j","iat":{},"exp":{exp},"iss":"https://issuer.example","aud":"api","auth_time":{}{extra}}}"#,
            NOW - 10,
            NOW - 100
        )
    }

    #[test]
    fn the_layers_own_tokens_take_the_fast_path() {
        for oracle in oracles() {
            let token = oracle.genuine(0, claims_json(NOW + 60, "").as_bytes());
            let outcome = oracle.check(&token, at(NOW));
            assert!(outcome.fast && outcome.accepted, "{outcome:?}");
        }
    }

    #[test]
    fn claims_too_large_for_the_stack_buffer_take_the_fast_path_too() {
        // The payload is decoded on the stack up to 1024 bytes, on the heap beyond.
        for len in [900, 1024 - 180, 1024, 5000] {
            let extra = format!(r#","note":"{}""#, "n".repeat(len));
            for oracle in oracles() {
                let token = oracle.genuine(0, claims_json(NOW + 60, &extra).as_bytes());
                let outcome = oracle.check(&token, at(NOW));
                assert!(outcome.fast && outcome.accepted, "{len}: {outcome:?}");
            }
        }
    }

    /// Found by the fuzz target: an over-long token never reaches the fast path
    /// (`verify_with` refuses it first), so the oracle does not ask it either.
    #[test]
    fn an_over_long_token_is_refused_before_the_fast_path() {
        let extra = format!(r#","note":"{}""#, "n".repeat(MAX_TOKEN_LEN));
        for oracle in oracles() {
            let token = oracle.genuine(0, claims_json(NOW + 60, &extra).as_bytes());
            assert!(token.len() > MAX_TOKEN_LEN);
            let outcome = oracle.check(&token, at(NOW));
            assert!(!outcome.fast && !outcome.accepted, "{outcome:?}");
        }
    }

    #[test]
    fn the_header_is_the_one_the_layer_signs_with() {
        let oracle = Oracle::new(&[(SECRET, "k1")], None, None, 0);
        let key = SigningKeyFixture::new();
        let header = {
            let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
            h.typ = Some("at+jwt".into());
            h.kid = Some("k1".into());
            h
        };
        let signed =
            jsonwebtoken::encode(&header, &serde_json::json!({"sub": "a"}), &key.0).expect("signs");
        let prefix = &oracle.verifiers[0].fast.as_ref().expect("HMAC").prefix;
        assert!(signed.starts_with(&**prefix), "{signed}");
    }

    struct SigningKeyFixture(jsonwebtoken::EncodingKey);

    impl SigningKeyFixture {
        fn new() -> Self {
            crate::crypto_backend::ensure().expect("a backend");
            Self(jsonwebtoken::EncodingKey::from_secret(SECRET).expect("non-empty"))
        }
    }

    #[test]
    fn refusals_match() {
        let oracle = &oracles()[1];
        let cases = [
            (claims_json(NOW - 60, ""), false), // expired, past the leeway
            (claims_json(NOW + 60, r#","nbf":1900000000"#), false), // not yet
            (claims_json(NOW + 60, r#","x":[1,{"y":null}]"#), true),
        ];
        for (claims, accepted) in cases {
            let token = oracle.genuine(0, claims.as_bytes());
            let outcome = oracle.check(&token, at(NOW));
            assert_eq!(
                outcome,
                Outcome {
                    fast: true,
                    accepted
                },
                "{claims}"
            );
        }
        // Another key's signature under our header: refused on the fast path.
        let forged = oracle.with_header_of(0, 1, claims_json(NOW + 60, "").as_bytes());
        let outcome = oracle.check(&forged, at(NOW));
        assert_eq!(
            outcome,
            Outcome {
                fast: true,
                accepted: false
            }
        );
    }

    /// Claims our tokens could carry, and ones they never do.
    fn claims_strategy() -> impl Strategy<Value = String> {
        let number = prop_oneof![
            Just(format!("{}", NOW + 60)),
            Just(format!("{}", NOW - 60)),
            Just(format!("{}.5", NOW + 60)),
            Just(format!("\"{}\"", NOW + 60)),
            Just("null".to_owned()),
            Just("-1".to_owned()),
            Just("18446744073709551616".to_owned()),
            (0u64..u64::MAX).prop_map(|n| n.to_string()),
        ];
        let text = prop_oneof![
            Just("\"alice\"".to_owned()),
            Just("\"https://issuer.example\"".to_owned()),
            Just("\"api\"".to_owned()),
            Just("[\"api\"]".to_owned()),
            Just("[\"api\",\"other\"]".to_owned()),
            Just("\"ap\\u0069\"".to_owned()),
            Just("null".to_owned()),
            Just("7".to_owned()),
            "\"[a-z]{0,8}\"".prop_map(|s| s),
        ];
        let names = prop_oneof![
            Just("sub"),
            Just("sid"),
            Just("jti"),
            Just("iat"),
            Just("exp"),
            Just("nbf"),
            Just("iss"),
            Just("aud"),
            Just("cnf"),
            Just("auth_time"),
            Just("acr"),
            Just("amr"),
            Just("role"),
        ];
        let field = (names, prop_oneof![number, text]);
        (
            any::<bool>(),
            prop::collection::vec(field, 0..6),
            prop::collection::vec(any::<bool>(), 8),
        )
            .prop_map(|(base, fields, keep)| {
                let mut parts: Vec<String> = Vec::new();
                if base {
                    let standard = [
                        r#""sub":"alice""#.to_owned(),
                        r#""sid":"c2lkLXNpZC1zaWQtc2lkIQ""#.to_owned(),
                        r#""jti":"j""#.to_owned(),
                        format!(r#""iat":{}"#, NOW - 10),
                        format!(r#""exp":{}"#, NOW + 60),
                        r#""iss":"https://issuer.example""#.to_owned(),
                        r#""aud":"api""#.to_owned(),
                        r#""cnf":{"jkt":"abc"}"#.to_owned(),
                    ];
                    parts.extend(
                        standard
                            .into_iter()
                            .zip(keep)
                            .filter(|(_, keep)| *keep)
                            .map(|(p, _)| p),
                    );
                }
                parts.extend(fields.into_iter().map(|(n, v)| format!("\"{n}\":{v}")));
                format!("{{{}}}", parts.join(","))
            })
    }

    /// A token made of a claims set, then perhaps mutated.
    fn token_strategy() -> impl Strategy<Value = (usize, String, u8, usize, u8)> {
        (
            0usize..2,
            claims_strategy(),
            0u8..8,
            any::<usize>(),
            any::<u8>(),
        )
    }

    fn make(
        oracle: &Oracle,
        (key, claims, how, at, byte): &(usize, String, u8, usize, u8),
    ) -> String {
        let key = key % oracle.secrets.len();
        let token = oracle.genuine(key, claims.as_bytes());
        let mut bytes = token.into_bytes();
        let i = at % bytes.len();
        match how {
            0 | 1 => {} // genuine
            2 => bytes[i] = *byte,
            3 => bytes.truncate(i),
            4 => bytes.insert(i, *byte),
            5 => bytes.push(b'.'),
            6 => {
                // One key's header, the other's signature.
                let other = (key + 1) % oracle.secrets.len();
                bytes = oracle
                    .with_header_of(key, other, claims.as_bytes())
                    .into_bytes();
            }
            _ => {
                // Padding, or a second signature segment.
                bytes.extend_from_slice(if *byte % 2 == 0 { b"==" } else { b".AA" });
            }
        }
        String::from_utf8_lossy(&bytes).into_owned()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn signing_writes_what_encode_writes(
            sub in "[ -~]{0,40}",
            exp in any::<u64>(),
            extra in prop::collection::btree_map("[a-z]{1,6}", "[ -~\\u{e9}\\u{1F600}]{0,12}", 0..4),
        ) {
            let oracle = Oracle::new(&[(SECRET, "k1")], None, None, 0);
            let claims = serde_json::json!({"sub": sub, "exp": exp, "extra": extra});
            let fast = oracle.verifiers[0].fast.as_ref().expect("HMAC");
            let key = SigningKeyFixture::new();
            let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
            header.typ = Some("at+jwt".into());
            header.kid = Some("k1".into());
            let encoded = jsonwebtoken::encode(&header, &claims, &key.0).expect("signs");
            prop_assert_eq!(fast.sign(&claims).expect("signs"), encoded);
        }

        #[test]
        fn the_fast_path_agrees_with_decode(case in token_strategy(), clock in 0u64..200) {
            for oracle in oracles() {
                let token = make(&oracle, &case);
                oracle.check(&token, at(NOW - 100 + clock));
            }
        }

        #[test]
        fn arbitrary_headers_and_bytes_agree(header in "[ -~]{0,80}", claims in claims_strategy(), junk in "[ -~]{0,120}") {
            for oracle in oracles() {
                oracle.check(&oracle.sign(0, header.as_bytes(), claims.as_bytes()), at(NOW));
                oracle.check(&junk, at(NOW));
            }
        }
    }
}
