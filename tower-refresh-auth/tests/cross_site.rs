//! docs/protocol.md §5: cookie mode against cross-site requests.
//!
//! A cross-site form can make the browser send a cookie-less request (SameSite=Strict keeps
//! the cookie off it) but cannot add a custom header without a CORS preflight. Every
//! cookie-mode request that sets or clears the refresh cookie must therefore carry the CSRF
//! header, with or without a cookie.
#![allow(clippy::unwrap_used)]

mod common;

use common::Harness;
use http::Request;
use tower_refresh_auth::transport::CookieTransport;
use tower_refresh_auth::{NoClaims, RefreshAuth, transport::RefreshTransport};

fn harness() -> Harness {
    Harness::with(|b| b.transport(RefreshTransport::cookie()))
}

fn post(path: &str, cookie: Option<&str>, csrf: bool) -> Request<String> {
    let mut req = Request::post(path);
    if let Some(cookie) = cookie {
        req = req.header("cookie", cookie);
    }
    if csrf {
        req = req.header("x-requested-with", "fetch");
    }
    req.body(String::new()).unwrap()
}

#[tokio::test]
async fn a_cookie_less_cross_site_logout_is_refused_and_clears_nothing() {
    let h = harness();
    let res = h.send(post("/logout", None, false)).await;
    res.assert_error(403, "invalid_request");
    assert!(
        res.headers.get("set-cookie").is_none(),
        "a refused logout must not clear the victim's cookie"
    );
    // The same request from the page's own script is fine.
    let res = h.send(post("/logout", None, true)).await;
    assert_eq!(res.status, 204);
    assert_eq!(res.headers.get_all("set-cookie").iter().count(), 2);
}

#[tokio::test]
async fn a_cookie_less_cross_site_refresh_is_refused_before_anything_else() {
    let h = harness();
    let res = h.send(post("/token", None, false)).await;
    res.assert_error(403, "invalid_request");
    assert!(res.headers.get("set-cookie").is_none());
    // With the header, the missing cookie is the problem.
    h.send(post("/token", None, true))
        .await
        .assert_error(400, "invalid_request");
}

#[tokio::test]
async fn a_refresh_cookie_sent_twice_is_one_refusal_that_touches_nothing() {
    let h = harness();
    let pair = h.login().await;
    let other = h.login().await;
    let cookie = format!(
        "refresh_token={}; refresh_token={}",
        pair.refresh_token, other.refresh_token
    );
    for path in ["/token", "/logout"] {
        let res = h.send(post(path, Some(&cookie), true)).await;
        res.assert_error(400, "invalid_request");
        assert!(
            res.text().contains("more than once"),
            "{path}: {}",
            res.text()
        );
        assert!(res.headers.get("set-cookie").is_none(), "{path}");
    }
    // Neither session was touched: both still refresh.
    for token in [&pair.refresh_token, &other.refresh_token] {
        let res = h
            .send(post(
                "/token",
                Some(&format!("refresh_token={token}")),
                true,
            ))
            .await;
        assert_eq!(res.status, 200, "{}", res.text());
    }
}

#[test]
fn csrf_header_names_browsers_send_are_refused_when_built() {
    for name in [
        "Content-Type",
        "accept",
        "Origin",
        "Referer",
        "Cookie",
        "Sec-Fetch-Site",
        "proxy-authorization",
    ] {
        let err = RefreshAuth::<NoClaims>::builder()
            .hs256(common::SECRET.to_vec())
            .transport(CookieTransport::new().csrf_header(name))
            .build()
            .unwrap_err()
            .to_string();
        assert!(err.contains("sent by browsers"), "{name}: {err}");
        assert!(err.contains("X-Requested-With"), "{name}: {err}");
    }
    assert!(
        RefreshAuth::<NoClaims>::builder()
            .hs256(common::SECRET.to_vec())
            .transport(CookieTransport::new().csrf_header("X-CSRF-Token"))
            .build()
            .is_ok()
    );
}
