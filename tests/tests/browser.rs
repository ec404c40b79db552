//! The example servers' pages in a real browser: headless Chromium, driven over WebDriver by
//! a `chromedriver` this test starts, signs in, is greeted, silently refreshes its expired
//! access token on a reload, signs out, and is sent back to the login page; and rides out a
//! session-store outage without losing its session or pretending to sign out; lists the
//! account's sessions and ends another browser's, which is sent to the login page; does a
//! sensitive action, and once its login is old confirms the password without signing in
//! again (docs/protocol.md §15) — against
//! both servers and both refresh-token transports. The servers run in-process with a
//! manual clock, which the test moves past the access token's lifetime.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`/usr/bin/chromium`,
//! `/usr/bin/chromedriver`), so every test here is `#[ignore]`d; run them with
//! `cargo test -p tower-refresh-auth-tests --test browser -- --include-ignored`. Asked to run
//! without the browser installed, they fail. `.ci/run` installs both and runs them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};
use tempfile::TempDir;
use tower_refresh_auth_tests::dashboards::{Framework, Server};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// How long the browser gets for anything it does on its own: a navigation, a fetch.
const PATIENCE: Duration = Duration::from_secs(15);

/// The access-token lifetime the servers run with; the test moves their clock past it.
const ACCESS_TOKEN_TTL: Duration = Duration::from_secs(2);

/// `STEP_UP_MAX_AGE`: how fresh the login must be for the sensitive action (§15).
const STEP_UP_MAX_AGE: Duration = Duration::from_secs(60);

/// Runs each scenario against both servers and both transports: `axum::body::<name>`,
/// `axum::cookie::<name>`, `poem::body::<name>` and `poem::cookie::<name>`.
macro_rules! for_both_servers_and_transports {
    ($($scenario:ident),* $(,)?) => {
        for_both_servers_and_transports!(@server axum, Axum, $($scenario),*);
        for_both_servers_and_transports!(@server poem, Poem, $($scenario),*);
    };
    (@server $module:ident, $framework:ident, $($scenario:ident),*) => {
        mod $module {
            for_both_servers_and_transports!(@transport body, Body, $framework, $($scenario),*);
            for_both_servers_and_transports!(@transport cookie, Cookie, $framework, $($scenario),*);
        }
    };
    (@transport $module:ident, $transport:ident, $framework:ident, $($scenario:ident),*) => {
        mod $module {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[ignore = "needs chromium and chromedriver (see tests/support/README.md)"]
                async fn $scenario() {
                    crate::$scenario(
                        tower_refresh_auth_tests::dashboards::Framework::$framework,
                        crate::Transport::$transport,
                    )
                    .await;
                }
            )*
        }
    };
}

for_both_servers_and_transports!(
    sign_in_refresh_sign_out,
    store_outage,
    end_another_session,
    a_sensitive_action_asks_for_the_password_again,
);

/// The DPoP scenario, on both servers with `DPOP=required` (body transport: the refresh
/// token is in the page's reach, which is what the scenario steals).
mod dpop_required {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "needs chromium and chromedriver (see tests/support/README.md)"]
    async fn axum() {
        crate::tokens_copied_out_of_the_page_are_useless(
            tower_refresh_auth_tests::dashboards::Framework::Axum,
        )
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "needs chromium and chromedriver (see tests/support/README.md)"]
    async fn poem() {
        crate::tokens_copied_out_of_the_page_are_useless(
            tower_refresh_auth_tests::dashboards::Framework::Poem,
        )
        .await;
    }
}

/// With `DPOP=required` the page makes a non-extractable WebCrypto key, keeps it in
/// IndexedDB, and signs a proof for every call: it signs in, is greeted, refreshes past the
/// access token's lifetime, lists its sessions and signs out. Its tokens, read out of
/// `localStorage` and replayed by another client (reqwest, without the key, or with a key of
/// its own), are refused — the access token and the refresh token — and the theft attempts
/// leave the page's session alive.
async fn tokens_copied_out_of_the_page_are_useless(framework: Framework) {
    use tower_refresh_auth_test_support::dpop::DpopKey;
    require_browser();
    let ttl = format!("{}s", ACCESS_TOKEN_TTL.as_secs());
    let server = Server::start(
        framework,
        &[("ACCESS_TOKEN_TTL", ttl.as_str()), ("DPOP", "required")],
    )
    .await;
    let browser = Browser::start().await;
    let page = &browser.client;
    sign_in(page, &server, "user1", "password1").await;
    let stolen = Tokens::read(page).await;
    let token_type = page
        .execute("return localStorage.getItem('tokenType');", vec![])
        .await
        .unwrap();
    assert_eq!(token_type, json!("DPoP"), "the login was not bound");
    let access = stolen
        .access
        .clone()
        .expect("an access token in localStorage");
    let refresh = stolen
        .refresh
        .clone()
        .expect("a refresh token in localStorage");
    // The key is WebCrypto's and not extractable: the page itself cannot export it.
    let exported = page
        .execute_async(
            "const done = arguments[arguments.length - 1];
             const open = indexedDB.open('dpop', 1);
             open.onsuccess = () => {
               const get = open.result.transaction('keys').objectStore('keys').get('device-key');
               get.onsuccess = () => {
                 const pair = get.result;
                 crypto.subtle.exportKey('jwk', pair.privateKey)
                   .then(() => done('exported'), () => done(
                     'refused:' + pair.privateKey.extractable + ':' + pair.privateKey.algorithm.namedCurve));
               };
             };",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(exported, json!("refused:false:P-256"));

    // Another client with the copied tokens and no key.
    let as_bearer = tower_refresh_auth_tests::dashboards::send(
        server.get("/api/dashboard").bearer_auth(&access),
    )
    .await;
    as_bearer.assert_error(401, "invalid_token");
    let as_dpop = tower_refresh_auth_tests::dashboards::send(
        server
            .get("/api/dashboard")
            .header("authorization", format!("DPoP {access}")),
    )
    .await;
    as_dpop.assert_error(401, "invalid_dpop_proof");
    // With a key of its own: the proof verifies, but it is not the token's key.
    let thief = DpopKey::es256();
    let own_key = tower_refresh_auth_tests::dashboards::send(
        server
            .get("/api/dashboard")
            .header("authorization", format!("DPoP {access}"))
            .header(
                "dpop",
                thief.proof("GET", &server.url("/api/dashboard"), Some(&access)),
            ),
    )
    .await;
    own_key.assert_error(401, "invalid_dpop_proof");
    let body = format!(r#"{{"refreshToken":"{refresh}"}}"#);
    let no_proof = tower_refresh_auth_tests::dashboards::send(
        server
            .post("/token")
            .header("content-type", "application/json")
            .body(body.clone()),
    )
    .await;
    no_proof.assert_error(400, "invalid_dpop_proof");
    let wrong_key = tower_refresh_auth_tests::dashboards::send(
        server
            .post("/token")
            .header("content-type", "application/json")
            .header("dpop", thief.proof("POST", &server.url("/token"), None))
            .body(body),
    )
    .await;
    wrong_key.assert_error(400, "invalid_dpop_proof");
    assert_eq!(server.rotations(), 0, "a stolen refresh token was spent");
    assert_eq!(server.revocations(), 0, "a theft attempt ended the session");

    // The page goes on: past the access token's lifetime it refreshes with a proof.
    server.advance(ACCESS_TOKEN_TTL + Duration::from_secs(1));
    page.refresh().await.unwrap();
    assert_greets(page, "user1").await;
    assert_eq!(server.rotations(), 1, "the page did not refresh its tokens");
    let sessions = session_list(page, 1).await;
    assert!(sessions[0].current, "{sessions:?}");

    click_logout(page).await;
    wait_for_path(page, "/login.html").await;
    assert_eq!(server.revocations(), 1, "logout did not end the session");

    browser.close().await;
    server.stop().await;
}

/// `REFRESH_TRANSPORT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transport {
    Body,
    Cookie,
}

impl Transport {
    fn as_str(self) -> &'static str {
        match self {
            Self::Body => "body",
            Self::Cookie => "cookie",
        }
    }

    /// The demo account each transport signs in with, so the two differ.
    fn account(self) -> (&'static str, &'static str) {
        match self {
            Self::Body => ("user1", "password1"),
            Self::Cookie => ("user2", "password2"),
        }
    }
}

/// A browser and a server for it.
async fn setup(framework: Framework, transport: Transport) -> (Browser, Server) {
    require_browser();
    let ttl = format!("{}s", ACCESS_TOKEN_TTL.as_secs());
    let step_up = format!("{}s", STEP_UP_MAX_AGE.as_secs());
    let server = Server::start(
        framework,
        &[
            ("ACCESS_TOKEN_TTL", ttl.as_str()),
            ("REFRESH_TRANSPORT", transport.as_str()),
            ("STEP_UP_MAX_AGE", step_up.as_str()),
        ],
    )
    .await;
    (Browser::start().await, server)
}

/// Signs in through the login form, as a person would, and waits for the greeting.
async fn sign_in(page: &Client, server: &Server, user: &str, password: &str) {
    page.goto(&server.url("/login.html")).await.unwrap();
    page.find(Locator::Id("username"))
        .await
        .unwrap()
        .send_keys(user)
        .await
        .unwrap();
    page.find(Locator::Id("password"))
        .await
        .unwrap()
        .send_keys(password)
        .await
        .unwrap();
    page.find(Locator::Css("#loginForm button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_path(page, "/dashboard.html").await;
    assert_greets(page, user).await;
}

async fn click_logout(page: &Client) {
    page.find(Locator::Id("logoutButton"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

async fn sign_in_refresh_sign_out(framework: Framework, transport: Transport) {
    let (browser, server) = setup(framework, transport).await;
    let page = &browser.client;
    let (user, password) = transport.account();
    sign_in(page, &server, user, password).await;
    let signed_in = Tokens::read(page).await;
    match transport {
        // Both tokens in localStorage.
        Transport::Body => {
            assert!(signed_in.refresh.is_some(), "{signed_in:?}");
            assert!(signed_in.access.is_some(), "{signed_in:?}");
        }
        // Only the access token, in sessionStorage; the refresh token is in an HttpOnly
        // cookie scoped to /token and /logout, out of the page's reach.
        Transport::Cookie => {
            assert_eq!(signed_in.refresh, None, "{signed_in:?}");
            assert!(signed_in.session_access.is_some(), "{signed_in:?}");
            assert_eq!(signed_in.document_cookie, "", "{signed_in:?}");
        }
    }

    // A reload while the access token is fresh needs no refresh.
    page.refresh().await.unwrap();
    assert_greets(page, user).await;
    assert_eq!(Tokens::read(page).await, signed_in);
    assert_eq!(server.rotations(), 0, "refreshed a fresh access token");

    // Past the access token's lifetime the API answers 401; the page refreshes silently,
    // retries, and greets again.
    server.advance(ACCESS_TOKEN_TTL + Duration::from_secs(1));
    page.refresh().await.unwrap();
    assert_greets(page, user).await;
    assert_eq!(server.rotations(), 1, "the page did not refresh its tokens");
    let refreshed = Tokens::read(page).await;
    match transport {
        Transport::Body => {
            assert!(refreshed.access.is_some(), "{refreshed:?}");
            assert_ne!(refreshed.access, signed_in.access, "kept the expired token");
            assert!(refreshed.refresh.is_some(), "{refreshed:?}");
            assert_ne!(
                refreshed.refresh, signed_in.refresh,
                "did not store the rotated refresh token"
            );
        }
        // The refresh succeeded, so the browser kept the Secure cookie from plain HTTP on
        // 127.0.0.1 and sent it to /token.
        Transport::Cookie => {
            assert!(refreshed.session_access.is_some(), "{refreshed:?}");
            assert_ne!(
                refreshed.session_access, signed_in.session_access,
                "kept the expired token"
            );
            assert_eq!(refreshed.refresh, None, "{refreshed:?}");
        }
    }

    // Sign out: the session ends on the server, the page forgets its tokens.
    click_logout(page).await;
    wait_for_path(page, "/login.html").await;
    assert_eq!(server.revocations(), 1, "logout did not end the session");
    assert_eq!(Tokens::read(page).await, Tokens::default());

    // The dashboard now sends the visitor back to the login page, in cookie mode too: the
    // logout cleared the refresh cookie, and the session is gone anyway.
    page.goto(&server.url("/dashboard.html")).await.unwrap();
    wait_for_path(page, "/login.html").await;
    assert_eq!(server.rotations(), 1, "refreshed after logout");

    browser.close().await;
    server.stop().await;
}

/// A store outage (`503` from `/token` and `/logout`) is no sign-out: the page keeps its
/// tokens, says what happened, and retries the refresh by itself; a logout it could not
/// complete leaves the visitor signed in on a page that says so, never on the login page
/// with the session (and in cookie mode the refresh cookie) still alive.
async fn store_outage(framework: Framework, transport: Transport) {
    let (browser, server) = setup(framework, transport).await;
    let page = &browser.client;
    let (user, password) = transport.account();
    sign_in(page, &server, user, password).await;
    let signed_in = Tokens::read(page).await;

    server.advance(ACCESS_TOKEN_TTL + Duration::from_secs(1));
    server.set_store_down(true);
    page.refresh().await.unwrap();
    wait_for_status(page, "temporarily unavailable").await;
    assert_eq!(current_path(page).await, "/dashboard.html");
    assert_eq!(Tokens::read(page).await, signed_in, "lost the tokens");
    server.set_store_down(false);
    assert_greets(page, user).await;
    assert_eq!(server.rotations(), 1);
    assert_eq!(
        status(page).await,
        "",
        "the outage message outlived the outage"
    );
    let refreshed = Tokens::read(page).await;

    server.set_store_down(true);
    click_logout(page).await;
    wait_for_status(page, "Sign-out failed").await;
    assert_eq!(current_path(page).await, "/dashboard.html");
    assert_eq!(Tokens::read(page).await, refreshed, "lost the tokens");
    assert_eq!(server.revocations(), 0);

    server.set_store_down(false);
    click_logout(page).await;
    wait_for_path(page, "/login.html").await;
    assert_eq!(server.revocations(), 1);
    page.goto(&server.url("/dashboard.html")).await.unwrap();
    wait_for_path(page, "/login.html").await;

    browser.close().await;
    server.stop().await;
}

/// "Your sessions" (`docs/protocol.md` §8 on the dashboard): signed in from two browsers, the
/// first lists both with itself marked, shows when its access token expires and that it has
/// not renewed it yet, and ends the second; the second is sent to the login page at its next
/// refresh, while the first renews silently and says when.
async fn end_another_session(framework: Framework, transport: Transport) {
    let (first, server) = setup(framework, transport).await;
    let second = Browser::start().await;
    let (user, password) = transport.account();
    let (page, other) = (&first.client, &second.client);
    sign_in(page, &server, user, password).await;
    sign_in(other, &server, user, password).await;

    page.refresh().await.unwrap();
    assert_greets(page, user).await;
    let sessions = session_list(page, 2).await;
    let current: Vec<_> = sessions.iter().filter(|s| s.current).collect();
    assert_eq!(current.len(), 1, "{sessions:?}");
    assert!(current[0].text.contains("(this device)"), "{sessions:?}");
    assert!(
        current[0].text.contains("HeadlessChrome"),
        "the user agent: {sessions:?}"
    );
    assert!(!current[0].can_end, "{sessions:?}");
    let theirs = sessions.iter().find(|s| !s.current).unwrap();
    assert!(theirs.can_end, "{sessions:?}");
    assert_ne!(text_of(page, "tokenExpiry").await, "–");
    assert_eq!(text_of(page, "lastRenewal").await, "not yet");

    page.find(Locator::Css(&format!(
        "#sessionList li[data-session-id='{}'] button.endSession",
        theirs.id
    )))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    let left = session_list(page, 1).await;
    assert!(left[0].current, "{left:?}");
    assert_eq!(server.revocations(), 1, "the other session was not ended");

    // Past the access tokens' lifetime each page refreshes at its next load: the ended one
    // cannot and goes to the login page; this one renews silently.
    server.advance(ACCESS_TOKEN_TTL + Duration::from_secs(1));
    other.refresh().await.unwrap();
    wait_for_path(other, "/login.html").await;
    page.refresh().await.unwrap();
    assert_greets(page, user).await;
    eventually("the page to say it renewed its token", || async {
        let text = page
            .find(Locator::Id("lastRenewal"))
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        (!text.is_empty() && text != "not yet").then_some(())
    })
    .await;
    assert_eq!(session_list(page, 1).await.len(), 1);

    second.close().await;
    first.close().await;
    server.stop().await;
}

/// §15 in the page: the sensitive action is done at once after signing in; once the login is
/// older than `STEP_UP_MAX_AGE` (and the access token expired too), the page renews the
/// token, meets the RFC 9470 challenge, and asks for the password; a wrong one is refused, the
/// right one gets a new pair for the same session (one session listed, no new sign-in) and
/// the action is done.
async fn a_sensitive_action_asks_for_the_password_again(
    framework: Framework,
    transport: Transport,
) {
    let (browser, server) = setup(framework, transport).await;
    let page = &browser.client;
    let (user, password) = transport.account();
    sign_in(page, &server, user, password).await;
    let session = session_list(page, 1).await.remove(0).id;
    click(page, "sensitiveButton").await;
    wait_for_text(page, "sensitiveResult", "Done.").await;
    assert!(!reauth_form_shown(page).await);

    server.advance(STEP_UP_MAX_AGE + Duration::from_secs(1));
    click(page, "sensitiveButton").await;
    wait_for_text(page, "sensitiveResult", "confirm your password").await;
    assert!(reauth_form_shown(page).await);
    let rotations = server.rotations();

    type_into(page, "reauthPassword", "not the password").await;
    submit_reauth(page).await;
    wait_for_text(page, "sensitiveResult", "Wrong password.").await;
    assert!(reauth_form_shown(page).await);
    assert_eq!(
        server.rotations(),
        rotations,
        "a wrong password rotated the session"
    );

    page.find(Locator::Id("reauthPassword"))
        .await
        .unwrap()
        .clear()
        .await
        .unwrap();
    type_into(page, "reauthPassword", password).await;
    submit_reauth(page).await;
    wait_for_text(page, "sensitiveResult", "Done.").await;
    assert!(!reauth_form_shown(page).await);
    assert_eq!(
        server.rotations(),
        rotations + 1,
        "one rotation: the re-authentication"
    );
    assert_eq!(current_path(page).await, "/dashboard.html");

    // Still the one session: reloaded, the page lists it, with the same id.
    page.refresh().await.unwrap();
    assert_greets(page, user).await;
    let sessions = session_list(page, 1).await;
    assert_eq!(sessions[0].id, session);
    assert_eq!(server.revocations(), 0);

    browser.close().await;
    server.stop().await;
}

async fn click(page: &Client, id: &str) {
    page.find(Locator::Id(id))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

async fn type_into(page: &Client, id: &str, text: &str) {
    page.find(Locator::Id(id))
        .await
        .unwrap()
        .send_keys(text)
        .await
        .unwrap();
}

async fn submit_reauth(page: &Client) {
    page.find(Locator::Css("#reauthForm button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

async fn reauth_form_shown(page: &Client) -> bool {
    page.find(Locator::Id("reauthForm"))
        .await
        .unwrap()
        .is_displayed()
        .await
        .unwrap()
}

async fn wait_for_text(page: &Client, id: &str, needle: &str) {
    eventually(&format!("#{id} to say {needle:?}"), || async {
        let text = page.find(Locator::Id(id)).await.ok()?.text().await.ok()?;
        text.contains(needle).then_some(())
    })
    .await;
}

/// One entry of the dashboard's session list.
#[derive(Debug)]
struct ListedSession {
    id: String,
    current: bool,
    can_end: bool,
    text: String,
}

/// The session list once it has `n` entries.
async fn session_list(page: &Client, n: usize) -> Vec<ListedSession> {
    eventually(&format!("a session list of {n}"), || async {
        let value = page
            .execute(
                "return [...document.querySelectorAll('#sessionList li')].map((li) => \
                 [li.dataset.sessionId, li.classList.contains('current'), \
                  li.querySelector('button.endSession') !== null, li.textContent]);",
                vec![],
            )
            .await
            .ok()?;
        let entries: Vec<ListedSession> = value
            .as_array()?
            .iter()
            .map(|e| ListedSession {
                id: e[0].as_str().unwrap_or_default().to_owned(),
                current: e[1].as_bool().unwrap_or_default(),
                can_end: e[2].as_bool().unwrap_or_default(),
                text: e[3].as_str().unwrap_or_default().to_owned(),
            })
            .collect();
        (entries.len() == n).then_some(entries)
    })
    .await
}

async fn text_of(page: &Client, id: &str) -> String {
    page.find(Locator::Id(id))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The dashboard's status line: empty, or what went wrong.
async fn status(page: &Client) -> String {
    page.find(Locator::Id("statusMessage"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

async fn wait_for_status(page: &Client, needle: &str) {
    eventually(&format!("a status message with {needle:?}"), || async {
        let text = page
            .find(Locator::Id("statusMessage"))
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        text.contains(needle).then_some(())
    })
    .await;
}

async fn current_path(page: &Client) -> String {
    page.current_url().await.unwrap().path().to_owned()
}

/// Fails the test when the browser is not there: asked to run, it must run.
fn require_browser() {
    let missing: Vec<&str> = [CHROMIUM, CHROMEDRIVER]
        .into_iter()
        .filter(|path| !Path::new(path).exists())
        .collect();
    assert!(
        missing.is_empty(),
        "{missing:?} is missing, but the browser test was asked to run \
         (`apt-get install chromium chromium-driver`, as .ci/run does; or run without \
         --include-ignored)"
    );
}

/// What the page keeps: `localStorage`'s and `sessionStorage`'s tokens, and the cookies
/// script can see.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Tokens {
    access: Option<String>,
    refresh: Option<String>,
    session_access: Option<String>,
    document_cookie: String,
}

impl Tokens {
    async fn read(page: &Client) -> Self {
        let value = page
            .execute(
                "return [localStorage.getItem('accessToken'), \
                         localStorage.getItem('refreshToken'), \
                         sessionStorage.getItem('accessToken'), \
                         document.cookie];",
                vec![],
            )
            .await
            .unwrap();
        let text = |i: usize| value[i].as_str().map(str::to_owned);
        Self {
            access: text(0),
            refresh: text(1),
            session_access: text(2),
            document_cookie: text(3).unwrap_or_default(),
        }
    }
}

/// Waits until the page's welcome message has loaded and checks that it names `user`.
async fn assert_greets(page: &Client, user: &str) {
    let message = eventually("the welcome message", || async {
        let text = page
            .find(Locator::Id("welcomeMessage"))
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        (!text.is_empty() && text != "Loading…").then_some(text)
    })
    .await;
    assert_eq!(message, format!("Welcome to your dashboard, {user}!"));
}

async fn wait_for_path(page: &Client, path: &str) {
    eventually(&format!("the browser to reach {path}"), || async {
        let url = page.current_url().await.ok()?;
        (url.path() == path).then_some(())
    })
    .await;
}

/// Polls `probe` until it yields a value, for at most [`PATIENCE`].
async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {PATIENCE:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A headless Chromium with a profile of its own, and the chromedriver driving it.
///
/// Fields drop in order: the session, then chromedriver (which quits the browser), then the
/// profile directory.
struct Browser {
    client: Client,
    _driver: Chromedriver,
    _profile: TempDir,
}

impl Browser {
    async fn start() -> Self {
        let profile = tempfile::tempdir().expect("a temporary profile directory");
        let driver = Chromedriver::start();
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-quic",
        ]
        .map(str::to_owned)
        .into_iter()
        .chain([format!("--user-data-dir={}", profile.path().display())])
        .collect::<Vec<_>>();
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": CHROMIUM, "args": args },
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!("a JSON object literal")
        };
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&driver.url())
            .await
            .expect("chromedriver starts a Chromium session");
        Self {
            client,
            _driver: driver,
            _profile: profile,
        }
    }

    /// Ends the session, which quits the browser.
    async fn close(self) {
        self.client
            .clone()
            .close()
            .await
            .expect("the browser session closes");
    }
}

/// A `chromedriver` on a port of its choosing; dropping it shuts it and its browsers down.
struct Chromedriver {
    child: Child,
    port: u16,
}

impl Chromedriver {
    fn start() -> Self {
        let mut child = Command::new(CHROMEDRIVER)
            .arg("--port=0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let stdout = child.stdout.take().expect("a piped stdout");
        // It announces the port it bound; keep reading its output afterwards so it never
        // blocks on a full pipe.
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines().map_while(Result::ok);
            let _ = tx.send(announced_port(&mut lines));
            lines.for_each(drop);
        });
        let port = match rx.recv_timeout(PATIENCE) {
            Ok(Ok(port)) => port,
            Ok(Err(output)) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("chromedriver exited without announcing its port:\n{output}")
            }
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("chromedriver did not announce its port: {e}")
            }
        };
        Self { child, port }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

/// Reads chromedriver's output up to the line naming its port; without one, the output.
fn announced_port(lines: &mut impl Iterator<Item = String>) -> Result<u16, String> {
    let mut seen = String::new();
    for line in lines {
        let port = line
            .strip_prefix("ChromeDriver was started successfully on port ")
            .and_then(|rest| rest.trim_end_matches('.').parse().ok());
        if let Some(port) = port {
            return Ok(port);
        }
        seen.push_str(&line);
        seen.push('\n');
    }
    Err(seen)
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        // Killed outright, chromedriver would leave its browsers running: ask it to quit
        // them and exit (its `GET /shutdown`), and kill it only if it does not.
        let _ = shutdown(self.port);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn shutdown(port: u16) -> std::io::Result<()> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        stream,
        "GET /shutdown HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )?;
    stream.read_to_end(&mut Vec::new()).map(drop)
}
