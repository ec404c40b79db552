//! Sessions per user (`docs/protocol.md` §8): one user's listing and "log out everywhere" on
//! the memory store among many users, and the body of `GET /sessions` for a user with many
//! sessions.
//!
//! ```sh
//! cargo bench -p tower-refresh-auth --bench sessions_per_user
//! ```
//!
//! "Before" is what the memory store did before it indexed sessions by subject: a scan of
//! every session (the removed code, kept here as the baseline and run on the same sessions in
//! the same process, so the ratio is not a comparison of two machines' moods). The listing's
//! "before" body is the unpaginated body of the earlier `GET /sessions`: the same entries,
//! all of them, in one `{"sessions": [...]}` (rebuilt from the pages, byte for byte in
//! length).

use std::hint::black_box;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use dashmap::DashMap;
use http::Request;
use http_body_util::BodyExt;
use tower::{Layer, ServiceExt, service_fn};
use tower_refresh_auth::session::{Session, SessionId, SessionMetadata};
use tower_refresh_auth::store::{MemoryStore, RefreshStore, SubjectIndex};
use tower_refresh_auth::{NoClaims, RefreshAuth};

const SUBJECTS: usize = 10_000;
const PER_SUBJECT: usize = 5;
const ROUNDS: usize = 200;
const SECRET: &[u8] = b"sessions-per-user bench secret, 32+ bytes";
const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0";

fn session(subject: &str, t0: SystemTime) -> Session {
    let mut session = Session::new(
        SessionId::random(),
        subject,
        "{}",
        t0,
        t0 + Duration::from_secs(3600),
        "a-seal",
    );
    session.metadata = SessionMetadata::new().with_user_agent(FIREFOX);
    session
}

/// The median of `f`'s durations over `ROUNDS` runs, each given the round's number.
fn median(mut f: impl FnMut(usize) -> Duration) -> Duration {
    let mut times: Vec<Duration> = (0..ROUNDS).map(&mut f).collect();
    times.sort_unstable();
    times[ROUNDS / 2]
}

fn timed(f: impl FnOnce()) -> Duration {
    let start = Instant::now();
    f();
    start.elapsed()
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    rt.block_on(async {
        listing_among_many_users().await;
        body_of_a_user_with_many_sessions().await;
    });
}

async fn listing_among_many_users() {
    let t0 = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let store = MemoryStore::new();
    // The memory store as it was: one map of every session, scanned.
    let scanned: DashMap<SessionId, Session> = DashMap::new();
    for u in 0..SUBJECTS {
        for k in 0..PER_SUBJECT {
            let s = session(&format!("user{u}"), t0 + Duration::from_millis(k as u64));
            store.create(&s).await.expect("create");
            scanned.insert(s.id, s);
        }
    }
    let subject = |round: usize| format!("user{}", (round * 37) % SUBJECTS);

    let before_list = median(|r| {
        let subject = subject(r);
        timed(|| {
            let listed: Vec<Session> = scanned
                .iter()
                .filter(|s| s.subject == subject && s.is_live(t0))
                .map(|s| s.value().clone())
                .collect();
            assert_eq!(black_box(listed).len(), PER_SUBJECT);
        })
    });
    let mut after_list = Vec::with_capacity(ROUNDS);
    let mut after_page = Vec::with_capacity(ROUNDS);
    for r in 0..ROUNDS {
        let subject = subject(r);
        let start = Instant::now();
        let listed = store.list(&subject, t0).await.expect("list");
        after_list.push(start.elapsed());
        assert_eq!(black_box(listed).len(), PER_SUBJECT);
        let start = Instant::now();
        let page = store.list_page(&subject, t0, 50, None).await.expect("page");
        after_page.push(start.elapsed());
        assert_eq!(black_box(page).sessions.len(), PER_SUBJECT);
    }
    after_list.sort_unstable();
    after_page.sort_unstable();
    let (after_list, after_page) = (after_list[ROUNDS / 2], after_page[ROUNDS / 2]);

    // "Log out everywhere", for ROUNDS different users (it is destructive).
    let before_revoke = median(|r| {
        let subject = format!("user{}", SUBJECTS - 1 - r);
        timed(|| {
            let before = scanned.len();
            scanned.retain(|_, s| s.subject != subject);
            assert_eq!(before - scanned.len(), PER_SUBJECT);
        })
    });
    let mut after_revoke = Vec::with_capacity(ROUNDS);
    for r in 0..ROUNDS {
        let subject = format!("user{}", SUBJECTS - 1 - r);
        let start = Instant::now();
        let n = store.revoke_subject(&subject).await.expect("revoke");
        after_revoke.push(start.elapsed());
        assert_eq!(n, PER_SUBJECT as u64);
    }
    after_revoke.sort_unstable();
    let after_revoke = after_revoke[ROUNDS / 2];

    let ratio = |before: Duration, after: Duration| before.as_secs_f64() / after.as_secs_f64();
    println!(
        "memory store, {SUBJECTS} users x {PER_SUBJECT} sessions; one user's, median of {ROUNDS}:"
    );
    println!(
        "  list:           before (scan) {before_list:>10.1?}  after (index) {after_list:>10.1?}  ratio {:>7.0}x",
        ratio(before_list, after_list)
    );
    println!(
        "  list_page(50):  before (scan) {before_list:>10.1?}  after (index) {after_page:>10.1?}  ratio {:>7.0}x",
        ratio(before_list, after_page)
    );
    println!(
        "  revoke_subject: before (scan) {before_revoke:>10.1?}  after (index) {after_revoke:>10.1?}  ratio {:>7.0}x",
        ratio(before_revoke, after_revoke)
    );
}

async fn body_of_a_user_with_many_sessions() {
    const SESSIONS: usize = 600;
    let auth = RefreshAuth::<NoClaims>::builder()
        .hs256(SECRET.to_vec())
        .sessions_route()
        .max_sessions_per_subject(1_000)
        .build()
        .expect("a valid configuration");
    let metadata = || SessionMetadata::new().with_user_agent(FIREFOX);
    let mut last = None;
    for _ in 0..SESSIONS {
        last = Some(
            auth.issue_with("user1", NoClaims {}, metadata())
                .await
                .expect("issue"),
        );
    }
    let caller = last.expect("a session").access_token;
    let app = auth
        .layer()
        .layer(service_fn(|_req: Request<String>| async {
            Ok::<_, std::convert::Infallible>(http::Response::new(String::new()))
        }));
    let get = |path: String| {
        let app = app.clone();
        let caller = caller.clone();
        async move {
            let req = Request::get(path)
                .header("authorization", format!("Bearer {caller}"))
                .body(String::new())
                .expect("a request");
            let res = app.oneshot(req).await.expect("infallible");
            assert_eq!(res.status(), 200);
            res.into_body().collect().await.expect("a body").to_bytes()
        }
    };
    let first = get("/sessions".to_owned()).await;
    // The earlier, unpaginated body: `{"sessions":[` every entry, comma-separated, `]}`.
    let mut entries = 0;
    let mut entry_bytes = 0;
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/sessions?limit=100&cursor={c}"),
            None => "/sessions?limit=100".to_owned(),
        };
        let page: serde_json::Value = serde_json::from_slice(&get(path).await).expect("JSON");
        for entry in page["sessions"].as_array().expect("sessions") {
            entries += 1;
            entry_bytes += serde_json::to_vec(entry).expect("JSON").len();
        }
        match page["next"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(entries, SESSIONS);
    let before = r#"{"sessions":[]}"#.len() + entry_bytes + (entries - 1);
    println!(
        "GET /sessions for a user with {SESSIONS} sessions (with a browser's User-Agent): before {before} B (all {SESSIONS}), after {} B (the first page of 50, and `next`)",
        first.len()
    );
}
