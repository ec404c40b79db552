//! The session lifecycle against stores that misbehave: rewritten records, a tab overtaken
//! on the same instance, a store behind a genuine token, a secret rotation.

use std::time::{Duration, SystemTime};

use crate::clock::{Clock, ManualClock};
use crate::session::Session;
use crate::store::intercept::{Call, Capability, Hooks, Intercepted};
use crate::store::{MemoryStore, RefreshStore, StoreError};
use crate::token::refresh_token::Sealed;
use crate::{AuthError, NoClaims, RefreshAuth, SecurityEvent};

const SECRET: &[u8] = b"a rotation test secret of at least 32 bytes";

/// A store that hands every record it loads or rotates back with its subject changed, as someone with write
/// access to the database would leave it; what it keeps stays intact.
type Rewriting = Intercepted<MemoryStore, RewriteSubject>;

/// The hooks of [`Rewriting`].
#[derive(Debug, Clone, Default)]
struct RewriteSubject;

#[async_trait::async_trait]
impl Hooks for RewriteSubject {
    async fn session(&self, call: Call, mut session: Session) -> Session {
        if matches!(call, Call::Load | Call::Rotate | Call::RotateUnbound) {
            session.subject = "admin".into();
        }
        session
    }

    fn offers(&self, capability: Capability) -> bool {
        matches!(capability, Capability::SubjectIndex | Capability::Dpop)
    }
}

/// A store that, on the first rotation through it, lets another instance refresh the same
/// token first, with the clock a millisecond later: two tabs of one browser, the second
/// request read the time first but reached the store last.
type Overtaken = Intercepted<MemoryStore, Overtake>;

/// The hooks of [`Overtaken`].
#[derive(Debug, Clone)]
struct Overtake {
    clock: ManualClock,
    /// The other instance and the token it refreshes first, taken by the first rotation.
    first: std::sync::Arc<std::sync::Mutex<Option<Overtaker>>>,
    overtaker_got: std::sync::Arc<std::sync::Mutex<Option<String>>>,
}

type Overtaker = (RefreshAuth<NoClaims>, String);

#[async_trait::async_trait]
impl Hooks for Overtake {
    async fn before(&self, call: Call) -> Result<(), StoreError> {
        if !matches!(call, Call::Rotate | Call::RotateUnbound) {
            return Ok(());
        }
        let overtaker = self.first.lock().unwrap().take();
        if let Some((auth, token)) = overtaker {
            self.clock.advance(Duration::from_millis(1));
            let pair = auth.refresh(&token).await.unwrap();
            *self.overtaker_got.lock().unwrap() = Some(pair.refresh_token);
        }
        Ok(())
    }

    fn offers(&self, capability: Capability) -> bool {
        matches!(capability, Capability::SubjectIndex | Capability::Dpop)
    }
}

#[tokio::test]
async fn a_tab_overtaken_by_another_on_the_same_instance_is_inside_the_window() {
    let inner = MemoryStore::new();
    let clock = ManualClock::default();
    let first = RefreshAuth::<NoClaims>::builder()
        .hs256(SECRET.to_vec())
        .store(inner.clone())
        .clock(clock.clone())
        .build()
        .unwrap();
    let pair = first.issue("alice", NoClaims {}).await.unwrap();
    let store = Overtaken::with_hooks(
        inner.clone(),
        Overtake {
            clock: clock.clone(),
            first: std::sync::Arc::new(std::sync::Mutex::new(Some((
                first.clone(),
                pair.refresh_token.clone(),
            )))),
            overtaker_got: std::sync::Arc::default(),
        },
    );
    let second = RefreshAuth::<NoClaims>::builder()
        .hs256(SECRET.to_vec())
        .store(store.clone())
        .clock(clock.clone())
        .build()
        .unwrap();

    // This request reads the time, then the other tab rotates (a millisecond later), then
    // this request's swap finds the token spent: a race inside the window, not a theft.
    let late = second.refresh(&pair.refresh_token).await.unwrap();
    let early = store.overtaker_got.lock().unwrap().clone().unwrap();
    assert_eq!(
        late.refresh_token, early,
        "both tabs hold the same successor"
    );
    assert!(first.refresh(&early).await.is_ok(), "the session lives on");
}

/// A writer that keeps what the subscriber wrote.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

// The only test in this binary that reaches the integrity check's `error!`, so no test
// without a subscriber can race it into tracing's interest cache.
#[tokio::test]
async fn a_record_failing_its_seal_is_refused_logged_and_never_signed() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let store = Rewriting::default();
    let clock = ManualClock::default();
    let auth = RefreshAuth::<NoClaims>::builder()
        .hs256(SECRET.to_vec())
        .store(store.clone())
        .clock(clock.clone())
        .check_sessions(true)
        .build()
        .unwrap();
    let pair = auth.issue("alice", NoClaims {}).await.unwrap();
    let id = pair.session_id;

    // The session check: a record that fails its seal is no session.
    let err = auth.shared.sessions.check_session(&id).await.unwrap_err();
    assert_eq!(err.description(), "the session has been revoked");
    // The refresh: refused like an unknown session, nothing signed for "admin".
    assert!(matches!(
        auth.refresh(&pair.refresh_token).await,
        Err(AuthError::InvalidGrant)
    ));
    // The spent token replayed after the window: still refused as unknown, and the
    // tampered record decides no revocation either.
    clock.advance(Duration::from_secs(60));
    assert!(matches!(
        auth.refresh(&pair.refresh_token).await,
        Err(AuthError::InvalidGrant)
    ));
    assert!(store.inner.load(&id, clock.now()).await.unwrap().is_some());

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let errors: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("ERROR") && l.contains("failed its integrity check"))
        .collect();
    assert_eq!(errors.len(), 3, "{text}");
    assert!(errors.iter().all(|l| l.contains(&id.to_string())), "{text}");
    assert!(!text.contains("reuse detected"), "{text}");
    for secret in [&pair.refresh_token, &pair.access_token] {
        assert!(
            !text.contains(secret.as_str()),
            "a token was logged: {text}"
        );
    }
    assert!(
        !text.contains(std::str::from_utf8(SECRET).unwrap()),
        "{text}"
    );
}

fn counter_of(auth: &RefreshAuth<NoClaims>, token: &str) -> u64 {
    auth.shared.sessions.keys.verify(token).unwrap().counter
}

#[tokio::test]
async fn a_token_ahead_of_a_restored_store_rolls_the_session_forward() {
    let store = MemoryStore::new();
    let clock = ManualClock::default();
    let events = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = std::sync::Arc::clone(&events);
    let auth = RefreshAuth::<NoClaims>::builder()
        .hs256(SECRET.to_vec())
        .store(store.clone())
        .clock(clock.clone())
        .on_security_event(move |e: &SecurityEvent| sink.lock().unwrap().push(e.clone()))
        .build()
        .unwrap();
    let first = auth.issue("alice", NoClaims {}).await.unwrap();
    let id = first.session_id;
    // The backup: the session as it was at its first token.
    let backup = store.load(&id, clock.now()).await.unwrap().unwrap();
    let second = auth.refresh(&first.refresh_token).await.unwrap();
    clock.advance(Duration::from_secs(60));
    let third = auth.refresh(&second.refresh_token).await.unwrap();
    assert_eq!(counter_of(&auth, &third.refresh_token), 2);
    // The store loses both rotations.
    store.create(&backup).await.unwrap();
    clock.advance(Duration::from_secs(60));

    let rolled = auth.refresh(&third.refresh_token).await.unwrap();
    // Its successor is past every counter ever minted, never a second token `1` or `2`.
    assert_eq!(counter_of(&auth, &rolled.refresh_token), 3);
    let record = store.load(&id, clock.now()).await.unwrap().unwrap();
    assert_eq!(record.counter, 3);
    assert_eq!(
        events.lock().unwrap().as_slice(),
        [SecurityEvent::RolledForward {
            session: id,
            subject: "alice".into(),
            generations: 2,
        }]
    );
    // The token just spent, replayed inside the window: the same successor again.
    let again = auth.refresh(&third.refresh_token).await.unwrap();
    assert_eq!(again.refresh_token, rolled.refresh_token);
    // A token behind the store, after the window, is still a reuse: the session ends.
    clock.advance(Duration::from_secs(60));
    assert!(matches!(
        auth.refresh(&second.refresh_token).await,
        Err(AuthError::InvalidGrant)
    ));
    assert!(store.load(&id, clock.now()).await.unwrap().is_none());
    assert!(matches!(
        auth.refresh(&rolled.refresh_token).await,
        Err(AuthError::InvalidGrant)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_roll_forwards_of_one_token_hand_out_one_successor() {
    let store = MemoryStore::new();
    let auth = RefreshAuth::<NoClaims>::builder()
        .hs256(SECRET.to_vec())
        .store(store.clone())
        .build()
        .unwrap();
    let first = auth.issue("alice", NoClaims {}).await.unwrap();
    let backup = store
        .load(&first.session_id, SystemTime::now())
        .await
        .unwrap()
        .unwrap();
    let second = auth.refresh(&first.refresh_token).await.unwrap();
    store.create(&backup).await.unwrap();
    let mut racers = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (auth, token) = (auth.clone(), second.refresh_token.clone());
        racers.spawn(async move { auth.refresh(&token).await });
    }
    let tokens: std::collections::HashSet<String> = racers
        .join_all()
        .await
        .into_iter()
        .map(|p| p.unwrap().refresh_token)
        .collect();
    assert_eq!(tokens.len(), 1, "one successor for every racer");
}

#[tokio::test]
async fn a_secret_rotation_reseals_active_sessions_and_logs_nobody_out() {
    let store = MemoryStore::new();
    let (old, new) = ([1u8; 32], [2u8; 32]);
    let build = |secrets: &[&[u8; 32]]| {
        let mut b = RefreshAuth::<NoClaims>::builder()
            .hs256(SECRET.to_vec())
            .store(store.clone())
            .refresh_secret(secrets[0].to_vec());
        for previous in &secrets[1..] {
            b = b.previous_refresh_secret(previous.to_vec());
        }
        b.build().unwrap()
    };
    let before = build(&[&old]);
    let active = before.issue("alice", NoClaims {}).await.unwrap();
    let idle = before.issue("carol", NoClaims {}).await.unwrap();

    // The new secret first, the old one kept: the active session refreshes, and is
    // sealed again under the new secret on the way.
    let rotated = build(&[&new, &old]);
    let renewed = rotated.refresh(&active.refresh_token).await.unwrap();
    let record = store
        .load(&renewed.session_id, SystemTime::now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        rotated.shared.sessions.keys.check_seal(&record),
        Sealed::Current
    );

    // The old secret removed: the active session goes on; the idle one, still sealed
    // and MACed under the old secret only, is over.
    let after = build(&[&new]);
    after.refresh(&renewed.refresh_token).await.unwrap();
    let idle_record = store
        .load(&idle.session_id, SystemTime::now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        rotated.shared.sessions.keys.check_seal(&idle_record),
        Sealed::Previous
    );
    assert_eq!(
        after.shared.sessions.keys.check_seal(&idle_record),
        Sealed::Broken
    );
    assert!(matches!(
        after.refresh(&idle.refresh_token).await,
        Err(AuthError::InvalidGrant)
    ));
}
