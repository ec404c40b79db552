//! [`Users`]: the demo accounts, checked against argon2 hashes by a bounded set of checker
//! threads, with failed logins throttled per username.

mod accounts;
mod throttle;

use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use argon2::Block;
use tokio::sync::oneshot;

use self::accounts::{Accounts, DECOY, DEMO};
use self::throttle::FailedLogins;
use crate::logged::USERNAME_LOG_LIMIT;

/// How many checks may wait for a free checker thread, per thread. Past that a login is
/// answered `503` at once instead of queueing work nobody may be waiting for by the time it
/// runs.
const QUEUED_PER_CHECKER: usize = 4;

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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::throttle::FAILURES_PER_MINUTE;
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
}
