//! [`Users`]: the demo accounts, checked against argon2 hashes by a bounded set of checker
//! threads, with failed logins throttled per username.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use argon2::password_hash::{Output, PasswordHash};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use governor::clock::{Clock, DefaultClock, Reference};
use governor::middleware::{NoOpMiddleware, StateInformationMiddleware};
use governor::nanos::Nanos;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use tokio::sync::oneshot;

/// The demo accounts of the original app, `user1`/`password1` and `user2`/`password2`, as
/// argon2id PHC strings (the default parameters: 19 MiB, 2 passes), computed once offline so
/// that the server hashes nothing at start.
const DEMO: &[(&str, &str)] = &[
    (
        "user1",
        "$argon2id$v=19$m=19456,t=2,p=1$mqhgqKlrEjKYXerl8Pc9qA$O8xdyy+y2l8g1ajem4K6LBwlZMR4Znsbl1rYj71CHTc",
    ),
    (
        "user2",
        "$argon2id$v=19$m=19456,t=2,p=1$uiP/v8GibT6zcRkOCzaw2Q$kxUoVVjo+4szktFCiRmk98plJMQ/k85TAR3PyP5nMkw",
    ),
];

/// Checked when the user is unknown, so that an unknown name costs the same time as a wrong
/// password: the response time is no oracle for which names exist. The hash of 24 random
/// bytes nobody kept, with the same parameters as the accounts.
const DECOY: &str = "$argon2id$v=19$m=19456,t=2,p=1$YDy+1ZIEX5y9rMkypqTgbA$+Eba4BZI3k6Rd0hgzFYVomTZny3AuUMDoRMsLVy9d7U";

/// How many checks may wait for a free checker thread, per thread. Past that a login is
/// answered `503` at once instead of queueing work nobody may be waiting for by the time it
/// runs.
const QUEUED_PER_CHECKER: usize = 4;

/// Failed logins allowed per username and minute before `429`.
const FAILURES_PER_MINUTE: NonZeroU32 = match NonZeroU32::new(10) {
    Some(n) => n,
    None => panic!("not zero"),
};

/// How often a failure's cell comes back: a minute over [`FAILURES_PER_MINUTE`].
const REPLENISHED_EVERY: Duration = Duration::from_secs(60 / FAILURES_PER_MINUTE.get() as u64);

/// How often the throttle forgets the names whose failures no longer count (at the next
/// failure after this long).
const PRUNE_EVERY: Duration = Duration::from_secs(10);

/// The longest part of a username used as a throttle key or written to the log, in characters.
pub const USERNAME_LOG_LIMIT: usize = 64;

/// Why a login was refused before or by the password check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Unknown user or wrong password: `401 invalid_credentials`.
    InvalidCredentials,
    /// Every checker is busy and the queue is full: `503` with `Retry-After`.
    Busy,
    /// Too many failures for this username lately: `429` with `Retry-After` (whole seconds).
    Throttled {
        /// How long until the next attempt is taken.
        retry_after: Duration,
    },
}

/// The accounts the login route accepts, and the machinery that checks their passwords.
///
/// Cheap to clone. Password checks go to a fixed set of threads (one per core) over a bounded
/// queue: argon2 is deliberately slow and memory-hungry, so the work a burst of logins can
/// start is bounded, and each thread reuses one buffer of argon2 memory blocks, so the
/// server's memory under load is the checkers' working set and nothing more.
#[derive(Clone)]
pub struct Users {
    queue: SyncSender<Check>,
    failures: Arc<FailedLogins>,
    checkers: usize,
    queue_bound: usize,
}

/// One password check for the checker threads, and where to send the answer.
struct Check {
    username: String,
    password: String,
    answer: oneshot::Sender<bool>,
}

impl std::fmt::Debug for Users {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Users")
            .field("checkers", &self.checkers)
            .field("queue_bound", &self.queue_bound)
            .finish_non_exhaustive()
    }
}

impl Users {
    /// `user1`/`password1` and `user2`/`password2`, checked by one thread per core with
    /// four waiting checks each.
    pub fn demo() -> Self {
        let checkers = std::thread::available_parallelism().map_or(2, usize::from);
        Self::demo_with(checkers, checkers * QUEUED_PER_CHECKER)
    }

    /// The demo accounts with `checkers` threads and at most `queue_bound` checks waiting.
    ///
    /// # Panics
    ///
    /// If a built-in PHC string does not parse, which the tests rule out.
    pub fn demo_with(checkers: usize, queue_bound: usize) -> Self {
        #[allow(clippy::expect_used)] // Constants, parsed by the tests below.
        let accounts = Accounts::parse(DEMO, DECOY).expect("the demo PHC strings parse");
        let accounts = Arc::new(accounts);
        let memory = accounts.blocks;
        Self::spawn(
            checkers.max(1),
            queue_bound,
            move |memory, check| accounts.verify(memory, &check.username, &check.password),
            memory,
        )
    }

    fn spawn<F>(checkers: usize, queue_bound: usize, verify: F, blocks: usize) -> Self
    where
        F: Fn(&mut [Block], &Check) -> bool + Send + Sync + 'static,
    {
        let (queue, jobs) = std::sync::mpsc::sync_channel::<Check>(queue_bound);
        let jobs = Arc::new(Mutex::new(jobs));
        let verify = Arc::new(verify);
        for _ in 0..checkers {
            let jobs = Arc::clone(&jobs);
            let verify = Arc::clone(&verify);
            // The threads end when every `Users` clone (every sender) is gone.
            std::thread::spawn(move || checker(&jobs, &*verify, blocks));
        }
        tracing::info!(
            checkers,
            queue_bound,
            "password checker: {checkers} threads, at most {queue_bound} checks waiting"
        );
        Self {
            queue,
            failures: Arc::new(FailedLogins::new()),
            checkers,
            queue_bound,
        }
    }

    /// How many checks may wait for a checker thread before logins are answered `503`.
    pub fn queue_bound(&self) -> usize {
        self.queue_bound
    }

    /// Checks `username`'s password: `Ok` when it is theirs.
    ///
    /// Dropping the future before the check has started (the client went away) withdraws it:
    /// the checker skips it.
    ///
    /// # Errors
    ///
    /// The [`Refusal`]: throttled (checked first, so a throttled name costs no argon2 work),
    /// busy (the queue is full), or invalid credentials.
    pub async fn verify(&self, username: &str, password: String) -> Result<(), Refusal> {
        let key: String = username.chars().take(USERNAME_LOG_LIMIT).collect();
        if let Some(retry_after) = self.failures.throttled(&key) {
            return Err(Refusal::Throttled { retry_after });
        }
        let (answer, verdict) = oneshot::channel();
        let check = Check {
            username: username.to_owned(),
            password,
            answer,
        };
        match self.queue.try_send(check) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err(Refusal::Busy),
            Err(TrySendError::Disconnected(_)) => return Err(Refusal::Busy),
        }
        match verdict.await {
            Ok(true) => Ok(()),
            Ok(false) => match self.failures.failed(&key) {
                Some(retry_after) => Err(Refusal::Throttled { retry_after }),
                None => Err(Refusal::InvalidCredentials),
            },
            Err(_) => Err(Refusal::Busy),
        }
    }
}

/// Failed logins per username: [`FAILURES_PER_MINUTE`] of them, then `429` until a failure's
/// cell comes back (one every [`REPLENISHED_EVERY`]). The counting is `governor`'s keyed GCRA
/// limiter; the names whose cells are spent are remembered with the moment one returns, so
/// the next attempt is refused *before* its password is checked — the check is the work the
/// throttle saves.
///
/// Why this shape: it limits per username, not per client address, so it protects an account
/// against guessing spread over many addresses and does not shut out a shared address (a NAT,
/// a proxy); it counts failures only, so a genuine user's sign-ins never use it up; and it
/// never locks a name out for good: the cells come back on their own, so an attacker can keep
/// an account's login answering `429` only while attacking, and its sessions keep working.
///
/// Bounded: at most every [`PRUNE_EVERY`], a failure first forgets every name whose state is
/// back to fresh (`governor`'s `retain_recent`, then `shrink_to_fit`) and every throttle that
/// has run out, so what is kept is the names that failed in the last minute or so — bounded by
/// how many password checks the checkers can run in that time, however many distinct names
/// an attacker tries.
struct FailedLogins<C: Clock = DefaultClock> {
    limiter: RateLimiter<String, DefaultKeyedStateStore<String>, C, StateInformationMiddleware>,
    clock: C,
    spent: Mutex<Spent<C::Instant>>,
}

/// The names whose cells are spent, when the next attempt of each is taken, and when the
/// state was last pruned.
struct Spent<I> {
    until: HashMap<String, I>,
    pruned: I,
}

impl FailedLogins {
    fn new() -> Self {
        Self::with_clock(DefaultClock::default())
    }
}

impl<C: Clock + Clone> FailedLogins<C> {
    fn with_clock(clock: C) -> Self {
        let limiter = RateLimiter::<
            String,
            DefaultKeyedStateStore<String>,
            C,
            NoOpMiddleware<C::Instant>,
        >::new(
            Quota::per_minute(FAILURES_PER_MINUTE),
            DefaultKeyedStateStore::default(),
            clock.clone(),
        )
        .with_middleware::<StateInformationMiddleware>();
        let pruned = clock.now();
        Self {
            limiter,
            clock,
            spent: Mutex::new(Spent {
                until: HashMap::new(),
                pruned,
            }),
        }
    }

    /// How long `name` must wait, if its failures are used up.
    fn throttled(&self, name: &str) -> Option<Duration> {
        let spent = self.spent.lock().ok()?;
        let until = *spent.until.get(name)?;
        let now = self.clock.now();
        // Whole seconds for `Retry-After`, rounded up.
        (until > now)
            .then(|| Duration::from_secs(Duration::from(until.duration_since(now)).as_secs() + 1))
    }

    /// Counts a failure of `name`. `Some(wait)` when it was one past the allowance (failures
    /// that raced past the check in [`throttled`](Self::throttled)): answer it `429` too.
    fn failed(&self, name: &str) -> Option<Duration> {
        let key = name.to_owned();
        let (wait, over) = match self.limiter.check_key(&key) {
            Ok(state) if state.remaining_burst_capacity() > 0 => (None, false),
            // The last cell: this failure is answered as usual, the next attempt waits.
            Ok(_) => (Some(REPLENISHED_EVERY), false),
            Err(not_until) => (Some(not_until.wait_time_from(self.clock.now())), true),
        };
        let mut spent = self.spent.lock().ok()?;
        let now = self.clock.now();
        if now.duration_since(spent.pruned) >= Nanos::from(PRUNE_EVERY) {
            spent.until.retain(|_, until| *until > now);
            spent.until.shrink_to_fit();
            self.limiter.retain_recent();
            self.limiter.shrink_to_fit();
            spent.pruned = now;
        }
        match wait {
            Some(wait) => {
                spent.until.insert(key, now + Nanos::from(wait));
                // Whole seconds for `Retry-After`, rounded up.
                over.then(|| {
                    Duration::from_secs(wait.as_secs() + u64::from(wait.subsec_nanos() > 0))
                })
            }
            None => {
                spent.until.remove(&key);
                None
            }
        }
    }

    /// How many names the throttle holds state for.
    #[cfg(test)]
    fn tracked(&self) -> usize {
        let spent = self.spent.lock().map_or(0, |spent| spent.until.len());
        self.limiter.len().max(spent)
    }
}

/// A checker thread: takes checks off the queue, one at a time, in `blocks` argon2 memory
/// blocks allocated once (19 MiB with the default parameters) and reused for every check.
/// Allocating them per check, as `verify_password` does, let glibc keep each thread's freed
/// 19 MiB around, and a login burst grew the server by hundreds of megabytes.
fn checker<F>(jobs: &Mutex<Receiver<Check>>, verify: &F, blocks: usize)
where
    F: Fn(&mut [Block], &Check) -> bool,
{
    // Allocated at the first check, not at start: an idle server holds none of it.
    let mut memory = Vec::new();
    loop {
        let next = match jobs.lock() {
            Ok(jobs) => jobs.recv(),
            Err(_) => return,
        };
        let Ok(check) = next else {
            return;
        };
        // The request was dropped while the check waited: nobody will read the answer.
        if check.answer.is_closed() {
            tracing::debug!("login check skipped: the client has gone");
            continue;
        }
        if memory.len() < blocks {
            memory = vec![Block::default(); blocks];
        }
        let matches = verify(&mut memory, &check);
        let _ = check.answer.send(matches);
    }
}

/// The parsed PHC strings: what a check needs, without parsing per login.
struct Accounts {
    by_name: HashMap<String, Account>,
    decoy: Account,
    /// The memory blocks the largest of the hashes needs.
    blocks: usize,
}

struct Account {
    argon2: Argon2<'static>,
    salt: Vec<u8>,
    hash: Output,
}

impl Accounts {
    fn parse(accounts: &[(&str, &str)], decoy: &str) -> Result<Self, argon2::password_hash::Error> {
        let by_name = accounts
            .iter()
            .map(|(name, phc)| Ok(((*name).to_owned(), Account::parse(phc)?)))
            .collect::<Result<HashMap<_, _>, argon2::password_hash::Error>>()?;
        let decoy = Account::parse(decoy)?;
        let blocks = by_name
            .values()
            .chain([&decoy])
            .map(|a| a.argon2.params().block_count())
            .max()
            .unwrap_or(0);
        Ok(Self {
            by_name,
            decoy,
            blocks,
        })
    }

    fn verify(&self, memory: &mut [Block], username: &str, password: &str) -> bool {
        match self.by_name.get(username) {
            Some(account) => account.matches(memory, password),
            None => {
                // The same work for an unknown name, and the same answer whatever it gives.
                let _ = self.decoy.matches(memory, password);
                false
            }
        }
    }
}

impl Account {
    fn parse(phc: &str) -> Result<Self, argon2::password_hash::Error> {
        let parsed = PasswordHash::new(phc)?;
        let algorithm = Algorithm::try_from(parsed.algorithm)?;
        let version = parsed
            .version
            .map_or(Ok(Version::V0x13), Version::try_from)?;
        let params = Params::try_from(&parsed)?;
        let salt = parsed
            .salt
            .ok_or(argon2::password_hash::Error::SaltInvalid(
                argon2::password_hash::errors::InvalidValue::Malformed,
            ))?;
        let mut buf = [0; 64];
        let salt = salt.decode_b64(&mut buf)?.to_vec();
        let hash = parsed.hash.ok_or(argon2::password_hash::Error::Password)?;
        Ok(Self {
            argon2: Argon2::new(algorithm, version, params),
            salt,
            hash,
        })
    }

    /// Hashes `password` in `memory` and compares in constant time (`Output`'s `==`).
    fn matches(&self, memory: &mut [Block], password: &str) -> bool {
        let mut out = [0; 64];
        let out = &mut out[..self.hash.len()];
        self.argon2
            .hash_password_into_with_memory(password.as_bytes(), &self.salt, out, memory)
            .is_ok()
            && Output::new(out).is_ok_and(|out| out == self.hash)
    }
}

/// A username as the log may show it: control characters and quotes escaped
/// (`char::escape_debug`), at most [`USERNAME_LOG_LIMIT`] characters, then `…`. A name with a
/// newline or an ANSI escape sequence cannot forge or recolour a log line.
#[derive(Debug, Clone, Copy)]
pub struct LoggedName<'a>(pub &'a str);

impl std::fmt::Display for LoggedName<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write_escaped(f, self.0, USERNAME_LOG_LIMIT)
    }
}

/// The longest part of a request path written to the log, in characters.
pub const PATH_LOG_LIMIT: usize = 128;

/// A request path as the log may show it, escaped and truncated as [`LoggedName`] is (at most
/// [`PATH_LOG_LIMIT`] characters): a path may carry raw C1 controls (U+009B is a one-character
/// CSI), U+0085 or U+2028, which the HTTP parsers let through as UTF-8.
#[derive(Debug, Clone, Copy)]
pub struct LoggedPath<'a>(pub &'a str);

impl std::fmt::Display for LoggedPath<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write_escaped(f, self.0, PATH_LOG_LIMIT)
    }
}

/// `text` with every character `char::escape_debug` escapes escaped, cut after `limit`
/// characters with `…`.
fn write_escaped(f: &mut std::fmt::Formatter<'_>, text: &str, limit: usize) -> std::fmt::Result {
    use std::fmt::Write;
    let mut chars = text.chars();
    for c in chars.by_ref().take(limit) {
        for escaped in c.escape_debug() {
            f.write_char(escaped)?;
        }
    }
    if chars.next().is_some() {
        f.write_char('…')?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn the_demo_users_log_in_and_nobody_else() {
        let users = Users::demo();
        assert_eq!(users.verify("user1", "password1".into()).await, Ok(()));
        assert_eq!(users.verify("user2", "password2".into()).await, Ok(()));
        for (name, password) in [("user1", "password2"), ("nobody", "password1"), ("", "")] {
            assert_eq!(
                users.verify(name, password.into()).await,
                Err(Refusal::InvalidCredentials),
                "{name}"
            );
        }
    }

    #[test]
    fn the_built_in_hashes_parse_with_the_default_parameters() {
        let accounts = Accounts::parse(DEMO, DECOY).unwrap();
        assert_eq!(accounts.by_name.len(), 2);
        assert_eq!(accounts.blocks, Params::default().block_count());
        for (name, phc) in DEMO {
            assert!(phc.starts_with("$argon2id$"), "{name}");
        }
    }

    /// A checker whose checks wait for `release`, counting those it runs.
    fn blocked(
        checkers: usize,
        queue_bound: usize,
    ) -> (Users, std::sync::mpsc::Sender<()>, Arc<AtomicUsize>) {
        let (release, gate) = std::sync::mpsc::channel::<()>();
        let gate = Mutex::new(gate);
        let ran = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&ran);
        let users = Users::spawn(
            checkers,
            queue_bound,
            move |_, check| {
                counter.fetch_add(1, Ordering::SeqCst);
                let _ = gate.lock().unwrap().recv();
                check.password == "right"
            },
            0,
        );
        (users, release, ran)
    }

    async fn until(what: &str, done: impl Fn() -> bool) {
        for _ in 0..500 {
            if done() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("timed out waiting until {what}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_queue_is_refused_at_once() {
        let (users, release, ran) = blocked(1, 2);
        // One check running, two waiting: the queue is full.
        let running = tokio::spawn({
            let users = users.clone();
            async move { users.verify("a", "right".into()).await }
        });
        until("the first check runs", || ran.load(Ordering::SeqCst) == 1).await;
        let waiting: Vec<_> = ["b", "c"]
            .into_iter()
            .map(|name| {
                let users = users.clone();
                tokio::spawn(async move { users.verify(name, "wrong".into()).await })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(users.verify("d", "right".into()).await, Err(Refusal::Busy));
        for _ in 0..3 {
            release.send(()).unwrap();
        }
        assert_eq!(running.await.unwrap(), Ok(()));
        for check in waiting {
            assert_eq!(check.await.unwrap(), Err(Refusal::InvalidCredentials));
        }
        assert_eq!(ran.load(Ordering::SeqCst), 3);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_check_whose_client_has_gone_is_skipped() {
        let (users, release, ran) = blocked(1, 4);
        let running = tokio::spawn({
            let users = users.clone();
            async move { users.verify("a", "right".into()).await }
        });
        until("the first check runs", || ran.load(Ordering::SeqCst) == 1).await;
        // Queued behind it, then abandoned: the request future is dropped.
        let abandoned = tokio::spawn({
            let users = users.clone();
            async move { users.verify("b", "right".into()).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        abandoned.abort();
        let _ = abandoned.await;
        release.send(()).unwrap();
        assert_eq!(running.await.unwrap(), Ok(()));
        // The next check runs second: the abandoned one never did.
        let next = tokio::spawn({
            let users = users.clone();
            async move { users.verify("c", "right".into()).await }
        });
        until("the next check runs", || ran.load(Ordering::SeqCst) == 2).await;
        release.send(()).unwrap();
        assert_eq!(next.await.unwrap(), Ok(()));
        assert_eq!(ran.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn repeated_failures_for_one_name_are_throttled() {
        let users = Users::spawn(2, 16, |_, check| check.password == "right", 0);
        // Successes do not count.
        for _ in 0..20 {
            assert_eq!(users.verify("victim", "right".into()).await, Ok(()));
        }
        for _ in 0..FAILURES_PER_MINUTE.get() {
            assert_eq!(
                users.verify("victim", "wrong".into()).await,
                Err(Refusal::InvalidCredentials)
            );
        }
        // The eleventh attempt is refused before any check, even with the right password.
        match users.verify("victim", "right".into()).await {
            Err(Refusal::Throttled { retry_after }) => {
                assert!((1..=7).contains(&retry_after.as_secs()), "{retry_after:?}");
            }
            other => panic!("expected a throttle, got {other:?}"),
        }
        // Another name is untouched.
        assert_eq!(users.verify("someone", "right".into()).await, Ok(()));
    }

    /// Many distinct names failing once each (no throttle ever reached) are forgotten once
    /// their failure no longer counts: the state stays bounded by the names of the last
    /// minute or so, not by every name ever tried.
    #[test]
    fn names_that_failed_once_are_forgotten() {
        let clock = governor::clock::FakeRelativeClock::default();
        let failures = FailedLogins::with_clock(clock.clone());
        for i in 0..5_000 {
            assert_eq!(failures.failed(&format!("name{i}")), None);
            if i % 1_000 == 999 {
                clock.advance(Duration::from_secs(1));
            }
        }
        assert_eq!(failures.tracked(), 5_000);
        // A name whose failures are used up is throttled, then forgotten too.
        for _ in 0..FAILURES_PER_MINUTE.get() {
            failures.failed("victim");
        }
        assert!(failures.throttled("victim").is_some());
        // Then 100 new names a second for a minute: once the burst has aged out, what is kept
        // is the names of the last 12 s (until each one's cell is back) and up to a prune
        // interval more, not every name ever tried.
        for second in 1..=60 {
            clock.advance(Duration::from_secs(1));
            for i in 0..100 {
                failures.failed(&format!("second{second}-{i}"));
            }
            if second > 30 {
                assert!(
                    failures.tracked() <= 2_500,
                    "{} names tracked after {second} s",
                    failures.tracked()
                );
            }
        }
        assert!(failures.tracked() >= 100);
        clock.advance(Duration::from_secs(120));
        failures.failed("last");
        assert_eq!(failures.tracked(), 1);
        assert!(failures.throttled("victim").is_none());
    }

    #[test]
    fn names_are_logged_escaped_and_truncated() {
        let forged = "evil\n2026-01-01T00:00:00Z  INFO forged line \u{1b}[31mred\"";
        let logged = LoggedName(forged).to_string();
        assert!(
            !logged.contains('\n') && !logged.contains('\u{1b}'),
            "{logged}"
        );
        assert!(logged.starts_with(r"evil\n2026"), "{logged}");
        assert!(logged.contains(r#"\u{1b}[31mred\""#), "{logged}");
        let long = "x".repeat(1000);
        assert_eq!(
            LoggedName(&long).to_string(),
            format!("{}…", "x".repeat(USERNAME_LOG_LIMIT))
        );
        assert_eq!(LoggedName("user1").to_string(), "user1");
    }

    #[test]
    fn paths_are_logged_escaped_and_truncated() {
        let path = "/a\u{9b}31mred\u{85}b\u{2028}c\nd";
        let logged = LoggedPath(path).to_string();
        for raw in ['\u{9b}', '\u{85}', '\u{2028}', '\n'] {
            assert!(!logged.contains(raw), "{raw:?} in {logged:?}");
        }
        assert_eq!(logged, r"/a\u{9b}31mred\u{85}b\u{2028}c\nd");
        let long = format!("/{}", "p".repeat(1000));
        let logged = LoggedPath(&long).to_string();
        assert_eq!(logged.chars().count(), PATH_LOG_LIMIT + 1, "{logged}");
        assert!(logged.ends_with('…'));
        assert_eq!(LoggedPath("/api/dashboard").to_string(), "/api/dashboard");
    }
}
