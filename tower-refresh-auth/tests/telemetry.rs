//! Metrics and security events (`docs/protocol.md` §9) after scripted scenarios: a race
//! inside the grace window is a grace replay, never a reuse; a replay after it is one reuse
//! and one session revoked for `reuse`; logouts and revocations by reason; store timings.
//!
//! Each test installs its own `DebuggingRecorder` for its own thread only
//! (`metrics::with_local_recorder` around a current-thread runtime), so tests running in
//! parallel never see each other's counts.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Harness, admin};
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use tower_refresh_auth::{SecurityEvent, events::RevocationReason};

/// Runs `scenario` on this thread with a fresh recorder; hands it what the recorder saw.
fn recorded<F: Future<Output = ()>>(scenario: impl FnOnce(Metrics) -> F) {
    let recorder = DebuggingRecorder::new();
    let metrics = Metrics(recorder.snapshotter());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    metrics::with_local_recorder(&recorder, || rt.block_on(scenario(metrics)));
}

/// What the recorder saw since the last look: counters by `name{label=value}`, and how many
/// samples each histogram got.
struct Metrics(Snapshotter);

impl Metrics {
    fn since_last(&self) -> BTreeMap<String, u64> {
        self.0
            .snapshot()
            .into_vec()
            .into_iter()
            .filter_map(|(key, _, _, value)| {
                let key = key.key();
                let labels: Vec<String> = key
                    .labels()
                    .map(|l| format!("{}={}", l.key(), l.value()))
                    .collect();
                let name = if labels.is_empty() {
                    key.name().to_owned()
                } else {
                    format!("{}{{{}}}", key.name(), labels.join(","))
                };
                let n = match value {
                    DebugValue::Counter(n) => n,
                    DebugValue::Histogram(samples) => samples.len() as u64,
                    DebugValue::Gauge(_) => return None,
                };
                (n > 0).then_some((name, n))
            })
            .collect()
    }
}

#[track_caller]
fn assert_counts(seen: &BTreeMap<String, u64>, expected: &[(&str, u64)]) {
    let expected: BTreeMap<String, u64> = expected
        .iter()
        .map(|(k, n)| ((*k).to_owned(), *n))
        .collect();
    assert_eq!(seen, &expected);
}

/// The events a callback received.
fn subscribed() -> (
    Arc<Mutex<Vec<SecurityEvent>>>,
    impl Fn(&SecurityEvent) + Send + Sync + 'static,
) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&events);
    (events, move |event: &SecurityEvent| {
        sink.lock().unwrap().push(event.clone())
    })
}

fn taken(events: &Mutex<Vec<SecurityEvent>>) -> Vec<SecurityEvent> {
    std::mem::take(&mut *events.lock().unwrap())
}

#[test]
fn a_race_inside_the_grace_window_is_a_grace_replay_and_a_replay_after_it_a_reuse() {
    recorded(|metrics| async move {
        let (events, callback) = subscribed();
        let h = Harness::with(|b| b.on_security_event(callback));
        let pair = h.login().await;
        assert_counts(
            &metrics.since_last(),
            &[
                ("refresh_auth_sessions_started_total", 1),
                ("refresh_auth_store_duration_seconds{op=create}", 1),
                // The login reads its user's newest sessions: is it past the limit?
                ("refresh_auth_store_duration_seconds{op=list}", 1),
            ],
        );

        // Two tabs refresh with the same token at once: both stay logged in.
        let (a, b) = tokio::join!(
            h.refresh(&pair.refresh_token),
            h.refresh(&pair.refresh_token)
        );
        assert_eq!(
            (a.status.as_u16(), b.status.as_u16()),
            (200, 200),
            "{a:?} {b:?}"
        );
        assert_eq!(a.json()["refreshToken"], b.json()["refreshToken"]);
        assert_counts(
            &metrics.since_last(),
            &[
                ("refresh_auth_refreshes_total{outcome=grace_replay}", 1),
                ("refresh_auth_refreshes_total{outcome=rotated}", 1),
                ("refresh_auth_store_duration_seconds{op=rotate}", 2),
            ],
        );
        let session = pair.session_id;
        assert_eq!(
            taken(&events),
            [SecurityEvent::GraceReplay {
                session,
                subject: "user1".into()
            }]
        );

        // The same spent token after the window: someone else holds a copy.
        h.clock.advance(Duration::from_secs(11));
        h.refresh(&pair.refresh_token)
            .await
            .assert_error(400, "invalid_grant");
        assert_counts(
            &metrics.since_last(),
            &[
                ("refresh_auth_refreshes_total{outcome=reuse_revoked}", 1),
                ("refresh_auth_sessions_revoked_total{reason=reuse}", 1),
                ("refresh_auth_store_duration_seconds{op=revoke}", 1),
                ("refresh_auth_store_duration_seconds{op=rotate}", 1),
            ],
        );
        assert_eq!(
            taken(&events),
            [
                SecurityEvent::ReuseDetected {
                    session,
                    subject: "user1".into()
                },
                SecurityEvent::SessionRevoked {
                    session,
                    subject: Some("user1".into()),
                    reason: RevocationReason::Reuse
                },
            ]
        );

        // The live successor died with its session: an invalid grant, not a second reuse.
        let successor = a.json()["refreshToken"].as_str().unwrap().to_owned();
        h.refresh(&successor)
            .await
            .assert_error(400, "invalid_grant");
        // A forged token is refused before any store call.
        h.refresh("forged").await.assert_error(400, "invalid_grant");
        assert_counts(
            &metrics.since_last(),
            &[
                ("refresh_auth_refreshes_total{outcome=invalid_grant}", 2),
                ("refresh_auth_store_duration_seconds{op=rotate}", 1),
            ],
        );
        assert_eq!(taken(&events), []);
    });
}

#[test]
fn a_token_ahead_of_a_store_that_lost_writes_is_counted_rolled_forward() {
    use tower_refresh_auth::clock::Clock;
    use tower_refresh_auth::store::RefreshStore;
    recorded(|metrics| async move {
        let (events, callback) = subscribed();
        let h = Harness::with(|b| b.on_security_event(callback));
        let pair = h.login().await;
        let session = pair.session_id;
        let backup = h
            .store
            .load(&session, h.clock.now())
            .await
            .unwrap()
            .unwrap();
        let next = h.refresh(&pair.refresh_token).await;
        assert_eq!(next.status, 200);
        // The store loses that rotation, as a failed-over replica or a restored backup would.
        h.store.create(&backup).await.unwrap();
        metrics.since_last();

        let rolled = h.refresh(&next.refresh_token()).await;
        assert_eq!(rolled.status, 200, "{rolled:?}");
        assert_counts(
            &metrics.since_last(),
            &[
                ("refresh_auth_refreshes_total{outcome=rolled_forward}", 1),
                // The swap that found the store behind, and the one from where it was.
                ("refresh_auth_store_duration_seconds{op=rotate}", 2),
            ],
        );
        assert_eq!(
            taken(&events),
            [SecurityEvent::RolledForward {
                session,
                subject: "user1".into(),
                generations: 1
            }]
        );
    });
}

#[test]
fn verifications_are_counted_by_outcome() {
    recorded(|metrics| async move {
        let h = Harness::new();
        let pair = h.login().await;
        metrics.since_last();
        assert_eq!(h.get("/api", Some(&pair.access_token)).await.status, 200);
        assert_eq!(h.get("/api", None).await.status, 401);
        // A public path without a token is still a verification without one.
        assert_eq!(h.get("/login", None).await.status, 200);
        assert_eq!(h.get("/api", Some("not.a.token")).await.status, 401);
        let two_ways = http::Request::get("/api")
            .header("authorization", "Bearer ")
            .body(String::new())
            .unwrap();
        assert_eq!(h.send(two_ways).await.status, 400);
        // The layer's own routes are not verifications.
        h.refresh(&pair.refresh_token).await;
        assert_counts(
            &metrics.since_last(),
            &[
                ("refresh_auth_refreshes_total{outcome=rotated}", 1),
                ("refresh_auth_store_duration_seconds{op=rotate}", 1),
                ("refresh_auth_verifications_total{outcome=invalid}", 1),
                ("refresh_auth_verifications_total{outcome=malformed}", 1),
                ("refresh_auth_verifications_total{outcome=missing}", 2),
                ("refresh_auth_verifications_total{outcome=ok}", 1),
            ],
        );
    });
}

#[test]
fn introspection_calls_are_counted_by_outcome() {
    use base64::Engine as _;
    use tower_refresh_auth::introspection::Introspection;

    recorded(|metrics| async move {
        let secret = "0f3a9c2e7b4d1a6f8e5c3b2a9d7f1e4c";
        let h = Harness::with(|b| {
            b.introspection(
                Introspection::client("gateway", secret)
                    .failed_authentications_per_minute(std::num::NonZeroU32::new(1).unwrap()),
            )
        });
        let pair = h.login().await;
        let post = |secret: Option<&str>, body: String| {
            let mut req = http::Request::post("/introspect")
                .header("content-type", "application/x-www-form-urlencoded");
            if let Some(secret) = secret {
                let basic =
                    base64::engine::general_purpose::STANDARD.encode(format!("gateway:{secret}"));
                req = req.header("authorization", format!("Basic {basic}"));
            }
            h.send(req.body(body).unwrap())
        };
        metrics.since_last();
        assert_eq!(
            post(Some(secret), format!("token={}", pair.access_token))
                .await
                .status,
            200
        );
        assert_eq!(post(Some(secret), "token=x".into()).await.status, 200);
        assert_eq!(post(Some(secret), String::new()).await.status, 400);
        assert_eq!(post(None, "token=x".into()).await.status, 401);
        assert_eq!(post(Some("wrong"), "token=x".into()).await.status, 401);
        assert_eq!(post(Some(secret), "token=x".into()).await.status, 429);
        h.clock.advance(Duration::from_secs(60));
        let pair = h.login().await;
        h.store.set_down(true);
        assert_eq!(
            post(Some(secret), format!("token={}", pair.access_token))
                .await
                .status,
            503
        );
        assert_counts(
            &metrics.since_last(),
            &[
                ("refresh_auth_introspection_total{outcome=active}", 1),
                ("refresh_auth_introspection_total{outcome=inactive}", 1),
                (
                    "refresh_auth_introspection_total{outcome=invalid_client}",
                    2,
                ),
                (
                    "refresh_auth_introspection_total{outcome=invalid_request}",
                    1,
                ),
                ("refresh_auth_introspection_total{outcome=store_error}", 1),
                ("refresh_auth_introspection_total{outcome=throttled}", 1),
                ("refresh_auth_sessions_started_total", 1),
                ("refresh_auth_store_duration_seconds{op=create}", 1),
                // The login's session limit reads the subject's sessions.
                ("refresh_auth_store_duration_seconds{op=list}", 1),
                ("refresh_auth_store_duration_seconds{op=load}", 2),
            ],
        );
    });
}

#[test]
fn with_session_checking_a_revoked_session_is_counted_revoked() {
    recorded(|metrics| async move {
        let h = Harness::with(|b| b.check_sessions(true));
        let pair = h.login().await;
        assert_eq!(h.get("/api", Some(&pair.access_token)).await.status, 200);
        assert_eq!(h.logout(&pair.refresh_token).await.status, 204);
        metrics.since_last();
        assert_eq!(h.get("/api", Some(&pair.access_token)).await.status, 401);
        // A store that cannot answer says nothing about the token: `503`, not counted.
        h.store.set_down(true);
        assert_eq!(h.get("/api", Some(&pair.access_token)).await.status, 503);
        assert_counts(
            &metrics.since_last(),
            &[
                ("refresh_auth_store_duration_seconds{op=load}", 2),
                ("refresh_auth_verifications_total{outcome=revoked}", 1),
            ],
        );
    });
}

#[test]
fn logouts_and_revocations_are_counted_by_reason() {
    recorded(|metrics| async move {
        let (events, callback) = subscribed();
        let h = Harness::with(|b| b.on_security_event(callback));
        let first = h.login().await;
        assert_eq!(h.logout(&first.refresh_token).await.status, 204);
        // A stale logout is answered alike, and revokes nothing.
        assert_eq!(h.logout(&first.refresh_token).await.status, 204);
        assert_eq!(h.logout("garbage").await.status, 204);
        let second = h.login().await;
        assert!(h.auth.revoke_session(&second.session_id).await.unwrap());
        h.login().await;
        h.auth.issue("user1", admin()).await.unwrap();
        assert_eq!(h.auth.revoke_subject("user1").await.unwrap(), 2);
        assert_counts(
            &metrics.since_last(),
            &[
                ("refresh_auth_logouts_total", 3),
                ("refresh_auth_sessions_revoked_total{reason=logout}", 1),
                ("refresh_auth_sessions_revoked_total{reason=session}", 1),
                ("refresh_auth_sessions_revoked_total{reason=subject}", 2),
                ("refresh_auth_sessions_started_total", 4),
                ("refresh_auth_store_duration_seconds{op=create}", 4),
                ("refresh_auth_store_duration_seconds{op=list}", 4),
                ("refresh_auth_store_duration_seconds{op=revoke_subject}", 1),
                ("refresh_auth_store_duration_seconds{op=revoke}", 3),
            ],
        );
        assert_eq!(
            taken(&events),
            [
                SecurityEvent::SessionRevoked {
                    session: first.session_id,
                    subject: Some("user1".into()),
                    reason: RevocationReason::Logout
                },
                SecurityEvent::SessionRevoked {
                    session: second.session_id,
                    subject: Some("user1".into()),
                    reason: RevocationReason::Session
                },
                SecurityEvent::SubjectRevoked {
                    subject: "user1".into(),
                    sessions: 2
                },
            ]
        );
    });
}

#[test]
fn a_login_past_the_limit_counts_session_limit_and_names_the_subject() {
    recorded(|metrics| async move {
        let (events, callback) = subscribed();
        let h = Harness::with(|b| b.max_sessions_per_subject(2).on_security_event(callback));
        let oldest = h.login().await;
        h.clock.advance(Duration::from_secs(1));
        h.login().await;
        h.clock.advance(Duration::from_secs(1));
        metrics.since_last();
        h.login().await;
        assert_counts(
            &metrics.since_last(),
            &[
                (
                    "refresh_auth_sessions_revoked_total{reason=session_limit}",
                    1,
                ),
                ("refresh_auth_sessions_started_total", 1),
                ("refresh_auth_store_duration_seconds{op=create}", 1),
                // The newest two, then the page past them.
                ("refresh_auth_store_duration_seconds{op=list}", 2),
                ("refresh_auth_store_duration_seconds{op=revoke}", 1),
            ],
        );
        assert_eq!(
            taken(&events),
            [SecurityEvent::SessionRevoked {
                session: oldest.session_id,
                subject: Some("user1".into()),
                reason: RevocationReason::SessionLimit,
            }]
        );
    });
}

#[test]
fn a_store_failure_is_a_store_error_never_an_invalid_grant() {
    recorded(|metrics| async move {
        let (events, callback) = subscribed();
        let h = Harness::with(|b| b.on_security_event(callback));
        let pair = h.login().await;
        metrics.since_last();
        h.store.set_down(true);
        h.refresh(&pair.refresh_token)
            .await
            .assert_error(503, "temporarily_unavailable");
        assert_eq!(h.logout(&pair.refresh_token).await.status, 503);
        assert_counts(
            &metrics.since_last(),
            &[
                ("refresh_auth_refreshes_total{outcome=store_error}", 1),
                ("refresh_auth_store_duration_seconds{op=revoke}", 1),
                ("refresh_auth_store_duration_seconds{op=rotate}", 1),
            ],
        );
        assert_eq!(taken(&events), []);
    });
}

/// The `refresh` and `logout` spans name the session; no log line carries a token.
#[test]
fn spans_carry_the_session_id_and_never_a_token() {
    #[derive(Clone, Default)]
    struct Log(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Log {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let log = Log::default();
    let writer = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // The global default, not a scoped one: tracing caches each callsite's interest
    // globally, and a callsite first hit by a test on another thread would stay silent here.
    // The other tests' lines name other sessions.
    tracing::subscriber::set_global_default(subscriber).unwrap();
    let (pair, successor, other) = rt.block_on(async {
        let h = Harness::new();
        let pair = h.login().await;
        let renewed = h.refresh(&pair.refresh_token).await;
        // Inside the grace window: logged at debug, inside the span.
        assert_eq!(h.refresh(&pair.refresh_token).await.status, 200);
        let successor = renewed.json()["refreshToken"].as_str().unwrap().to_owned();
        h.clock.advance(Duration::from_secs(11));
        h.refresh(&pair.refresh_token)
            .await
            .assert_error(400, "invalid_grant");
        // The successor died with the session; a second login is logged out.
        assert_eq!(h.refresh(&successor).await.status, 400);
        let other = h.login().await;
        assert_eq!(h.logout(&other.refresh_token).await.status, 204);
        (pair, successor, other)
    });
    let log = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
    let sid = pair.session_id;
    for line in [
        format!(
            "refresh{{session={sid}}}: tower_refresh_auth::rotation: spent refresh token replayed inside the grace window"
        ),
        format!(
            "refresh{{session={sid}}}: tower_refresh_auth::rotation: refresh token reuse detected"
        ),
    ] {
        assert!(log.contains(&line), "no {line:?} in\n{log}");
    }
    let line = format!(
        "logout{{session={}}}: tower_refresh_auth::rotation: session logged out",
        other.session_id
    );
    assert!(log.contains(&line), "no {line:?} in\n{log}");
    for token in [
        &pair.refresh_token,
        &successor,
        &pair.access_token,
        &other.refresh_token,
    ] {
        assert!(!log.contains(token.as_str()), "a token in the log:\n{log}");
    }
}

#[test]
fn a_listing_and_ending_sessions_by_id_are_timed_and_counted() {
    recorded(|metrics| async move {
        let h = Harness::with(|b| b.sessions_route());
        let laptop = h.login().await;
        let phone = h.login().await;
        metrics.since_last();
        assert_eq!(
            h.get("/sessions", Some(&laptop.access_token)).await.status,
            200
        );
        let end_phone = http::Request::delete(format!("/sessions/{}", phone.session_id))
            .header("authorization", format!("Bearer {}", laptop.access_token))
            .body(String::new())
            .unwrap();
        assert_eq!(h.send(end_phone).await.status, 204);
        assert_counts(
            &metrics.since_last(),
            &[
                ("refresh_auth_sessions_revoked_total{reason=session}", 1),
                // The caller's session check, then the target's.
                ("refresh_auth_store_duration_seconds{op=list}", 1),
                ("refresh_auth_store_duration_seconds{op=load}", 2),
                ("refresh_auth_store_duration_seconds{op=revoke}", 1),
                // The caller's token, verified on the one path as on any guarded path.
                ("refresh_auth_verifications_total{outcome=ok}", 2),
            ],
        );
    });
}
