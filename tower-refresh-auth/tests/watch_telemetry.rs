//! The connection guards' metrics (`docs/protocol.md` §9, §14): a `SessionWatch` is counted
//! when it starts watching (its first poll), and again when it stops, by why — its token
//! expired, its session was revoked, the store could not confirm it, or it was dropped before
//! it resolved — and the gauge of active watches follows both.
//!
//! As in `telemetry.rs`, the test installs its own `DebuggingRecorder` for its own thread only,
//! around a current-thread runtime whose timer is paused (it jumps to the next timer when
//! idle), with the layer on a manual clock.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use common::{Harness, Role};
use http::{HeaderMap, HeaderValue, Method, Uri};
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use tower_refresh_auth::watch::{SessionEnd, SessionWatch};
use tower_refresh_auth::{Claims, SessionChecking, TokenPair};

/// What the recorder saw of the guards: counters since the last look, by
/// `name{label=value}`, and the gauge of active watches at its value now (the recorder hands
/// out a gauge's change since the last look, summed here).
struct Watches {
    snapshotter: Snapshotter,
    active: Option<f64>,
}

impl Watches {
    fn since_last(&mut self) -> BTreeMap<String, f64> {
        let mut seen = BTreeMap::new();
        for (key, _, _, value) in self.snapshotter.snapshot().into_vec() {
            let key = key.key();
            if !key.name().starts_with("refresh_auth_session_watches_") {
                continue;
            }
            let labels: Vec<String> = key
                .labels()
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            let name = if labels.is_empty() {
                key.name().to_owned()
            } else {
                format!("{}{{{}}}", key.name(), labels.join(","))
            };
            match value {
                DebugValue::Counter(0) => {}
                DebugValue::Counter(n) => {
                    seen.insert(name, n as f64);
                }
                DebugValue::Gauge(change) => {
                    assert_eq!(name, ACTIVE, "the one gauge");
                    *self.active.get_or_insert(0.0) += change.into_inner();
                }
                DebugValue::Histogram(_) => panic!("no histogram: {name}"),
            }
        }
        if let Some(active) = self.active {
            seen.insert(ACTIVE.to_owned(), active);
        }
        seen
    }
}

#[track_caller]
fn assert_watches(seen: BTreeMap<String, f64>, expected: &[(&str, f64)]) {
    let expected: BTreeMap<String, f64> = expected
        .iter()
        .map(|(k, v)| ((*k).to_owned(), *v))
        .collect();
    assert_eq!(seen, expected);
}

/// Polls `watch` once: whether it has resolved by now.
fn resolved_now(watch: &mut SessionWatch) -> Option<SessionEnd> {
    match Pin::new(watch).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(end) => Some(end),
        Poll::Pending => None,
    }
}

/// The claims a request with `pair`'s access token carries on `h`.
async fn claims_of(h: &Harness, pair: &TokenPair) -> Claims<Role> {
    let mut headers = HeaderMap::new();
    let bearer = format!("Bearer {}", pair.access_token);
    headers.insert("authorization", HeaderValue::from_str(&bearer).unwrap());
    h.auth
        .authenticate(&Method::GET, &Uri::from_static("/ws"), &headers)
        .await
        .unwrap()
}

/// A watch of a connection opened with `pair` on `h`, asking the store every second,
/// started (polled once) and still running.
async fn started(h: &Harness, pair: &TokenPair) -> SessionWatch {
    let claims = claims_of(h, pair).await;
    let mut watch = h.auth.watch(&claims).poll_every(Duration::from_secs(1));
    assert_eq!(resolved_now(&mut watch), None, "a live session");
    watch
}

/// Waits for `watch` to resolve (on the paused timer, which jumps to the next poll).
async fn ended(watch: &mut SessionWatch) -> SessionEnd {
    tokio::time::timeout(Duration::from_secs(60), watch)
        .await
        .expect("the watch resolves")
}

const STARTED: &str = "refresh_auth_session_watches_started_total";
const ACTIVE: &str = "refresh_auth_session_watches_active";

#[test]
fn watches_are_counted_when_they_start_and_when_they_end_by_why() {
    let recorder = DebuggingRecorder::new();
    let mut metrics = Watches {
        snapshotter: recorder.snapshotter(),
        active: None,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    metrics::with_local_recorder(&recorder, || {
        rt.block_on(async {
            let h = Harness::with(|b| b.check_sessions(SessionChecking::PerRequest));

            // Made and dropped unpolled: it never watched, and is not counted.
            let pair = h.login().await;
            drop(h.auth.watch(&claims_of(&h, &pair).await));
            assert_watches(metrics.since_last(), &[]);

            // Started: counted, and active.
            let mut revoked = started(&h, &pair).await;
            assert_watches(metrics.since_last(), &[(STARTED, 1.0), (ACTIVE, 1.0)]);

            // Its session is revoked: found at the next poll of the store.
            assert!(h.auth.revoke_session(&pair.session_id).await.unwrap());
            assert_eq!(ended(&mut revoked).await, SessionEnd::Revoked);
            assert_watches(
                metrics.since_last(),
                &[
                    (
                        "refresh_auth_session_watches_ended_total{reason=revoked}",
                        1.0,
                    ),
                    (ACTIVE, 0.0),
                ],
            );
            // A resolved watch polled again, then dropped, is not counted again.
            assert_eq!(resolved_now(&mut revoked), Some(SessionEnd::Revoked));
            drop(revoked);
            assert_watches(metrics.since_last(), &[(ACTIVE, 0.0)]);

            // The store cannot answer: the watch fails closed.
            let pair = h.login().await;
            let mut unconfirmed = started(&h, &pair).await;
            h.store.set_down(true);
            assert_eq!(ended(&mut unconfirmed).await, SessionEnd::Unconfirmed);
            h.store.set_down(false);

            // The token expires, by the layer's clock.
            let pair = h.login().await;
            let mut expired = started(&h, &pair).await;
            h.clock.advance(Duration::from_secs(3600));
            assert_eq!(ended(&mut expired).await, SessionEnd::Expired);
            assert_watches(
                metrics.since_last(),
                &[
                    (STARTED, 2.0),
                    (
                        "refresh_auth_session_watches_ended_total{reason=expired}",
                        1.0,
                    ),
                    (
                        "refresh_auth_session_watches_ended_total{reason=unconfirmed}",
                        1.0,
                    ),
                    (ACTIVE, 0.0),
                ],
            );

            // Two connections end on their own while their watches run.
            let pair = h.login().await;
            let first = started(&h, &pair).await;
            let second = started(&h, &pair).await;
            assert_watches(metrics.since_last(), &[(STARTED, 2.0), (ACTIVE, 2.0)]);
            drop(first);
            assert_watches(
                metrics.since_last(),
                &[
                    (
                        "refresh_auth_session_watches_ended_total{reason=dropped}",
                        1.0,
                    ),
                    (ACTIVE, 1.0),
                ],
            );
            drop(second);
            assert_watches(
                metrics.since_last(),
                &[
                    (
                        "refresh_auth_session_watches_ended_total{reason=dropped}",
                        1.0,
                    ),
                    (ACTIVE, 0.0),
                ],
            );
        });
    });
}
