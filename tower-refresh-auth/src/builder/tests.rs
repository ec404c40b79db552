//! The builder's checks: every refused configuration names its fix.

use super::*;
use crate::NoClaims;
use crate::dpop::Dpop;
use crate::keys::{Algorithm, Jwks};
use crate::transport::CookieTransport;

const SECRET: &[u8] = b"a configuration test secret of 32+ bytes";

fn builder() -> RefreshAuthBuilder<NoClaims> {
    RefreshAuth::<NoClaims>::builder().hs256(SECRET.to_vec())
}

#[track_caller]
fn refused(b: RefreshAuthBuilder<NoClaims>, hint: &str) {
    let err = b.build().unwrap_err().to_string();
    assert!(err.contains(hint), "{err:?} should mention {hint:?}");
}

#[test]
fn defaults_build() {
    assert!(builder().build().is_ok());
}

#[test]
fn weak_configuration_is_refused_with_a_fix() {
    refused(RefreshAuth::<NoClaims>::builder(), ".hs256(secret)");
    refused(builder().hs256(vec![1; 31]), "at least 32 bytes");
    refused(builder().hs512(vec![1; 63]), "at least 64 bytes");
    refused(builder().access_ttl(Duration::ZERO), "access_ttl");
    refused(
        builder().access_ttl(Duration::from_millis(999)),
        "at least one second",
    );
    refused(builder().refresh_ttl(Duration::ZERO), "refresh_ttl");
    refused(
        builder()
            .refresh_ttl(Duration::from_secs(5))
            .reuse_grace(Duration::from_secs(5)),
        "grace window",
    );
    refused(
        builder().session_lifetime(Duration::from_secs(60)),
        "raise `.session_lifetime(…)`",
    );
    refused(builder().refresh_path("token"), "must start with '/'");
    refused(builder().public_path("login"), "must start with '/'");
    refused(builder().logout_path("/token"), "must differ");
    refused(builder().sessions_path("/token"), "must differ");
    refused(builder().sessions_path("sessions"), "must start with '/'");
    refused(builder().sessions_path("/sessions/"), "\"/sessions/\"");
    refused(builder().sessions_path("/"), "invalid path \"/\"");
    refused(builder().realm("a\"b"), "realm");
    refused(
        builder().transport(CookieTransport::new().name("a;b")),
        "cookie name",
    );
    refused(
        builder().access_token_cookie(""),
        "access-token cookie name",
    );
    refused(
        builder().transport(CookieTransport::new().csrf_header("bad header")),
        "CSRF header",
    );
    refused(
        builder().transport(CookieTransport::new().csrf_header("Content-Type")),
        "sent by browsers",
    );
    refused(
        builder().transport(CookieTransport::new().csrf_header("sec-fetch-site")),
        "sent by browsers",
    );
    let ten_years = Duration::from_secs(315_576_000);
    let beyond = ten_years + Duration::from_secs(1);
    refused(builder().access_ttl(beyond), "`access_ttl` is longer than");
    refused(
        builder().refresh_ttl(beyond),
        "`refresh_ttl` is longer than",
    );
    refused(
        builder()
            .refresh_ttl(Duration::from_secs(3600))
            .reuse_grace(beyond),
        "`reuse_grace` is longer than",
    );
    refused(builder().session_lifetime(beyond), "`session_lifetime`");
    refused(
        builder().max_sessions_per_subject(0),
        "`max_sessions_per_subject(0)` is out of bounds: it must be from 1 to 10000",
    );
    refused(
        builder().max_sessions_per_subject(10_001),
        "leave it unset for the default of 100",
    );
    assert!(builder().max_sessions_per_subject(1).build().is_ok());
    assert!(builder().max_sessions_per_subject(10_000).build().is_ok());
    refused(builder().leeway(beyond), "`leeway`");
    refused(
        builder().refresh_ttl(Duration::from_secs(300_000_000_000 * 31_557_600)),
        "`refresh_ttl`",
    );
    assert!(
        builder()
            .access_ttl(ten_years)
            .refresh_ttl(ten_years)
            .session_lifetime(ten_years)
            .build()
            .is_ok()
    );
    refused(
        builder().refresh_secret(vec![1; 16]),
        "refresh-token secret is 16 bytes",
    );
    refused(
        builder()
            .signing_key(SigningKey::hmac(Algorithm::HS256, SECRET.to_vec()).with_kid("k"))
            .previous_key(VerifyingKey::hmac(Algorithm::HS256, vec![2; 32]).with_kid("k")),
        "share the kid",
    );
}

#[test]
fn dpop_settings_are_checked() {
    refused(
        builder().dpop(DpopMode::Optional),
        "add `.origin(\"https://api.example.com\")` to the `Dpop` settings",
    );
    let on = |dpop: Dpop| builder().dpop(dpop);
    let required = || Dpop::required().origin("https://api.example.com");
    assert!(on(required()).build().is_ok());
    assert!(
        on(Dpop::new(DpopMode::Off).origin("nonsense"))
            .build()
            .is_ok()
    );
    refused(on(required().origin("ftp://x")), "http or https URL");
    refused(
        on(required().origin_from_host("gopher")),
        "http or https URL",
    );
    refused(on(required().window(Duration::ZERO)), "proof window");
    refused(
        on(required().window(Duration::from_secs(301))),
        "proof window",
    );
    refused(
        on(required().algorithms([Algorithm::HS256])),
        "never `none` or an HMAC",
    );
    refused(on(required().algorithms([Algorithm::RS256])), "RS256");
    refused(on(required().algorithms([])), "ES256, ES384 or EdDSA");
    refused(on(required().nonces(Duration::ZERO)), "proof window");
    assert!(
        on(required().nonces(Duration::from_secs(60)))
            .build()
            .is_ok()
    );
}

#[test]
fn key_publishing_and_overlap_are_checked() {
    refused(builder().jwks(Jwks::new()), "is an HMAC secret");
    let es256 = || {
        RefreshAuth::<NoClaims>::builder()
            .signing_key(
                SigningKey::from_file(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/keys/es256.pem"))
                    .unwrap(),
            )
            .refresh_secret(SECRET.to_vec())
    };
    assert!(es256().jwks(Jwks::new()).build().is_ok());
    refused(
        es256()
            .jwks(Jwks::new())
            .previous_key(VerifyingKey::hmac(Algorithm::HS256, vec![2; 32])),
        "is an HMAC secret",
    );
    refused(
        es256().jwks(Jwks::new().path("jwks.json")),
        "must start with '/'",
    );
    refused(es256().jwks(Jwks::new().path("/token")), "must differ");
    refused(
        builder()
            .access_ttl(Duration::from_secs(60))
            .leeway(Duration::from_secs(5))
            .key_overlap(Duration::from_secs(64)),
        "the key overlap (64s) is shorter than an access token lives (65s",
    );
    refused(
        es256().jwks(Jwks::new().max_age(Duration::from_secs(61))),
        "lower `Jwks::max_age(…)`",
    );
    let auth = es256()
        .jwks(Jwks::new())
        .key_overlap(Duration::from_secs(7200))
        .build()
        .unwrap();
    // The default max-age is the overlap, capped at ten minutes.
    assert_eq!(auth.shared.http.jwks_cache_control, "public, max-age=600");
    let auth = es256().jwks(Jwks::new()).build().unwrap();
    assert_eq!(auth.shared.http.jwks_cache_control, "public, max-age=60");
}
