//! The conformance tests of the [`RevocationFeed`](crate::store::RevocationFeed) capability:
//! revocations numbered in order, read back until they expire, and pushed in order to every
//! subscription (on another instance too).

use std::time::Duration;

use crate::session::SessionId;
use crate::store::{FeedSubscription, Recorded, RefreshStore, Revocation, Revoked};

use super::{Fixture, now_ms, revocation_feed as feed};

/// How long a pushed revocation may take to arrive before the test fails (a bound, never a
/// wait: the test goes on as soon as it arrives).
const ARRIVAL: Duration = Duration::from_secs(10);

/// How many tasks publish at once.
const PUBLISHERS: usize = 16;

fn session_revocation(lifetime: Duration) -> Revocation {
    Revocation::new(Revoked::Session(SessionId::random()), now_ms(), lifetime)
}

async fn next(subscription: &mut Box<dyn FeedSubscription>) -> Recorded {
    tokio::time::timeout(ARRIVAL, subscription.next())
        .await
        .expect("a published revocation arrives")
        .expect("the subscription stays up")
}

/// Each revocation is numbered one past the one before; `since` reads them back in order
/// with the head, and nothing after the head.
pub async fn publish_numbers_in_order_and_since_reads_them_back<S: RefreshStore>(fx: &Fixture<S>) {
    let feed = feed(&fx.store);
    let now = now_ms();
    let start = feed.since(0, now).await.unwrap().head;
    let published = [
        session_revocation(Duration::from_secs(60)),
        Revocation::new(
            Revoked::Subject("al|ice \"everywhere\"".into()),
            now,
            Duration::from_secs(60),
        ),
        session_revocation(Duration::from_secs(60)),
    ];
    let mut seqs = Vec::new();
    for revocation in &published {
        seqs.push(feed.publish(revocation, now).await.unwrap());
    }
    assert_eq!(seqs, [start + 1, start + 2, start + 3]);
    let page = feed.since(start, now).await.unwrap();
    assert_eq!(page.head, start + 3);
    let read: Vec<_> = page
        .revocations
        .iter()
        .map(|r| (r.seq, &r.revocation))
        .collect();
    let expected: Vec<_> = seqs.iter().copied().zip(published.iter()).collect();
    assert_eq!(read, expected);
    let after = feed.since(start + 1, now).await.unwrap();
    assert_eq!(after.revocations.len(), 2);
    let none = feed.since(start + 3, now).await.unwrap();
    assert_eq!((none.head, none.revocations.len()), (start + 3, 0));
}

/// A revocation is read back until it expires, and not after; its number still counts.
pub async fn since_leaves_out_expired_revocations<S: RefreshStore>(fx: &Fixture<S>) {
    let feed = feed(&fx.store);
    let now = now_ms();
    let short = session_revocation(Duration::from_secs(2));
    let long = session_revocation(Duration::from_secs(60));
    let first = feed.publish(&short, now).await.unwrap();
    let second = feed.publish(&long, now).await.unwrap();
    let live = feed.since(first - 1, now).await.unwrap();
    assert_eq!(live.revocations.len(), 2);
    let later = now + Duration::from_secs(3);
    let page = feed.since(first - 1, later).await.unwrap();
    assert_eq!(page.head, second);
    assert_eq!(page.revocations.len(), 1);
    assert_eq!(page.revocations[0].revocation, long);
}

/// A subscription receives what is published after it, in order, with its numbers.
pub async fn a_subscription_receives_what_is_published_in_order<S: RefreshStore>(fx: &Fixture<S>) {
    let feed = feed(&fx.store);
    let mut subscription = feed.subscribe().await.unwrap();
    let now = now_ms();
    let mut published = Vec::new();
    for _ in 0..5 {
        let revocation = session_revocation(Duration::from_secs(60));
        let seq = feed.publish(&revocation, now).await.unwrap();
        published.push(Recorded { seq, revocation });
    }
    for expected in &published {
        assert_eq!(&next(&mut subscription).await, expected);
    }
}

/// Concurrent publishes get distinct, consecutive numbers, and a subscription receives them
/// in the order of their numbers.
pub async fn concurrent_publishes_are_numbered_and_pushed_in_order<S: RefreshStore + Clone>(
    fx: &Fixture<S>,
) {
    let mut subscription = feed(&fx.store).subscribe().await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..PUBLISHERS {
        let store = match (&fx.second, i % 2) {
            (Some(second), 1) => second.clone(),
            _ => fx.store.clone(),
        };
        tasks.push(tokio::spawn(async move {
            let revocation = session_revocation(Duration::from_secs(60));
            feed(&store).publish(&revocation, now_ms()).await.unwrap()
        }));
    }
    let mut seqs = Vec::new();
    for task in tasks {
        seqs.push(task.await.unwrap());
    }
    seqs.sort_unstable();
    let first = seqs[0];
    let expected: Vec<u64> = (first..first + PUBLISHERS as u64).collect();
    assert_eq!(seqs, expected, "distinct, consecutive numbers");
    let mut received = Vec::new();
    for _ in 0..PUBLISHERS {
        received.push(next(&mut subscription).await.seq);
    }
    assert_eq!(received, expected, "pushed in the order of their numbers");
}

/// A revocation published through one instance reaches a subscription made through the
/// other (skipped for a store that has no second instance: it is not shared).
pub async fn a_revocation_published_on_one_instance_reaches_the_other<S: RefreshStore>(
    fx: &Fixture<S>,
) {
    let Some(second) = &fx.second else {
        return;
    };
    let mut subscription = feed(second).subscribe().await.unwrap();
    let revocation = Revocation::new(
        Revoked::Subject("bob".into()),
        now_ms(),
        Duration::from_secs(60),
    );
    let seq = feed(&fx.store)
        .publish(&revocation, now_ms())
        .await
        .unwrap();
    assert_eq!(next(&mut subscription).await, Recorded { seq, revocation });
    let page = feed(second).since(seq - 1, now_ms()).await.unwrap();
    assert_eq!(page.head, seq);
}
