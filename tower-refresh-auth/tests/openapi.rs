//! The OpenAPI description of the layer's routes: every status the layer answers on them is
//! described, with its headers, and every JSON body it sends validates against the schema.
//! The statuses come from real requests, not from a list.
#![cfg(feature = "openapi")]
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, UNIX_EPOCH};

use common::{Harness, Role, admin, t0};
use http::{Method, Request};
use serde_json::{Value, json};
use tower_refresh_auth::RefreshAuthBuilder;
use tower_refresh_auth::adapter::Decision;
use tower_refresh_auth::dpop::Dpop;
use tower_refresh_auth::keys::{Jwks, SigningKey};
use tower_refresh_auth::session::SessionMetadata;
use tower_refresh_auth::transport::{CookieTransport, RefreshTransport};
use tower_refresh_auth_test_support::Reply;
use tower_refresh_auth_test_support::dpop::DpopKey;

/// Checks that `reply` to `method path` is described in `doc`, and that its JSON body
/// validates against the described schema.
#[track_caller]
fn described(doc: &Value, method: &str, path: &str, reply: &Reply) {
    let status = reply.status.as_str();
    let response = &doc["paths"][path][method]["responses"][status];
    assert!(
        response.is_object(),
        "{method} {path} answered {status}, which is not described: {}",
        reply.text()
    );
    for name in response["headers"]
        .as_object()
        .into_iter()
        .flat_map(|h| h.keys())
    {
        // Headers described as always there are there (Set-Cookie on a 400 only with
        // invalid_grant, DPoP-Nonce on a refusal only with use_dpop_nonce).
        let sometimes = (name == "Set-Cookie" && status == "400")
            || (name == "DPoP-Nonce" && (status == "400" || status == "401"));
        if !sometimes {
            assert!(
                reply.headers.contains_key(name.as_str()),
                "{method} {path} {status}: no {name} header"
            );
        }
    }
    match response["content"]["application/json"]["schema"].as_object() {
        Some(schema) => {
            assert_eq!(reply.header("content-type"), "application/json");
            validate(doc, &Value::Object(schema.clone()), &reply.json(), path);
        }
        None => assert!(reply.body.is_empty(), "{method} {path} {status}: a body"),
    }
}

/// A small JSON Schema check for the shapes the document uses: `$ref`, `oneOf`, objects
/// with `required`, `properties` and `additionalProperties: false`, arrays, `type`,
/// `const` and `enum`.
#[track_caller]
fn validate(doc: &Value, schema: &Value, value: &Value, at: &str) {
    if let Err(why) = check(doc, schema, value, at) {
        panic!("{why}");
    }
}

fn check(doc: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    let fail = |why: String| Err(format!("{at}: {why}"));
    if let Some(target) = schema["$ref"].as_str() {
        let name = target.trim_start_matches("#/components/schemas/");
        return check(doc, &doc["components"]["schemas"][name], value, at);
    }
    if let Some(options) = schema["oneOf"].as_array() {
        let matching = options
            .iter()
            .filter(|option| check(doc, option, value, at).is_ok())
            .count();
        if matching != 1 {
            return fail(format!("{value} matches {matching} of {options:?}"));
        }
        return Ok(());
    }
    if let Some(constant) = schema.get("const")
        && value != constant
    {
        return fail(format!("{value} is not {constant}"));
    }
    if let Some(allowed) = schema["enum"].as_array()
        && !allowed.contains(value)
    {
        return fail(format!("{value} not in {allowed:?}"));
    }
    match schema["type"].as_str() {
        Some("object") => {
            let Some(object) = value.as_object() else {
                return fail(format!("{value} is not an object"));
            };
            for name in schema["required"].as_array().into_iter().flatten() {
                if !object.contains_key(name.as_str().unwrap_or_default()) {
                    return fail(format!("no {name}"));
                }
            }
            let properties = schema["properties"]
                .as_object()
                .cloned()
                .unwrap_or_default();
            for (name, property) in object {
                match properties.get(name) {
                    Some(inner) => check(doc, inner, property, &format!("{at}.{name}"))?,
                    None if schema["additionalProperties"] == false => {
                        return fail(format!("{name} is not described"));
                    }
                    None => {}
                }
            }
        }
        Some("array") => {
            let Some(items) = value.as_array() else {
                return fail(format!("{value} is not an array"));
            };
            for item in items {
                check(doc, &schema["items"], item, at)?;
            }
        }
        Some("string") if !value.is_string() => return fail(format!("{value} is not a string")),
        Some("integer") if !value.is_u64() && !value.is_i64() => {
            return fail(format!("{value} is not an integer"));
        }
        _ => {}
    }
    Ok(())
}

async fn send(h: &Harness, method: &str, path: &str, content_type: &str, body: &str) -> Reply {
    h.send(
        Request::builder()
            .method(method)
            .uri(path)
            .header("content-type", content_type)
            .body(body.to_owned())
            .unwrap(),
    )
    .await
}

#[tokio::test]
async fn every_answer_of_the_body_transport_is_described() {
    let h = Harness::with(|b| {
        b.signing_key(
            SigningKey::from_file(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/keys/es256.pem"))
                .unwrap(),
        )
        .refresh_secret(b"the refresh-token secret, 32 bytes or more".to_vec())
        .jwks(Jwks::new())
        .body_limit(1024)
    });
    let doc = h.auth.openapi();
    let json = "application/json";
    let form = "application/x-www-form-urlencoded";
    let mut answers = Vec::new();

    let pair = h.login().await;
    let body = format!(r#"{{"refreshToken":"{}"}}"#, pair.refresh_token);
    let reply = send(&h, "POST", "/token", json, &body).await;
    let next = reply.json()["refreshToken"].as_str().unwrap().to_owned();
    answers.push(("post", "/token", reply));
    let form_body = format!("grant_type=refresh_token&refresh_token={next}");
    answers.push((
        "post",
        "/token",
        send(&h, "POST", "/token", form, &form_body).await,
    ));
    for (body, content_type) in [
        ("{}", json),
        (r#"{"refreshToken":"forged"}"#, json),
        ("grant_type=password&refresh_token=x", form),
        ("x", "text/plain"),
        (&"x".repeat(2048), json),
    ] {
        answers.push((
            "post",
            "/token",
            send(&h, "POST", "/token", content_type, body).await,
        ));
    }
    answers.push(("post", "/token", send(&h, "GET", "/token", json, "").await));

    let pair = h.login().await;
    let body = format!(r#"{{"refreshToken":"{}"}}"#, pair.refresh_token);
    answers.push((
        "post",
        "/logout",
        send(&h, "POST", "/logout", json, &body).await,
    ));
    let pair = h.login().await;
    let form_body = format!("token={}", pair.refresh_token);
    answers.push((
        "post",
        "/logout",
        send(&h, "POST", "/logout", form, &form_body).await,
    ));
    answers.push((
        "post",
        "/logout",
        send(&h, "POST", "/logout", json, "[]").await,
    ));
    answers.push((
        "post",
        "/logout",
        send(&h, "POST", "/logout", "text/plain", "x").await,
    ));
    answers.push((
        "post",
        "/logout",
        send(&h, "POST", "/logout", json, &"x".repeat(2048)).await,
    ));
    answers.push((
        "post",
        "/logout",
        send(&h, "PUT", "/logout", json, "").await,
    ));

    let jwks = "/.well-known/jwks.json";
    answers.push(("get", jwks, send(&h, "GET", jwks, json, "").await));
    answers.push(("get", jwks, send(&h, "POST", jwks, json, "").await));

    // A store outage: 503 on both routes.
    let pair = h.login().await;
    h.store.set_down(true);
    let body = format!(r#"{{"refreshToken":"{}"}}"#, pair.refresh_token);
    answers.push((
        "post",
        "/token",
        send(&h, "POST", "/token", json, &body).await,
    ));
    answers.push((
        "post",
        "/logout",
        send(&h, "POST", "/logout", json, &body).await,
    ));
    h.store.set_down(false);

    let mut statuses: Vec<(&str, u16)> = Vec::new();
    for (method, path, reply) in &answers {
        described(&doc, method, path, reply);
        statuses.push((path, reply.status.as_u16()));
    }
    statuses.sort_unstable();
    statuses.dedup();
    assert_eq!(
        statuses,
        [
            (jwks, 200),
            (jwks, 405),
            ("/logout", 200),
            ("/logout", 204),
            ("/logout", 400),
            ("/logout", 405),
            ("/logout", 413),
            ("/logout", 415),
            ("/logout", 503),
            ("/token", 200),
            ("/token", 400),
            ("/token", 405),
            ("/token", 413),
            ("/token", 415),
            ("/token", 503),
        ]
    );
    // Both encodings of both request bodies, and the bearer scheme.
    for path in ["/token", "/logout"] {
        let content = &doc["paths"][path]["post"]["requestBody"]["content"];
        assert!(
            content[json].is_object() && content[form].is_object(),
            "{path}"
        );
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["bearerAuth"]["type"],
        "http"
    );
}

#[tokio::test]
async fn every_answer_of_the_cookie_transport_is_described() {
    let h = Harness::with(|b| {
        b.transport(RefreshTransport::cookie())
            .refresh_path("/auth/token")
    });
    let doc = h.auth.openapi();
    assert!(doc["paths"]["/token"].is_null());
    assert!(doc["paths"]["/auth/token"]["post"]["requestBody"].is_null());
    let pair = h.login().await;
    let cookie = format!("refresh_token={}", pair.refresh_token);
    let post = |path: &str, cookie: Option<&str>, csrf: bool| {
        let mut req = Request::post(path);
        if let Some(cookie) = cookie {
            req = req.header("cookie", cookie);
        }
        if csrf {
            req = req.header("x-requested-with", "test");
        }
        req.body(String::new()).unwrap()
    };
    let answers = [
        (
            "/auth/token",
            h.send(post("/auth/token", Some(&cookie), true)).await,
        ),
        (
            "/auth/token",
            h.send(post("/auth/token", Some(&cookie), false)).await,
        ),
        ("/auth/token", h.send(post("/auth/token", None, true)).await),
        (
            "/auth/token",
            h.send(post("/auth/token", Some("refresh_token=forged"), true))
                .await,
        ),
        ("/logout", h.send(post("/logout", None, false)).await),
        (
            "/logout",
            h.send(post("/logout", Some(&cookie), true)).await,
        ),
    ];
    let mut statuses = Vec::new();
    for (path, reply) in &answers {
        described(&doc, "post", path, reply);
        statuses.push(reply.status.as_u16());
    }
    assert_eq!(statuses, [200, 403, 400, 400, 403, 204]);
    let parameters = doc["paths"]["/auth/token"]["post"]["parameters"]
        .as_array()
        .unwrap();
    assert!(
        parameters
            .iter()
            .any(|p| p["in"] == "cookie" && p["name"] == "refresh_token")
    );
    assert!(
        parameters
            .iter()
            .any(|p| p["in"] == "header" && p["name"] == "x-requested-with")
    );
}

#[tokio::test]
async fn every_answer_of_the_session_routes_is_described() {
    let h = Harness::with(|b| b.sessions_route().access_token_cookie("access"));
    let doc = h.auth.openapi();
    let json = "application/json";
    let (list, one) = ("/sessions", "/sessions/{id}");
    let bearer = |method: &str, path: &str, token: &str| {
        Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", format!("Bearer {token}"))
            .body(String::new())
            .unwrap()
    };
    let mut answers = Vec::new();
    let me = h.login().await;
    let other = h.login().await;
    answers.push((
        "get",
        list,
        h.send(bearer("GET", list, &me.access_token)).await,
    ));
    answers.push(("get", list, send(&h, "GET", list, json, "").await));
    answers.push((
        "get",
        list,
        h.send(bearer("GET", list, "not.a.token")).await,
    ));
    let malformed = Request::get(list)
        .header("authorization", "Bearer ")
        .body(String::new())
        .unwrap();
    answers.push(("get", list, h.send(malformed).await));
    answers.push(("get", list, send(&h, "POST", list, json, "").await));
    let by_cookie = Request::delete(list)
        .header("cookie", format!("access={}", me.access_token))
        .body(String::new())
        .unwrap();
    answers.push(("delete", list, h.send(by_cookie).await));
    let path = format!("/sessions/{}", other.session_id);
    answers.push((
        "delete",
        one,
        h.send(bearer("DELETE", &path, &me.access_token)).await,
    ));
    answers.push((
        "delete",
        one,
        h.send(bearer("DELETE", &path, &me.access_token)).await,
    ));
    answers.push(("delete", one, send(&h, "GET", &path, json, "").await));
    h.store.set_down(true);
    answers.push((
        "get",
        list,
        h.send(bearer("GET", list, &me.access_token)).await,
    ));
    answers.push((
        "delete",
        one,
        h.send(bearer("DELETE", &path, &me.access_token)).await,
    ));
    h.store.set_down(false);
    answers.push((
        "delete",
        list,
        h.send(bearer("DELETE", list, &me.access_token)).await,
    ));

    let mut statuses: Vec<(&str, u16)> = Vec::new();
    for (method, path, reply) in &answers {
        described(&doc, method, path, reply);
        statuses.push((path, reply.status.as_u16()));
    }
    statuses.sort_unstable();
    statuses.dedup();
    assert_eq!(
        statuses,
        [
            (list, 200),
            (list, 204),
            (list, 400),
            (list, 401),
            (list, 403),
            (list, 405),
            (list, 503),
            (one, 204),
            (one, 404),
            (one, 405),
            (one, 503),
        ]
    );
}

const ORIGIN: &str = "https://api.example.com";

fn es256() -> SigningKey {
    SigningKey::from_file(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/keys/es256.pem")).unwrap()
}

type Configure = fn(RefreshAuthBuilder<Role>) -> RefreshAuthBuilder<Role>;

/// Path configurations the document must follow: the defaults, every route moved, the
/// cookies, DPoP with nonces, DPoP beside bearer tokens.
const CONFIGURATIONS: [(&str, Configure); 5] = [
    ("defaults", |b| b),
    ("every route, moved", |b| {
        b.signing_key(es256())
            .refresh_secret(b"the refresh-token secret, 32 bytes or more".to_vec())
            .refresh_path("/auth/token")
            .logout_path("/auth/logout")
            .sessions_path("/me/sessions")
            .jwks(Jwks::new().path("/auth/keys"))
    }),
    ("cookies", |b| {
        b.signing_key(es256())
            .refresh_secret(b"the refresh-token secret, 32 bytes or more".to_vec())
            .transport(CookieTransport::new().name("rt").csrf_header("x-csrf"))
            .access_token_cookie("at")
            .sessions_route()
            .jwks(Jwks::new())
    }),
    ("DPoP required, nonces", |b| {
        b.dpop(
            Dpop::required()
                .origin(ORIGIN)
                .nonces(Duration::from_secs(60)),
        )
        .sessions_path("/api/sessions")
    }),
    ("DPoP optional", |b| {
        b.dpop(Dpop::optional().origin(ORIGIN))
            .sessions_route()
            .logout_path("/sessions-end")
    }),
];

/// The documented path `path` falls under: itself, or a template whose `{id}` takes the
/// rest of the path (the layer hands everything under a sessions path to that route).
fn template_of<'a>(doc: &'a Value, path: &str) -> Option<&'a str> {
    let paths = doc["paths"].as_object()?;
    paths.keys().map(String::as_str).find(|template| {
        *template == path
            || template
                .strip_suffix("{id}")
                .is_some_and(|base| path.starts_with(base))
    })
}

fn documented_methods(doc: &Value, template: &str) -> BTreeSet<String> {
    doc["paths"][template]
        .as_object()
        .into_iter()
        .flat_map(|item| item.keys())
        .map(|method| method.to_ascii_uppercase())
        .collect()
}

/// The document describes exactly the routes the layer mounts, under every configuration:
/// each documented path and method is answered by the layer itself (not `404`, not `405`,
/// with an answer the document describes), and every request the layer answers itself is
/// at a documented path, with a documented method or a `405` whose `Allow` lists exactly
/// the documented ones.
#[tokio::test]
async fn the_document_describes_exactly_the_mounted_routes() {
    let docs: Vec<Value> = CONFIGURATIONS
        .iter()
        .map(|(_, configure)| Harness::with(*configure).auth.openapi())
        .collect();
    // Every path any configuration documents or moves away from, and near misses.
    let mut probes: BTreeSet<String> = [
        "/token",
        "/logout",
        "/.well-known/jwks.json",
        "/sessions",
        "/sessions/",
        "/sessions/a/b",
        "/token/",
        "/sessionsx",
        "/api/data",
        "/login",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    for doc in &docs {
        for template in doc["paths"].as_object().unwrap().keys() {
            probes.insert(template.replace("{id}", "0123456789abcdef"));
        }
    }
    let methods = [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
    ];
    for (name, configure) in CONFIGURATIONS {
        let h = Harness::with(configure);
        let doc = h.auth.openapi();
        let mut answered = BTreeSet::new();
        for path in &probes {
            for method in &methods {
                let req = Request::builder()
                    .method(method.clone())
                    .uri(path.as_str())
                    .body(String::new())
                    .unwrap();
                let mounted = matches!(
                    h.auth.decide(req.method(), req.uri(), req.headers()),
                    Decision::Endpoint(_)
                );
                let template = template_of(&doc, path);
                if !mounted {
                    assert!(
                        template.is_none(),
                        "{name}: {path} is documented as {template:?} and not mounted"
                    );
                    continue;
                }
                let Some(template) = template else {
                    panic!("{name}: the layer answers {method} {path}, which is not documented");
                };
                let reply = h.send(req).await;
                let documented = documented_methods(&doc, template);
                if reply.status == 405 {
                    let allow: BTreeSet<String> = reply
                        .header("allow")
                        .split(',')
                        .map(|m| m.trim().to_owned())
                        .collect();
                    assert_eq!(allow, documented, "{name}: {method} {path}");
                    assert!(
                        !documented.contains(method.as_str()),
                        "{name}: {method} {path}"
                    );
                } else {
                    assert!(
                        documented.contains(method.as_str()),
                        "{name}: the layer answers {method} {path} with {}, not documented",
                        reply.status
                    );
                    assert_ne!(reply.status, 404, "{name}: {method} {path}");
                    described(
                        &doc,
                        &method.as_str().to_ascii_lowercase(),
                        template,
                        &reply,
                    );
                    answered.insert((template.to_owned(), method.to_string()));
                }
            }
        }
        let operations: BTreeSet<(String, String)> = doc["paths"]
            .as_object()
            .unwrap()
            .keys()
            .flat_map(|template| {
                documented_methods(&doc, template)
                    .into_iter()
                    .map(move |method| (template.clone(), method))
            })
            .collect();
        assert_eq!(answered, operations, "{name}: documented and not answered");
        every_reference_resolves(&doc, name);
    }
}

/// Every `$ref` in `doc` names a component it has.
#[track_caller]
fn every_reference_resolves(doc: &Value, name: &str) {
    fn refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(target)) = map.get("$ref") {
                    out.push(target);
                }
                map.values().for_each(|v| refs(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let mut found = Vec::new();
    refs(doc, &mut found);
    assert!(!found.is_empty(), "{name}");
    for target in found {
        let pointer = target.strip_prefix('#').unwrap_or(target);
        assert!(
            doc.pointer(pointer).is_some(),
            "{name}: {target} does not resolve"
        );
    }
}

/// With DPoP (required, with server nonces), the proof's refusals, the nonce and the bound
/// pair are described, on the refresh route and on the session routes.
#[tokio::test]
async fn every_dpop_answer_is_described() {
    let h = Harness::with(CONFIGURATIONS[3].1);
    let doc = h.auth.openapi();
    let key = DpopKey::es256();
    let iat = t0().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let proof = |method: &str, path: &str, token: Option<&str>, nonce: Option<&str>| {
        let mut claims = key.claims(method, &format!("{ORIGIN}{path}"), token);
        claims["iat"] = json!(iat);
        if let Some(nonce) = nonce {
            claims["nonce"] = json!(nonce);
        }
        key.sign(&key.header(), &claims)
    };
    let post = |dpop: Option<String>, token: &str| {
        let mut req = Request::post("/token").header("content-type", "application/json");
        if let Some(dpop) = dpop {
            req = req.header("dpop", dpop);
        }
        req.body(format!(r#"{{"refreshToken":"{token}"}}"#))
            .unwrap()
    };
    let mut answers = Vec::new();

    // No proof, then a proof without a nonce: the nonce comes back in `DPoP-Nonce`.
    answers.push(("post", "/token", h.send(post(None, "x")).await));
    let asked = h
        .send(post(Some(proof("POST", "/token", None, None)), "x"))
        .await;
    asked.assert_error(400, "use_dpop_nonce");
    let nonce = asked.header("dpop-nonce").to_owned();
    answers.push(("post", "/token", asked));

    let login = Request::post("/login")
        .header("dpop", proof("POST", "/login", None, Some(&nonce)))
        .body(())
        .unwrap();
    let verified = h
        .auth
        .verify_dpop(login.method(), login.uri(), login.headers())
        .await
        .unwrap();
    let pair = h
        .auth
        .issue_with("user1", admin(), SessionMetadata::new().with_dpop(verified))
        .await
        .unwrap();
    let renewed = h
        .send(post(
            Some(proof("POST", "/token", None, Some(&nonce))),
            &pair.refresh_token,
        ))
        .await;
    assert_eq!(renewed.json()["tokenType"], "DPoP");
    let access = renewed.json()["accessToken"].as_str().unwrap().to_owned();
    answers.push(("post", "/token", renewed));

    let sessions = "/api/sessions";
    let get = |scheme: &str, dpop: Option<String>| {
        let mut req = Request::get(sessions).header("authorization", format!("{scheme} {access}"));
        if let Some(dpop) = dpop {
            req = req.header("dpop", dpop);
        }
        req.body(String::new()).unwrap()
    };
    let listed = h
        .send(get(
            "DPoP",
            Some(proof("GET", sessions, Some(&access), Some(&nonce))),
        ))
        .await;
    assert_eq!(listed.status, 200, "{}", listed.describe());
    answers.push(("get", sessions, listed));
    let no_nonce = h
        .send(get(
            "DPoP",
            Some(proof("GET", sessions, Some(&access), None)),
        ))
        .await;
    no_nonce.assert_error(401, "use_dpop_nonce");
    answers.push(("get", sessions, no_nonce));
    answers.push(("get", sessions, h.send(get("DPoP", None)).await));
    answers.push(("get", sessions, h.send(get("Bearer", None)).await));

    let mut statuses = Vec::new();
    for (method, path, reply) in &answers {
        described(&doc, method, path, reply);
        statuses.push(reply.status.as_u16());
    }
    assert_eq!(statuses, [400, 400, 200, 200, 401, 401, 401]);
    let refresh = &doc["paths"]["/token"]["post"];
    let dpop_header = refresh["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["in"] == "header" && p["name"] == "DPoP")
        .unwrap();
    assert_eq!(dpop_header["required"], true);
    assert_eq!(
        doc["paths"][sessions]["get"]["security"],
        json!([{"dpopAuth": []}])
    );
}

/// `POST /introspect` (docs/protocol.md §14): described only when on, with every status it
/// answers and its bodies' schemas, behind the client's Basic scheme.
#[tokio::test]
async fn introspection_is_described_when_on() {
    use base64::Engine as _;
    use tower_refresh_auth::introspection::Introspection;
    use tower_refresh_auth::openapi::INTROSPECTION_SECURITY_SCHEME;

    let off = Harness::new().auth.openapi();
    assert!(off["paths"]["/introspect"].is_null());
    assert!(off["components"]["securitySchemes"][INTROSPECTION_SECURITY_SCHEME].is_null());

    let secret = "0f3a9c2e7b4d1a6f8e5c3b2a9d7f1e4c";
    let h = Harness::with(|b| {
        b.introspection(
            Introspection::client("gateway", secret)
                .failed_authentications_per_minute(std::num::NonZeroU32::new(1).unwrap()),
        )
    });
    let doc = h.auth.openapi();
    assert_eq!(
        doc["components"]["securitySchemes"][INTROSPECTION_SECURITY_SCHEME]["scheme"],
        "basic"
    );
    let operation = &doc["paths"]["/introspect"]["post"];
    assert!(operation["security"][0][INTROSPECTION_SECURITY_SCHEME].is_array());
    let pair = h.login().await;
    let basic = |secret: &str| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("gateway:{secret}"))
        )
    };
    let post = |authorization: Option<String>, content_type: &str, body: String| {
        let mut req = Request::post("/introspect").header("content-type", content_type);
        if let Some(authorization) = authorization {
            req = req.header("authorization", authorization);
        }
        h.send(req.body(body).unwrap())
    };
    let good = || Some(basic(secret));
    let form = "application/x-www-form-urlencoded";
    let replies = [
        post(good(), form, format!("token={}", pair.access_token)).await,
        post(good(), form, "token=x".into()).await,
        post(good(), form, String::new()).await,
        post(good(), form, format!("token={}", "a".repeat(17 * 1024))).await,
        post(None, form, "token=x".into()).await,
        // The one failure allowed, then the wait.
        post(Some(basic("wrong")), form, "token=x".into()).await,
        post(good(), form, "token=x".into()).await,
    ];
    let statuses: BTreeSet<u16> = replies.iter().map(|r| r.status.as_u16()).collect();
    assert_eq!(statuses, BTreeSet::from([200, 400, 401, 413, 429]));
    for reply in &replies {
        described(&doc, "post", "/introspect", reply);
    }
    let get = h.send(Request::get("/introspect").body(String::new()).unwrap());
    described(&doc, "post", "/introspect", &get.await);

    // The store down: `503`.
    let h = Harness::with(|b| b.introspection(Introspection::client("gateway", secret)));
    let pair = h.login().await;
    h.store.set_down(true);
    let req = Request::post("/introspect")
        .header("content-type", form)
        .header("authorization", basic(secret))
        .body(format!("token={}", pair.access_token))
        .unwrap();
    let down = h.send(req).await;
    assert_eq!(down.status, 503);
    described(&h.auth.openapi(), "post", "/introspect", &down);
}
