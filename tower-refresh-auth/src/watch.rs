//! Connections that end with their session: a [`SessionWatch`] a long-lived connection's
//! handler holds (a WebSocket, a gRPC server stream), resolving when the token the connection
//! was opened with expires or its session ends.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, UNIX_EPOCH};

use tokio::time::Instant;

use crate::error::AuthError;
use crate::revocation::Ask;
use crate::session::SessionId;
use crate::shared::Shared;
use crate::telemetry::{self, WatchEnd};
use crate::token::Claims;

/// How often a watch asks the store by default, when the layer checks sessions
/// [per request](crate::SessionChecking::PerRequest) (or while a
/// [feed](crate::SessionChecking::Feed) is being repaired).
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(30);

/// Why a [`SessionWatch`] resolved: the connection must end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionEnd {
    /// The access token the connection was opened with has expired (its `exp`, by the
    /// layer's clock).
    Expired,
    /// The token's session was revoked, or its subject logged out everywhere.
    Revoked,
    /// The store could not say whether the session is live, so the watch failed closed.
    Unconfirmed,
}

impl SessionEnd {
    /// A short reason, fit for a WebSocket close frame (at most 123 bytes) or a gRPC status
    /// message: `"token expired"`, `"session ended"`, `"session unconfirmed"`.
    pub const fn reason(self) -> &'static str {
        match self {
            Self::Expired => "token expired",
            Self::Revoked => "session ended",
            Self::Unconfirmed => "session unconfirmed",
        }
    }
}

impl fmt::Display for SessionEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason())
    }
}

/// A future that resolves, with a [`SessionEnd`], when a long-lived connection must end:
/// its access token expires or its session (or subject) is revoked
/// ([`RefreshAuth::watch`](crate::RefreshAuth::watch)).
///
/// What it watches depends on the layer's
/// [session checking](crate::RefreshAuthBuilder::check_sessions):
///
/// - [`Off`](crate::SessionChecking::Off): only the token's expiry.
/// - [`PerRequest`](crate::SessionChecking::PerRequest): the expiry, and the session read
///   from the store every [poll interval](Self::poll_every) (30 s by default): an ended
///   session ends the connection within one interval.
/// - [`Feed`](crate::SessionChecking::Feed): the expiry, and the instance's local set of
///   revocations, re-checked each time the set changes, with no store call: an ended session
///   ends the connection as soon as its revocation reaches this instance. When the set cannot
///   tell (the instance may have missed part of the feed, or the token was issued within
///   the clock-skew allowance of its subject's "log out everywhere"), the watch asks the
///   store at once, then every poll interval until the set can tell again.
///
/// A store that cannot answer ends the watch with [`SessionEnd::Unconfirmed`] (fail closed).
/// The expiry is read from the layer's [clock](crate::clock) each time the watch wakes; in
/// between it sleeps on tokio's timer until the `exp` that clock gave. Dropping the watch
/// stops it. It holds the layer's shared state, not the connection.
///
/// Watches are counted from their first poll: `refresh_auth_session_watches_started_total`,
/// `refresh_auth_session_watches_ended_total{reason}` (`expired`, `revoked`, `unconfirmed`,
/// or `dropped` before it resolved) and the gauge `refresh_auth_session_watches_active`
/// (`docs/protocol.md` §9).
///
/// ```
/// use tower_refresh_auth::watch::SessionEnd;
/// use tower_refresh_auth::{Claims, RefreshAuth};
///
/// /// Forwards messages until the connection's session ends, then says why.
/// async fn serve(auth: RefreshAuth, claims: Claims, mut messages: tokio::sync::mpsc::Receiver<String>) -> SessionEnd {
///     let mut watch = auth.watch(&claims);
///     loop {
///         tokio::select! {
///             end = &mut watch => return end,
///             message = messages.recv() => match message {
///                 Some(message) => println!("{message}"),
///                 None => return SessionEnd::Expired,
///             },
///         }
///     }
/// }
/// # let _ = serve;
/// ```
#[must_use = "a watch does nothing unless polled"]
pub struct SessionWatch {
    state: State,
}

enum State {
    Ready(Watching),
    Running(Pin<Box<dyn Future<Output = SessionEnd> + Send>>),
    Done(SessionEnd),
}

impl fmt::Debug for SessionWatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Ready(_) => "ready",
            State::Running(_) => "running",
            State::Done(_) => "done",
        };
        f.debug_struct("SessionWatch")
            .field("state", &state)
            .finish_non_exhaustive()
    }
}

impl SessionWatch {
    /// Sets how often the store is asked when sessions are checked per request, or while a
    /// followed feed may have missed revocations (default [`DEFAULT_POLL_INTERVAL`]; at
    /// least one second). No effect once the watch has been polled.
    pub fn poll_every(mut self, interval: Duration) -> Self {
        if let State::Ready(watching) = &mut self.state {
            watching.poll = interval.max(Duration::from_secs(1));
        }
        self
    }
}

impl Future for SessionWatch {
    type Output = SessionEnd;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<SessionEnd> {
        let this = &mut *self;
        loop {
            match &mut this.state {
                State::Done(end) => return Poll::Ready(*end),
                State::Ready(_) => {
                    let ready =
                        std::mem::replace(&mut this.state, State::Done(SessionEnd::Expired));
                    if let State::Ready(watching) = ready {
                        this.state = State::Running(Box::pin(watching.run()));
                        telemetry::watch_started();
                    }
                }
                State::Running(running) => {
                    let end = std::task::ready!(running.as_mut().poll(cx));
                    this.state = State::Done(end);
                    telemetry::watch_ended(match end {
                        SessionEnd::Expired => WatchEnd::Expired,
                        SessionEnd::Revoked => WatchEnd::Revoked,
                        SessionEnd::Unconfirmed => WatchEnd::Unconfirmed,
                    });
                    tracing::debug!(reason = end.reason(), "session watch resolved");
                }
            }
        }
    }
}

impl Drop for SessionWatch {
    /// A watch dropped while it runs ends the count of its guard as `dropped` (the
    /// connection ended on its own); one never polled was never counted.
    fn drop(&mut self) {
        if let State::Running(_) = self.state {
            telemetry::watch_ended(WatchEnd::Dropped);
        }
    }
}

/// What a watch needs of the claims, and of the layer.
struct Watching {
    shared: Arc<Shared>,
    sid: Option<SessionId>,
    sub: String,
    iat: u64,
    exp: u64,
    poll: Duration,
}

impl Watching {
    async fn run(self) -> SessionEnd {
        let check = &self.shared.sessions.check_sessions;
        let mut changes = check.changes();
        let expires = UNIX_EPOCH + Duration::from_secs(self.exp);
        // The request that opened the connection has just been checked: the store is asked
        // next at the interval, or as soon as the local set turns unsure of the session.
        let mut next_poll = Instant::now() + self.poll;
        let mut asked = true;
        loop {
            let Ok(left) = expires.duration_since(self.shared.clock.now()) else {
                return SessionEnd::Expired;
            };
            if left.is_zero() {
                return SessionEnd::Expired;
            }
            let wants_store = match check.ask(self.sid.as_ref(), &self.sub, self.iat) {
                Ask::Nothing => false,
                Ask::Refuse => return SessionEnd::Revoked,
                Ask::Store => true,
            };
            if !wants_store {
                asked = false;
            } else if !asked || Instant::now() >= next_poll {
                asked = true;
                next_poll = Instant::now() + self.poll;
                if let Some(end) = self.ask_store().await {
                    return end;
                }
            }
            tokio::select! {
                () = tokio::time::sleep(left) => {}
                () = tokio::time::sleep_until(next_poll), if wants_store => {}
                () = changed(changes.as_mut()) => {}
            }
        }
    }

    /// The store's word on the session: `None` while it is live.
    async fn ask_store(&self) -> Option<SessionEnd> {
        let Some(sid) = &self.sid else {
            return Some(SessionEnd::Revoked);
        };
        match self.shared.sessions.check_session(sid).await {
            Ok(()) => None,
            Err(AuthError::InvalidToken(_)) => Some(SessionEnd::Revoked),
            Err(_) => Some(SessionEnd::Unconfirmed),
        }
    }
}

/// The next change of the local set; never, without one.
async fn changed(changes: Option<&mut tokio::sync::watch::Receiver<u64>>) {
    // The sender lives as long as the layer, which the watch holds.
    if let Some(changes) = changes
        && changes.changed().await.is_ok()
    {
        return;
    }
    std::future::pending().await
}

impl SessionWatch {
    /// The watch of a connection opened with `claims` on the layer `shared`: see
    /// [`RefreshAuth::watch`](crate::RefreshAuth::watch).
    pub(crate) fn new<T>(shared: &Arc<Shared>, claims: &Claims<T>) -> Self {
        SessionWatch {
            state: State::Ready(Watching {
                shared: Arc::clone(shared),
                sid: claims.sid,
                sub: claims.sub.clone(),
                iat: claims.iat,
                exp: claims.exp,
                poll: DEFAULT_POLL_INTERVAL,
            }),
        }
    }
}
