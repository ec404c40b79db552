//! The OpenAPI description of the layer's routes: every status the layer answers on them is
//! described, with its headers, and every JSON body it sends validates against the schema.
//! The statuses come from real requests, not from a list.
#![cfg(feature = "openapi")]
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::Harness;
use http::Request;
use serde_json::Value;
use tower_refresh_auth::keys::Jwks;
use tower_refresh_auth::keys::SigningKey;
use tower_refresh_auth::transport::RefreshTransport;
use tower_refresh_auth_test_support::Reply;

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
        // invalid_grant).
        if name != "Set-Cookie" || status != "400" {
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
