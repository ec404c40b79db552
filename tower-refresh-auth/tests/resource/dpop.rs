//! DPoP at a resource server (RFC 9449 §7 and §9): bound tokens need a fresh proof of their
//! key for this server's URL, spent once; and the server's own nonces, made under a secret of
//! its own.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{Request, Response, StatusCode};
use serde_json::json;
use tower::ServiceExt as _;
use tower_refresh_auth::clock::{Clock as _, ManualClock};
use tower_refresh_auth::dpop::{Dpop, DpopMode};
use tower_refresh_auth::keys::SigningKey;
use tower_refresh_auth::resource::{Issuer, ResourceServer};
use tower_refresh_auth::session::SessionMetadata;
use tower_refresh_auth::{NoClaims, RefreshAuth};
use tower_refresh_auth_test_support::dpop::DpopKey;

use crate::{ISS, key, runtime};

const API: &str = "https://api.example.com";

/// An access token bound to `client`'s key: the issuer (DPoP optional, `clock` when given)
/// binds the session at a login with the client's proof.
fn bound_token(
    rt: &tokio::runtime::Runtime,
    key: &SigningKey,
    client: &DpopKey,
    clock: Option<&ManualClock>,
) -> String {
    let mut builder = RefreshAuth::<NoClaims>::builder()
        .signing_key(key.clone())
        .refresh_secret(b"a refresh-token secret of at least 32 bytes".to_vec())
        .issuer(ISS)
        .dpop(Dpop::optional().origin(ISS));
    if let Some(clock) = clock {
        builder = builder.clock(clock.clone());
    }
    let auth = builder.build().unwrap();
    let login = Request::post(format!("{ISS}/login"))
        .header("dpop", client.proof("POST", &format!("{ISS}/login"), None))
        .body(())
        .unwrap();
    let proof = rt
        .block_on(auth.verify_dpop(login.method(), login.uri(), login.headers()))
        .unwrap();
    rt.block_on(auth.issue_with(
        "user1",
        NoClaims {},
        SessionMetadata::new().with_dpop(proof),
    ))
    .unwrap()
    .access_token
}

/// `GET {API}/orders` through `server`'s layer, with `authorization` and the proof given; the
/// response with its body read.
fn send(
    rt: &tokio::runtime::Runtime,
    server: &ResourceServer,
    authorization: &str,
    proof: Option<String>,
) -> Response<String> {
    let svc = tower::ServiceBuilder::new()
        .layer(server.layer())
        .service(tower::service_fn(|_req: Request<String>| async {
            Ok::<_, std::convert::Infallible>(Response::new(String::new()))
        }));
    let mut req = Request::get(format!("{API}/orders")).header("authorization", authorization);
    if let Some(proof) = proof {
        req = req.header("dpop", proof);
    }
    rt.block_on(async {
        let res = svc.oneshot(req.body(String::new()).unwrap()).await.unwrap();
        let (parts, body) = res.into_parts();
        let body = http_body_util::BodyExt::collect(body)
            .await
            .unwrap()
            .to_bytes();
        Response::from_parts(parts, String::from_utf8(body.to_vec()).unwrap())
    })
}

/// DPoP-bound tokens at a resource server (RFC 9449 §7): the issuer binds the session at login,
/// the resource server checks the proof for its own URL and spends it once.
#[test]
fn dpop_bound_tokens_need_a_fresh_proof_of_their_key() {
    let rt = runtime();
    let es = key("es256.pem");
    let client = DpopKey::es256();
    let bound = bound_token(&rt, &es, &client, None);

    let build = |mode| {
        ResourceServer::<NoClaims>::builder()
            .issuer(Issuer::from_keys([es.verifying_key()]).issuer(ISS))
            .dpop(Dpop::new(mode).origin(API))
            .build()
            .unwrap()
    };
    let send = |server: &ResourceServer, scheme: &str, proof: Option<String>| {
        send(&rt, server, &format!("{scheme} {bound}"), proof)
    };
    let server = build(DpopMode::Optional);
    let good = client.proof("GET", &format!("{API}/orders"), Some(&bound));
    assert_eq!(
        send(&server, "DPoP", Some(good.clone())).status(),
        StatusCode::OK
    );
    // The same proof again: spent.
    let res = send(&server, "DPoP", Some(good));
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    // Optional mode: a Bearer challenge, and the DPoP one naming the error.
    let challenges: Vec<&str> = res
        .headers()
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert!(
        challenges
            .iter()
            .any(|c| c.starts_with("DPoP algs=\"ES256 EdDSA\"") && c.contains("invalid_dpop_proof")),
        "{challenges:?}"
    );
    // A proof for another URL, by another key, or none; the token as a bearer token.
    for (scheme, proof) in [
        (
            "DPoP",
            Some(client.proof("GET", "https://elsewhere.example/orders", Some(&bound))),
        ),
        (
            "DPoP",
            Some(DpopKey::es256().proof("GET", &format!("{API}/orders"), Some(&bound))),
        ),
        ("DPoP", None),
        ("Bearer", None),
    ] {
        assert_eq!(
            send(&server, scheme, proof).status(),
            StatusCode::UNAUTHORIZED,
            "{scheme}"
        );
    }
    // With DPoP off a bound token is refused whatever comes with it.
    let off = build(DpopMode::Off);
    let fresh = client.proof("GET", &format!("{API}/orders"), Some(&bound));
    assert_eq!(
        send(&off, "Bearer", Some(fresh)).status(),
        StatusCode::UNAUTHORIZED
    );
    // DPoP on without the service's URL: refused when built.
    let err = ResourceServer::<NoClaims>::builder()
        .issuer(Issuer::from_keys([key("es256.pem").verifying_key()]))
        .dpop(DpopMode::Required)
        .build()
        .unwrap_err();
    assert!(err.to_string().contains(".origin("), "{err}");
    // Server nonces without a secret to make them with: refused when built (the resource
    // server's own nonces are `a_resource_server_asks_for_its_own_nonces`).
    let err = ResourceServer::<NoClaims>::builder()
        .issuer(Issuer::from_keys([key("es256.pem").verifying_key()]))
        .dpop(Dpop::required().origin(API).nonces(Duration::from_secs(60)))
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("remove `.nonces(…)`"), "{err}");
}

/// RFC 9449 §9: a resource server asks for nonces of its own. A proof without one is answered
/// `401 use_dpop_nonce` with a fresh nonce in `DPoP-Nonce`; the retry with it passes; a nonce
/// two periods old, another server's, or a garbled one is asked again.
#[test]
fn a_resource_server_asks_for_its_own_nonces() {
    let rt = runtime();
    let clock = ManualClock::new(SystemTime::now());
    let es = key("es256.pem");
    let client = DpopKey::es256();
    let bound = bound_token(&rt, &es, &client, Some(&clock));
    let build = |secret: &[u8]| {
        ResourceServer::<NoClaims>::builder()
            .issuer(Issuer::from_keys([es.verifying_key()]).issuer(ISS))
            .clock(clock.clone())
            .dpop(Dpop::required().origin(API).nonces(Duration::from_secs(10)))
            .dpop_nonce_secret(secret.to_vec())
            .build()
            .unwrap()
    };
    let server = build(b"the resource server's own nonce secret");
    // A fresh proof at the shared clock's time, with `nonce` when given.
    let proof = |nonce: Option<&str>| {
        let mut claims = client.claims("GET", &format!("{API}/orders"), Some(&bound));
        let now = clock.now().duration_since(UNIX_EPOCH).unwrap().as_secs();
        claims["iat"] = json!(now);
        if let Some(nonce) = nonce {
            claims["nonce"] = json!(nonce);
        }
        client.sign(&client.header(), &claims)
    };
    let authorization = format!("DPoP {bound}");
    let call = |server: &ResourceServer, nonce: Option<&str>| {
        send(&rt, server, &authorization, Some(proof(nonce)))
    };
    // Asked for a nonce: 401, the DPoP challenge naming `use_dpop_nonce`, a nonce to use.
    let asks = |res: &Response<String>| -> String {
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{}", res.body());
        let challenge = res.headers()["www-authenticate"].to_str().unwrap();
        assert!(
            challenge.starts_with("DPoP algs=\"ES256 EdDSA\"")
                && challenge.contains("error=\"use_dpop_nonce\""),
            "{challenge}"
        );
        assert!(res.body().contains("use_dpop_nonce"), "{}", res.body());
        let nonce = res.headers()["dpop-nonce"].to_str().unwrap().to_owned();
        assert!(!nonce.is_empty());
        nonce
    };

    let nonce = asks(&call(&server, None));
    assert_eq!(call(&server, Some(&nonce)).status(), StatusCode::OK);
    // One period on the nonce is still good (so a client is not refused at a period's edge),
    // in a new proof: the nonce is no replay guard, the proof's `jti` is.
    // (The token lives 60 s: the nonces' period is 10 s here.)
    clock.advance(Duration::from_secs(10));
    assert_eq!(call(&server, Some(&nonce)).status(), StatusCode::OK);
    // Two periods on it is stale: asked again, for a new one, which passes.
    clock.advance(Duration::from_secs(11));
    let fresh = asks(&call(&server, Some(&nonce)));
    assert_ne!(fresh, nonce);
    assert_eq!(call(&server, Some(&fresh)).status(), StatusCode::OK);
    // Another server's nonce (another secret), and a garbled one: asked again.
    let other = build(b"another service's nonce secret, 32+ bytes");
    let theirs = asks(&call(&other, None));
    asks(&call(&server, Some(&theirs)));
    asks(&call(&server, Some(&format!("{fresh}A"))));
    asks(&call(&server, Some("not a nonce")));
    // The nonce is checked before the proof is spent: the retry after a refusal is not a
    // replay, and a proof that passed stays spent.
    let spent = proof(Some(&fresh));
    assert_eq!(
        send(&rt, &server, &authorization, Some(spent.clone())).status(),
        StatusCode::OK
    );
    let res = send(&rt, &server, &authorization, Some(spent));
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(res.body().contains("invalid_dpop_proof"), "{}", res.body());

    // A gRPC call is asked in its metadata: `UNAUTHENTICATED`, the nonce beside it.
    let grpc = format!("{API}/pkg.Svc/Call");
    let mut claims = client.claims("POST", &grpc, Some(&bound));
    claims["iat"] = json!(clock.now().duration_since(UNIX_EPOCH).unwrap().as_secs());
    let svc = tower::ServiceBuilder::new()
        .layer(server.layer())
        .service(tower::service_fn(|_req: Request<String>| async {
            Ok::<_, std::convert::Infallible>(Response::new(String::new()))
        }));
    let req = Request::post(&grpc)
        .header("content-type", "application/grpc")
        .header("authorization", &authorization)
        .header("dpop", client.sign(&client.header(), &claims))
        .body(String::new())
        .unwrap();
    let res = rt.block_on(svc.oneshot(req)).unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["grpc-status"], "16");
    assert!(!res.headers()["dpop-nonce"].is_empty());

    // A secret too short to key them: refused when built, nonces on or off.
    for dpop in [
        Dpop::required().origin(API).nonces(Duration::from_secs(60)),
        Dpop::required().origin(API),
    ] {
        let err = ResourceServer::<NoClaims>::builder()
            .issuer(Issuer::from_keys([es.verifying_key()]))
            .dpop(dpop)
            .dpop_nonce_secret(b"short".to_vec())
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("at least 32 bytes"), "{err}");
    }
}
