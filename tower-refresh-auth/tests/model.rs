//! Model-based test: random sequences of logins, refreshes (current, spent inside and after the
//! grace window, forged), logouts, "log out everywhere", clock jumps forward and back,
//! refreshes on a second instance whose clock disagrees, a store that forgets its last
//! writes to a session (an asynchronous failover, a restored backup: docs/protocol.md §11),
//! and key rotations at run time through [`KeyRing`](tower_refresh_auth::keyring::KeyRing)
//! (a key published ahead, the signing key and the refresh secret rotated, retired keys
//! pruned, on both instances at once, as a fleet does), run against the real layer (through
//! `tower::ServiceExt::oneshot`) and against a small reference model of the wire contract
//! (docs/protocol.md §1–§5b). After every step:
//!
//! - the layer's status (and `error` code) equals the model's;
//! - every access token ever issued is tried on a protected route, and exactly the ones the
//!   model says are alive pass;
//! - every session's state in the store (live or not, and its counter, which decides which
//!   refresh token is spendable) equals the model's. Refresh tokens are not probed by
//!   refreshing them, which would spend them; the `Refresh` steps exercise them instead.
//!
//! The driver, [`run`], takes the store as an `Arc<dyn RefreshStore>`, so every backend runs
//! the same model: the memory store always, SQLite, Redis and PostgreSQL with their features
//! (see `backends` at the bottom). Subjects carry a per-case random prefix, so cases and runs
//! sharing a database never meet, and each case revokes its sessions when it ends.
//!
//! Sessions may be DPoP-bound (docs/protocol.md §10): a login with a proof of its user's key,
//! or a refresh with a proof of any key (the owner's or a thief's) of an unbound session. A
//! bound session's refresh without its key's proof is `400 invalid_dpop_proof` and changes
//! nothing; its access tokens are probed with the DPoP scheme and a proof of that key.
//!
//! A rotation logs no one out: a token keeps verifying, and a refresh token keeps refreshing,
//! until it expires or its key is pruned — an access-token key one key overlap (here the
//! access-token lifetime) after it retired, a refresh secret one refresh-token lifetime after
//! it retired, each by the clock of the instance that prunes.
//!
//! A failure prints the shrunk `Vec<Op>` and the trace of what each step resolved to.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tower_refresh_auth::dpop::Dpop;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use http::StatusCode;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use sha2::Sha256;
use tower::{ServiceBuilder, service_fn};
use tower_refresh_auth::clock::{Clock, ManualClock};
use tower_refresh_auth::dpop::DpopMode;
use tower_refresh_auth::keys::SigningKey;
use tower_refresh_auth::session::{Authentication, Session, SessionId, SessionMetadata};
use tower_refresh_auth::store::{
    DpopStore, MemoryStore, ReauthStore, RefreshStore, ReplayKey, Rotation, StoreError,
    SubjectIndex,
};
use tower_refresh_auth::{Algorithm, NoClaims, RefreshAuth};
use tower_refresh_auth_test_support::dpop::DpopKey;
use tower_refresh_auth_test_support::{Reply, Stack, subject_echo};

const SECRET: &[u8] = b"model test secret, at least 32 bytes long";
const ACCESS_TTL: Duration = Duration::from_secs(60);
const REFRESH_TTL: Duration = Duration::from_secs(300);
const GRACE: Duration = Duration::from_secs(10);
const LIFETIME: Duration = Duration::from_secs(900);

/// The users who log in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum User {
    Ann,
    Bob,
    Cid,
}

/// One step of a scenario. Token numbers count back from the newest refresh token handed out
/// (`0` is the newest), wrapping around, so small numbers shrink towards the live chain.
#[derive(Debug, Clone)]
enum Op {
    /// The application's login handler calls `issue`; with `bind`, given a DPoP proof of
    /// the user's key.
    Login(User, bool),
    /// `POST /token` with a refresh token handed out earlier, as JSON or as a form, on the
    /// first instance or on the second (whose clock may disagree), with a DPoP proof by
    /// `proof`'s key or none.
    Refresh {
        token: u8,
        form: bool,
        on_b: bool,
        proof: ProofBy,
    },
    /// `POST /token` with a forgery derived from a refresh token handed out earlier.
    RefreshForged { token: u8, forgery: Forgery },
    /// `POST /logout` with a refresh token handed out earlier.
    Logout { token: u8, form: bool },
    /// `revoke_subject`: log out everywhere.
    LogoutEverywhere(User),
    /// Move both instances' clocks forward.
    Advance(Step),
    /// Step the first instance's clock back (an NTP correction), the second's with it.
    StepBack(Step),
    /// Set how far the second instance's clock is from the first's.
    SkewB(Skew),
    /// The store forgets the last `1 + writes % 3` rotations of the session of a refresh
    /// token handed out earlier: it holds that session as it was before them.
    Forget { token: u8, writes: u8 },
    /// The application re-authenticates the session of a refresh token handed out earlier
    /// (docs/protocol.md §15): `auth_time` rises to now, the session rotates, and a new
    /// pair for the same session comes back.
    Reauthenticate { token: u8 },
    /// Both instances publish a new key that verifies but does not sign yet
    /// (`KeyRing::publish`); skipped while one is published and not signing.
    PublishNext,
    /// Both instances rotate the signing key (`KeyRing::rotate`): to the key published
    /// ahead, if any, else to a new one. The keys are HS256 with no configured refresh secret,
    /// so the refresh-token MAC secret derived from the key rotates with it.
    RotateSigningKey,
    /// Both instances rotate the refresh-token MAC secret (`KeyRing::rotate_refresh_secret`).
    RotateRefreshSecret,
    /// Both instances drop the keys and secrets past their overlap (`KeyRing::prune`).
    PruneKeys,
}

/// Whose key signs a refresh's DPoP proof.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ProofBy {
    /// No proof.
    Nobody,
    /// The session's user's key.
    Owner,
    /// A key of someone who copied the refresh token.
    Thief,
}

/// The thief's key among [`System::keys`]; the users' keys follow.
const THIEF: usize = 0;

impl User {
    /// The user's key among [`System::keys`].
    fn key(self) -> usize {
        match self {
            Self::Ann => 1,
            Self::Bob => 2,
            Self::Cid => 3,
        }
    }
}

/// How far the second instance's clock reads from the first's.
#[derive(Debug, Clone, Copy)]
enum Skew {
    /// The same time.
    None,
    /// 30 s behind: it sees rotations made by the first as in its future.
    Behind,
    /// 30 s ahead.
    Ahead,
}

impl Skew {
    fn offset_ms(self) -> i64 {
        match self {
            Self::None => 0,
            Self::Behind => -30_000,
            Self::Ahead => 30_000,
        }
    }
}

/// How a refresh token is forged.
#[derive(Debug, Clone, Copy)]
enum Forgery {
    /// One bit of the decoded token flipped (the bit number wraps around the 57 bytes).
    FlipBit(u16),
    /// The last character dropped.
    Truncated,
    /// The same session and counter, MACed under another deployment's key.
    OtherDeployment,
    /// The successor's counter with the original MAC: guessing the next token.
    GuessedSuccessor,
    /// The session's access token presented as a refresh token.
    AccessToken,
}

/// How far the clock moves.
#[derive(Debug, Clone, Copy)]
enum Step {
    /// 1 ms.
    Tick,
    /// Exactly the grace window: a replay is still inside it.
    Grace,
    /// The grace window and 1 ms: a replay is reuse.
    PastGrace,
    /// The access-token lifetime: every access token issued before has expired.
    PastAccess,
    /// Half the refresh-token lifetime.
    HalfRefreshTtl,
    /// The refresh-token lifetime: unrefreshed sessions expire.
    PastRefreshTtl,
    /// The absolute session lifetime: every session before has ended.
    PastLifetime,
}

impl Step {
    fn duration(self) -> Duration {
        match self {
            Self::Tick => Duration::from_millis(1),
            Self::Grace => GRACE,
            Self::PastGrace => GRACE + Duration::from_millis(1),
            Self::PastAccess => ACCESS_TTL,
            Self::HalfRefreshTtl => REFRESH_TTL / 2,
            Self::PastRefreshTtl => REFRESH_TTL,
            Self::PastLifetime => LIFETIME,
        }
    }
}

/// How the layer is configured for a case. Neither setting changes the wire contract, so the
/// model is the same; `check_sessions` changes which access tokens pass after a revocation.
#[derive(Debug, Clone, Copy)]
struct Config {
    /// `check_sessions(true)`: access tokens die with their session.
    check_sessions: bool,
    /// `verified_token_cache(16)`: verified tokens are cached (and must still expire and be
    /// dropped on revocation exactly as without it).
    cache: bool,
    /// The second instance runs with DPoP off (a rolling deploy, a canary): it ignores
    /// proofs, so it refreshes as if none were sent — and, like the first, must leave a bound
    /// session exactly as it was (issue 24).
    b_dpop_off: bool,
}

fn config() -> impl Strategy<Value = Config> {
    (any::<bool>(), any::<bool>(), any::<bool>()).prop_map(|(check_sessions, cache, b_dpop_off)| {
        Config {
            check_sessions,
            cache,
            b_dpop_off,
        }
    })
}

fn user() -> impl Strategy<Value = User> {
    prop_oneof![Just(User::Ann), Just(User::Bob), Just(User::Cid)]
}

fn token_number() -> impl Strategy<Value = u8> {
    prop_oneof![3 => 0u8..3, 1 => any::<u8>()]
}

fn op() -> impl Strategy<Value = Op> {
    let forgery = prop_oneof![
        any::<u16>().prop_map(Forgery::FlipBit),
        Just(Forgery::Truncated),
        Just(Forgery::OtherDeployment),
        Just(Forgery::GuessedSuccessor),
        Just(Forgery::AccessToken),
    ];
    let step = prop_oneof![
        Just(Step::Tick),
        Just(Step::Grace),
        Just(Step::PastGrace),
        Just(Step::PastAccess),
        Just(Step::HalfRefreshTtl),
        Just(Step::PastRefreshTtl),
        Just(Step::PastLifetime),
    ];
    prop_oneof![
        3 => (user(), any::<bool>()).prop_map(|(user, bind)| Op::Login(user, bind)),
        6 => (
            token_number(),
            any::<bool>(),
            prop::bool::weighted(0.3),
            prop_oneof![2 => Just(ProofBy::Nobody), 2 => Just(ProofBy::Owner), 1 => Just(ProofBy::Thief)],
        )
            .prop_map(|(token, form, on_b, proof)| Op::Refresh { token, form, on_b, proof }),
        2 => (token_number(), forgery).prop_map(|(token, forgery)| Op::RefreshForged { token, forgery }),
        2 => (token_number(), any::<bool>()).prop_map(|(token, form)| Op::Logout { token, form }),
        1 => user().prop_map(Op::LogoutEverywhere),
        4 => step.clone().prop_map(Op::Advance),
        1 => step.prop_map(Op::StepBack),
        1 => prop_oneof![Just(Skew::None), Just(Skew::Behind), Just(Skew::Ahead)].prop_map(Op::SkewB),
        1 => (token_number(), any::<u8>()).prop_map(|(token, writes)| Op::Forget { token, writes }),
        2 => token_number().prop_map(|token| Op::Reauthenticate { token }),
        1 => Just(Op::PublishNext),
        1 => Just(Op::RotateSigningKey),
        1 => Just(Op::RotateRefreshSecret),
        1 => Just(Op::PruneKeys),
    ]
}

/// What the model knows about one session.
#[derive(Debug)]
struct ModelSession {
    user: User,
    id: SessionId,
    counter: u64,
    rotated_ms: u64,
    expires_ms: u64,
    absolute_ms: u64,
    revoked: bool,
    /// The key the session is bound to, among [`System::keys`].
    bound: Option<usize>,
    /// When the user last authenticated (the login or a re-authentication), in seconds:
    /// every access token of the session carries it as `auth_time`.
    auth_time: u64,
    /// The oldest refresh secret the stored session can be sealed under: the one current at
    /// the last write the model knows (a read may seal it again under a newer one; a
    /// forgotten write brings back an older state, so `0` after one).
    seal: usize,
}

impl ModelSession {
    fn live(&self, now_ms: u64) -> bool {
        !self.revoked && now_ms < self.expires_ms && now_ms < self.absolute_ms
    }
}

struct RefreshToken {
    session: usize,
    counter: u64,
    /// The refresh secret that MACed it, a generation of [`Keys::secrets`].
    secret: usize,
    text: String,
}

struct AccessToken {
    session: usize,
    /// The DPoP key the token is bound to (`cnf.jkt`), if any.
    bound: Option<usize>,
    /// `iat`, in ms: before it the token is not valid yet.
    issued_ms: u64,
    expires_ms: u64,
    /// The key that signed it, a generation of [`Keys::signing`].
    key: usize,
    text: String,
}

/// The keys both instances rotate together. A generation is an index: the current one is the
/// length of the list of retired ones.
#[derive(Debug, Default)]
struct Keys {
    /// The retired signing keys: when the first instance (where access tokens are probed)
    /// retired each, and whether it pruned it since.
    signing: Vec<(u64, bool)>,
    /// The retired refresh secrets: when each instance (first, second) retired each, and
    /// whether each pruned it since.
    secrets: Vec<([u64; 2], [bool; 2])>,
}

impl Keys {
    fn signing_gen(&self) -> usize {
        self.signing.len()
    }

    fn secret_gen(&self) -> usize {
        self.secrets.len()
    }

    fn signing_pruned(&self, key: usize) -> bool {
        self.signing.get(key).is_some_and(|k| k.1)
    }

    fn secret_pruned(&self, secret: usize, instance: usize) -> bool {
        self.secrets.get(secret).is_some_and(|s| s.1[instance])
    }

    /// `KeyRing::rotate` on the first instance at `now_a`: the keys past their overlap are
    /// pruned, the signing key retires.
    fn rotate_signing(&mut self, now_a: u64) {
        self.prune_signing(now_a);
        self.signing.push((now_a, false));
    }

    /// A refresh-secret rotation at each instance's time.
    fn rotate_secret(&mut self, now: [u64; 2]) {
        self.secrets.push((now, [false; 2]));
    }

    /// `KeyRing::prune` on both instances, at each one's time: a key retired at least one key
    /// overlap (the access-token lifetime, no leeway) ago, a secret retired at least one
    /// refresh-token lifetime ago.
    fn prune(&mut self, now: [u64; 2]) {
        self.prune_signing(now[0]);
        for (retired, pruned) in &mut self.secrets {
            for i in 0..2 {
                pruned[i] |= retired[i] + ms(REFRESH_TTL) <= now[i];
            }
        }
    }

    fn prune_signing(&mut self, now_a: u64) {
        for (retired, pruned) in &mut self.signing {
            *pruned |= *retired + ms(ACCESS_TTL) <= now_a;
        }
    }
}

/// The reference model of docs/protocol.md §2–§5b with the rotation rules of the crate docs.
struct Model {
    /// The first instance's clock.
    now_ms: u64,
    /// How far the second instance's clock reads from the first's.
    skew_b_ms: i64,
    /// The latest time either clock has read (see [`Model::ambiguous`]).
    high_water_ms: u64,
    start_ms: u64,
    check_sessions: bool,
    sessions: Vec<ModelSession>,
    refresh: Vec<RefreshToken>,
    access: Vec<AccessToken>,
    /// The key rotations so far.
    keys: Keys,
    /// Whether the first instance caches verified tokens: a cached token may outlive its
    /// pruned key.
    cache: bool,
}

/// What the model expects a refresh to answer.
#[derive(Debug, PartialEq, Eq)]
enum Expect {
    /// `200` with a refresh token never seen before.
    Rotated,
    /// `200` with this (already handed out) successor again: a replay inside the window.
    Replayed(String),
    /// `400 invalid_grant`.
    InvalidGrant,
    /// `400 invalid_dpop_proof`: a bound session without its key's proof; nothing changes.
    InvalidDpopProof,
}

impl Model {
    /// The second instance's clock.
    fn now_b_ms(&self) -> u64 {
        self.now_ms.saturating_add_signed(self.skew_b_ms)
    }

    /// Moves the clocks: the first to `now`, the second `skew` from it.
    fn set_clocks(&mut self, now: u64, skew: i64) {
        self.now_ms = now;
        self.skew_b_ms = skew;
        self.high_water_ms = self.high_water_ms.max(now).max(self.now_b_ms());
    }

    /// Whether the store's answer for session `s` at `now` is up to the store: some clock has
    /// passed its deadline, so the store may have forgotten it (docs/protocol.md §2: a store
    /// may delete a session that is not live whenever it likes) or may keep it until a purge,
    /// yet `now` reads earlier than that deadline — after a step back, or on an instance whose
    /// clock is behind. The model does not guess: such a session is neither refreshed nor
    /// compared until the clocks are past its deadline again.
    fn ambiguous(&self, s: usize, now: u64) -> bool {
        let session = &self.sessions[s];
        let deadline = session.expires_ms.min(session.absolute_ms);
        !session.revoked && deadline <= self.high_water_ms && now < deadline
    }

    /// Whether an access token passes on the first instance (where every probe goes).
    fn access_works(&self, token: &AccessToken) -> bool {
        self.time_and_session_allow(token) && !self.keys.signing_pruned(token.key)
    }

    /// Whether an access token passes on the first instance, its key aside.
    fn time_and_session_allow(&self, token: &AccessToken) -> bool {
        token.issued_ms <= self.now_ms
            && self.now_ms < token.expires_ms
            && (!self.check_sessions || self.sessions[token.session].live(self.now_ms))
    }

    /// Whether the answer for an access token is up to the verified-token cache: its key
    /// was pruned while the token was alive, and it may have been cached before.
    fn cached_past_prune(&self, token: &AccessToken) -> bool {
        self.cache && self.keys.signing_pruned(token.key) && self.time_and_session_allow(token)
    }

    /// [`refresh`](Self::refresh) on the first instance or (`on_b`) the second: a token
    /// MACed with a secret that instance pruned is refused before the store is asked, and
    /// changes nothing.
    fn refresh_on(&mut self, token: usize, now: u64, proof: Option<usize>, on_b: bool) -> Expect {
        if self
            .keys
            .secret_pruned(self.refresh[token].secret, usize::from(on_b))
        {
            return Expect::InvalidGrant;
        }
        self.refresh(token, now, proof)
    }

    /// Whether session `s` may be sealed under a secret that `instance` pruned: whether the
    /// layer takes it for tampered (and refuses it) is then up to which reads sealed it again.
    fn seal_ambiguous(&self, s: usize, instance: usize) -> bool {
        self.keys.secret_pruned(self.sessions[s].seal, instance)
    }

    /// The token handed out for `counter` of session `s` under the current refresh secret:
    /// tokens are a function of session, counter and secret.
    fn minted(&self, s: usize, counter: u64) -> Option<&RefreshToken> {
        let secret = self.keys.secret_gen();
        self.refresh
            .iter()
            .find(|t| t.session == s && t.counter == counter && t.secret == secret)
    }

    /// The rotation policy: RFC 9700 §4.14.2 with the grace window of docs/protocol.md §3,
    /// at the clock of the instance that answers (§5b), and the roll-forward of §11.
    /// With DPoP (§10) first: a bound session needs its key's proof, and the current token
    /// of an unbound one with a proof binds it.
    fn refresh(&mut self, token: usize, now: u64, proof: Option<usize>) -> Expect {
        let (s, presented) = (self.refresh[token].session, self.refresh[token].counter);
        let secret = self.keys.secret_gen();
        let session = &mut self.sessions[s];
        if !session.live(now) {
            return Expect::InvalidGrant;
        }
        match session.bound {
            Some(key) if proof != Some(key) => return Expect::InvalidDpopProof,
            None if session.counter == presented => session.bound = proof,
            _ => {}
        }
        if session.counter <= presented {
            // The current token rotates; one ahead of a store that forgot rotations rolls the
            // session forward past it (§11). Either way the successor is `presented + 1`.
            session.counter = presented + 1;
            session.seal = secret;
            session.rotated_ms = now;
            session.expires_ms = now + ms(REFRESH_TTL);
            // A successor minted before the store forgot: tokens are a function of session
            // and counter, so it is that very token again, never a new one for the counter.
            match self.minted(s, presented + 1) {
                Some(minted) => Expect::Replayed(minted.text.clone()),
                None => Expect::Rotated,
            }
        } else if session.counter == presented + 1
            // §5b: a clock that reads earlier than the rotation knows nothing of how long ago
            // the token was spent: outside the window.
            && now.checked_sub(session.rotated_ms).is_some_and(|since| since <= ms(GRACE))
        {
            // The successor handed out by the rotation that spent its parent, minted again
            // under the current secret: a new text if the secret rotated since.
            match self.minted(s, presented + 1) {
                Some(successor) => Expect::Replayed(successor.text.clone()),
                None => Expect::Rotated,
            }
        } else {
            // A spent token after the window (or two generations old): the family dies.
            session.revoked = true;
            Expect::InvalidGrant
        }
    }

    /// An access token issued by the instance whose clock reads `now`.
    fn issued_access(&mut self, session: usize, text: String, now: u64) {
        // JWT times are whole seconds: `iat = floor(now)`, `exp = iat + ttl`.
        let issued_ms = now / 1000 * 1000;
        self.access.push(AccessToken {
            session,
            bound: self.sessions[session].bound,
            issued_ms,
            expires_ms: issued_ms + ACCESS_TTL.as_secs() * 1000,
            key: self.keys.signing_gen(),
            text,
        });
    }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap()
}

/// The clock's start: a minute past the current time, at millisecond precision, which every
/// store keeps. Near real time, so that a store whose records also expire by the server's own
/// clock, like Redis keys, forgets them soon after the test; a minute ahead, so that no clock
/// of the model (which never steps back before the start, and whose second instance is at
/// most 30 s behind) makes such a store expire a record the layer still holds live.
fn start_time() -> SystemTime {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    UNIX_EPOCH + Duration::from_millis(ms(now) + 60_000)
}

/// A store that remembers every state it wrote of each session, so that it can forget the
/// last ones: [`Forgetful::forget`] writes an older state back, as a replica promoted before
/// it received them, or a restored backup, would hold it.
#[derive(Debug)]
struct Forgetful {
    inner: Arc<dyn RefreshStore>,
    history: Mutex<HashMap<SessionId, Vec<Session>>>,
}

impl Forgetful {
    /// The wrapped store's index: every store these tests wrap keeps one.
    fn index(&self) -> &dyn SubjectIndex {
        self.inner
            .subject_index()
            .expect("the wrapped store keeps a subject index")
    }

    /// The wrapped store's DPoP memory: every store these tests wrap has it.
    fn dpop_store(&self) -> &dyn DpopStore {
        self.inner.dpop().expect("the wrapped store offers DPoP")
    }

    fn remember(&self, session: &Session) {
        let mut history = self.history.lock().unwrap();
        history.entry(session.id).or_default().push(session.clone());
    }

    /// Forgets the last `writes` rotations of session `id`, if it has had that many; returns
    /// the state it holds now.
    async fn forget(&self, id: &SessionId, writes: usize) -> Option<Session> {
        let restored = {
            let mut history = self.history.lock().unwrap();
            let states = history.get_mut(id)?;
            if states.len() <= writes {
                return None;
            }
            states.truncate(states.len() - writes);
            states.last()?.clone()
        };
        self.inner.create(&restored).await.unwrap();
        Some(restored)
    }
}

#[async_trait::async_trait]
impl RefreshStore for Forgetful {
    async fn create(&self, session: &Session) -> Result<(), StoreError> {
        self.inner.create(session).await?;
        self.remember(session);
        Ok(())
    }

    async fn load(&self, id: &SessionId, now: SystemTime) -> Result<Option<Session>, StoreError> {
        self.inner.load(id, now).await
    }

    async fn rotate(
        &self,
        id: &SessionId,
        expected: u64,
        next: u64,
        now: SystemTime,
        expires_at: SystemTime,
    ) -> Result<Rotation, StoreError> {
        let rotation = self
            .inner
            .rotate(id, expected, next, now, expires_at)
            .await?;
        if let Rotation::Rotated(session) = &rotation {
            self.remember(session);
        }
        Ok(rotation)
    }

    async fn revoke(&self, id: &SessionId) -> Result<bool, StoreError> {
        self.history.lock().unwrap().remove(id);
        self.inner.revoke(id).await
    }

    async fn reseal(&self, id: &SessionId, seal: &str) -> Result<bool, StoreError> {
        self.inner.reseal(id, seal).await
    }

    fn subject_index(&self) -> Option<&dyn SubjectIndex> {
        Some(self)
    }

    fn dpop(&self) -> Option<&dyn DpopStore> {
        Some(self)
    }

    fn reauth(&self) -> Option<&dyn ReauthStore> {
        Some(self)
    }
}

#[async_trait::async_trait]
impl ReauthStore for Forgetful {
    /// A re-authentication is not one of the writes this store forgets: the states before
    /// it (other claims, another seal) are dropped from the history, so `forget` never goes
    /// back past it.
    async fn reauthenticate(
        &self,
        current: &Session,
        next: &Session,
        now: SystemTime,
    ) -> Result<Option<Session>, StoreError> {
        let store = self
            .inner
            .reauth()
            .expect("the wrapped store re-authenticates");
        let after = store.reauthenticate(current, next, now).await?;
        if let Some(session) = &after {
            self.history
                .lock()
                .unwrap()
                .insert(session.id, vec![session.clone()]);
        }
        Ok(after)
    }
}

#[async_trait::async_trait]
impl SubjectIndex for Forgetful {
    async fn revoke_subject(&self, subject: &str) -> Result<u64, StoreError> {
        self.history
            .lock()
            .unwrap()
            .retain(|_, states| states.first().is_none_or(|s| s.subject != subject));
        self.index().revoke_subject(subject).await
    }

    async fn list(&self, subject: &str, now: SystemTime) -> Result<Vec<Session>, StoreError> {
        self.index().list(subject, now).await
    }
}

#[async_trait::async_trait]
impl DpopStore for Forgetful {
    /// A binding is not one of the writes this store forgets: it is stamped on every state
    /// remembered so far (the seal covers the key, not the counter), so that forgetting
    /// rotations later gives back a bound session, as the model expects.
    async fn bind(
        &self,
        id: &SessionId,
        jkt: &str,
        seal: &str,
        now: SystemTime,
    ) -> Result<Option<Session>, StoreError> {
        let bound = self.dpop_store().bind(id, jkt, seal, now).await?;
        if let Some(session) = &bound
            && let Some(states) = self.history.lock().unwrap().get_mut(id)
        {
            for state in states {
                state.jkt.clone_from(&session.jkt);
                state.seal.clone_from(&session.seal);
            }
        }
        Ok(bound)
    }

    async fn remember_proof(
        &self,
        key: &ReplayKey,
        expires_at: SystemTime,
        now: SystemTime,
    ) -> Result<bool, StoreError> {
        self.dpop_store().remember_proof(key, expires_at, now).await
    }
}

/// The system under test: the layer in front of a handler that names the claims' subject.
struct System {
    start: SystemTime,
    auth: RefreshAuth<NoClaims>,
    /// The second instance's layer, whose keys rotate with the first's.
    auth_b: RefreshAuth<NoClaims>,
    clock: ManualClock,
    store: Arc<dyn RefreshStore>,
    /// The same store, seen as one that can forget its last writes.
    forgetful: Arc<Forgetful>,
    stack: Stack,
    /// A second instance on the same store, with a clock of its own.
    clock_b: ManualClock,
    stack_b: Stack,
    /// Whether the second instance has DPoP off.
    b_dpop_off: bool,
    prefix: String,
    /// The DPoP keys: [`THIEF`]'s, then each user's ([`User::key`]).
    keys: Vec<DpopKey>,
}

/// Where the model's instances say they are, for the proofs' `htu`.
const ORIGIN: &str = "https://model.example";

impl System {
    fn new(store: Arc<dyn RefreshStore>, config: Config) -> Self {
        let forgetful = Arc::new(Forgetful {
            inner: store,
            history: Mutex::default(),
        });
        let store: Arc<dyn RefreshStore> = Arc::clone(&forgetful) as _;
        let start = start_time();
        let instance = |clock: &ManualClock, dpop: DpopMode| {
            let mut builder = RefreshAuth::<NoClaims>::builder();
            if config.cache {
                builder = builder.verified_token_cache(16);
            }
            if dpop.is_on() {
                builder = builder.dpop(Dpop::new(dpop).origin(ORIGIN));
            }
            builder
                .hs256(SECRET.to_vec())
                .clock(clock.clone())
                .store(Arc::clone(&store))
                .access_ttl(ACCESS_TTL)
                .refresh_ttl(REFRESH_TTL)
                .reuse_grace(GRACE)
                .session_lifetime(LIFETIME)
                .check_sessions(config.check_sessions)
                .build()
                .expect("a valid configuration")
        };
        let stack = |auth: &RefreshAuth<NoClaims>| {
            Stack::new(
                ServiceBuilder::new()
                    .layer(auth.layer())
                    .service(service_fn(subject_echo::<NoClaims>)),
            )
        };
        let clock = ManualClock::new(start);
        let clock_b = ManualClock::new(start);
        let auth = instance(&clock, DpopMode::Optional);
        let auth_b = instance(
            &clock_b,
            if config.b_dpop_off {
                DpopMode::Off
            } else {
                DpopMode::Optional
            },
        );
        Self {
            start,
            stack: stack(&auth),
            stack_b: stack(&auth_b),
            b_dpop_off: config.b_dpop_off,
            auth,
            auth_b,
            clock,
            clock_b,
            store,
            forgetful,
            prefix: URL_SAFE_NO_PAD.encode(rand::random::<[u8; 6]>()),
            keys: (0..4).map(|_| DpopKey::es256()).collect(),
        }
    }

    /// A proof by key `key` for `method` at `path`, at the time `now_ms`.
    fn proof(
        &self,
        key: usize,
        method: &str,
        path: &str,
        token: Option<&str>,
        now_ms: u64,
    ) -> String {
        let key = &self.keys[key];
        let mut claims = key.claims(method, &format!("{ORIGIN}{path}"), token);
        claims["iat"] = serde_json::json!(now_ms / 1000);
        key.sign(&key.header(), &claims)
    }

    fn subject(&self, user: User) -> String {
        format!("{}-{user:?}", self.prefix)
    }

    /// Sets both clocks from the model's.
    fn follow(&self, model: &Model) {
        self.clock
            .set(UNIX_EPOCH + Duration::from_millis(model.now_ms));
        self.clock_b
            .set(UNIX_EPOCH + Duration::from_millis(model.now_b_ms()));
    }

    async fn post(&self, path: &str, token: &str, form: bool) -> Reply {
        self.post_on(&self.stack, path, token, form).await
    }

    async fn post_on(&self, stack: &Stack, path: &str, token: &str, form: bool) -> Reply {
        self.post_with(stack, path, token, form, None).await
    }

    async fn post_with(
        &self,
        stack: &Stack,
        path: &str,
        token: &str,
        form: bool,
        dpop: Option<String>,
    ) -> Reply {
        let (content_type, body) = match (path, form) {
            (_, false) => (
                "application/json",
                format!(r#"{{"refreshToken":"{token}"}}"#),
            ),
            ("/token", true) => (
                "application/x-www-form-urlencoded",
                format!("grant_type=refresh_token&refresh_token={token}"),
            ),
            (_, true) => (
                "application/x-www-form-urlencoded",
                format!("token={token}&token_type_hint=refresh_token"),
            ),
        };
        let mut req = http::Request::post(path).header("content-type", content_type);
        if let Some(dpop) = dpop {
            req = req.header("dpop", dpop);
        }
        stack.send(req.body(body).unwrap()).await
    }

    /// A protected request with `token`: a bound one with the DPoP scheme and a fresh proof
    /// of its key, at the first instance's time `now_ms`.
    async fn protected(&self, token: &AccessToken, now_ms: u64) -> Reply {
        let Some(key) = token.bound else {
            return self.stack.get("/api/dashboard", Some(&token.text)).await;
        };
        let req = http::Request::get("/api/dashboard")
            .header("authorization", format!("DPoP {}", token.text))
            .header(
                "dpop",
                self.proof(key, "GET", "/api/dashboard", Some(&token.text), now_ms),
            )
            .body(String::new())
            .unwrap();
        self.stack.send(req).await
    }
}

/// The same session and counter as `token`, MACed under another key (the documented format:
/// `version | session id | counter | HMAC-SHA256`).
fn remac(token: &str, key: &[u8], counter_delta: u64, keep_mac: bool) -> String {
    let mut raw = URL_SAFE_NO_PAD.decode(token).unwrap();
    assert_eq!(raw.len(), 57, "the refresh-token format changed");
    let counter = u64::from_be_bytes(raw[17..25].try_into().unwrap()) + counter_delta;
    raw[17..25].copy_from_slice(&counter.to_be_bytes());
    if !keep_mac {
        let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
        mac.update(&raw[..25]);
        raw[25..].copy_from_slice(&mac.finalize().into_bytes());
    }
    URL_SAFE_NO_PAD.encode(raw)
}

fn forge(model: &Model, token: usize, forgery: Forgery) -> String {
    let genuine = &model.refresh[token].text;
    match forgery {
        Forgery::FlipBit(bit) => {
            let mut raw = URL_SAFE_NO_PAD.decode(genuine).unwrap();
            let bit = usize::from(bit) % (raw.len() * 8);
            raw[bit / 8] ^= 1 << (bit % 8);
            URL_SAFE_NO_PAD.encode(raw)
        }
        Forgery::Truncated => genuine[..genuine.len() - 1].to_owned(),
        Forgery::OtherDeployment => {
            remac(genuine, b"another deployment's 32+ byte secret", 0, false)
        }
        Forgery::GuessedSuccessor => remac(genuine, &[], 1, true),
        Forgery::AccessToken => {
            let session = model.refresh[token].session;
            model
                .access
                .iter()
                .rev()
                .find(|a| a.session == session)
                .map(|a| a.text.clone())
                .expect("every session was issued an access token")
        }
    }
}

/// Fails the case with the trace so far.
fn fail(trace: &str, what: String) -> TestCaseError {
    TestCaseError::fail(format!("{what}\n--- trace ---\n{trace}"))
}

/// Runs `ops` against the layer over `store` and against the model; see the module docs.
/// Whatever the outcome, the case's sessions are revoked afterwards, so a shared store keeps
/// nothing of the run.
async fn run(
    store: Arc<dyn RefreshStore>,
    config: Config,
    ops: &[Op],
) -> Result<(), TestCaseError> {
    let sys = System::new(store, config);
    let result = drive(&sys, config, ops).await;
    for user in [User::Ann, User::Bob, User::Cid] {
        sys.auth
            .revoke_subject(&sys.subject(user))
            .await
            .expect("clean up the case's sessions");
    }
    result
}

/// The steps of [`run`].
async fn drive(sys: &System, config: Config, ops: &[Op]) -> Result<(), TestCaseError> {
    let mut model = Model {
        now_ms: ms(sys.start.duration_since(UNIX_EPOCH).unwrap()),
        skew_b_ms: 0,
        high_water_ms: ms(sys.start.duration_since(UNIX_EPOCH).unwrap()),
        start_ms: ms(sys.start.duration_since(UNIX_EPOCH).unwrap()),
        check_sessions: config.check_sessions,
        sessions: Vec::new(),
        refresh: Vec::new(),
        access: Vec::new(),
        keys: Keys::default(),
        cache: config.cache,
    };
    // The key published ahead on both instances, and how many keys were made.
    let mut next_key: Option<SigningKey> = None;
    let mut keys_made = 0;
    let mut trace = format!("{config:?}\n");
    // Picks a refresh token counting back from the newest.
    let pick = |model: &Model, n: u8| {
        let len = model.refresh.len();
        (len > 0).then(|| len - 1 - usize::from(n) % len)
    };
    let describe = |model: &Model, i: usize| {
        let t = &model.refresh[i];
        let s = &model.sessions[t.session];
        format!(
            "refresh token #{i} ({:?}'s session {}, counter {})",
            s.user, t.session, t.counter
        )
    };

    for (step, op) in ops.iter().enumerate() {
        let _ = write!(trace, "{step:>3}. {op:?}");
        match *op {
            Op::Login(user, bind) => {
                let now = model.now_ms;
                let mut req = http::Request::post("/login");
                if bind {
                    req = req.header("dpop", sys.proof(user.key(), "POST", "/login", None, now));
                }
                let req = req.body(()).unwrap();
                let proof = sys
                    .auth
                    .verify_dpop(req.method(), req.uri(), req.headers())
                    .await
                    .unwrap();
                let pair = sys
                    .auth
                    .issue_with(
                        sys.subject(user),
                        NoClaims {},
                        SessionMetadata::new().with_dpop(proof),
                    )
                    .await
                    .unwrap();
                model.sessions.push(ModelSession {
                    user,
                    id: pair.session_id,
                    counter: 0,
                    rotated_ms: now,
                    expires_ms: now + ms(REFRESH_TTL),
                    absolute_ms: now + ms(LIFETIME),
                    revoked: false,
                    bound: bind.then_some(user.key()),
                    auth_time: now / 1000,
                    seal: model.keys.secret_gen(),
                });
                let s = model.sessions.len() - 1;
                model.refresh.push(RefreshToken {
                    session: s,
                    counter: 0,
                    secret: model.keys.secret_gen(),
                    text: pair.refresh_token,
                });
                check_auth_time(&model, s, &pair.access_token, &trace)?;
                model.issued_access(s, pair.access_token, now);
                let _ = write!(trace, " -> session {s}");
            }
            Op::Refresh {
                token,
                form,
                on_b,
                proof,
            } => {
                let Some(i) = pick(&model, token) else {
                    trace.push_str(" (no token yet)\n");
                    continue;
                };
                let _ = write!(trace, " -> {}", describe(&model, i));
                let text = model.refresh[i].text.clone();
                let (s, counter) = (model.refresh[i].session, model.refresh[i].counter);
                let (stack, now) = if on_b {
                    (&sys.stack_b, model.now_b_ms())
                } else {
                    (&sys.stack, model.now_ms)
                };
                if model.ambiguous(s, now) {
                    trace.push_str(" (skipped: the store may or may not have forgotten it)\n");
                    continue;
                }
                if !model
                    .keys
                    .secret_pruned(model.refresh[i].secret, usize::from(on_b))
                    && model.seal_ambiguous(s, usize::from(on_b))
                {
                    trace.push_str(" (skipped: sealed under a pruned secret or not)\n");
                    continue;
                }
                let key = match proof {
                    // An instance with DPoP off ignores proofs: as if none were sent.
                    _ if on_b && sys.b_dpop_off => None,
                    ProofBy::Nobody => None,
                    ProofBy::Owner => Some(model.sessions[s].user.key()),
                    ProofBy::Thief => Some(THIEF),
                };
                let expect = model.refresh_on(i, now, key, on_b);
                let dpop = key.map(|key| sys.proof(key, "POST", "/token", None, now));
                let reply = sys.post_with(stack, "/token", &text, form, dpop).await;
                let _ = write!(trace, ": {expect:?}, got {}", reply.status);
                let json = reply.try_json().unwrap_or_default();
                let (access_field, refresh_field) = if form {
                    ("access_token", "refresh_token")
                } else {
                    ("accessToken", "refreshToken")
                };
                match &expect {
                    Expect::InvalidDpopProof => {
                        if reply.status != StatusCode::BAD_REQUEST
                            || json["error"] != "invalid_dpop_proof"
                        {
                            return Err(fail(
                                &trace,
                                format!(
                                    "expected 400 invalid_dpop_proof, got {}",
                                    reply.describe()
                                ),
                            ));
                        }
                    }
                    Expect::InvalidGrant => {
                        if reply.status != StatusCode::BAD_REQUEST
                            || json["error"] != "invalid_grant"
                        {
                            return Err(fail(
                                &trace,
                                format!("expected 400 invalid_grant, got {}", reply.describe()),
                            ));
                        }
                    }
                    Expect::Rotated | Expect::Replayed(_) => {
                        let (Some(access), Some(refresh)) =
                            (json[access_field].as_str(), json[refresh_field].as_str())
                        else {
                            return Err(fail(
                                &trace,
                                format!("expected 200 with a pair, got {}", reply.describe()),
                            ));
                        };
                        if reply.status != StatusCode::OK {
                            return Err(fail(&trace, format!("got {}", reply.describe())));
                        }
                        match &expect {
                            Expect::Replayed(successor) if refresh != successor => {
                                return Err(fail(
                                    &trace,
                                    "a replay inside the window got another successor".into(),
                                ));
                            }
                            Expect::Rotated if model.refresh.iter().any(|t| t.text == refresh) => {
                                return Err(fail(
                                    &trace,
                                    "a rotation handed out a token seen before".into(),
                                ));
                            }
                            Expect::Rotated => model.refresh.push(RefreshToken {
                                session: s,
                                counter: counter + 1,
                                secret: model.keys.secret_gen(),
                                text: refresh.to_owned(),
                            }),
                            _ => {}
                        }
                        check_auth_time(&model, s, access, &trace)?;
                        model.issued_access(s, access.to_owned(), now);
                    }
                }
            }
            Op::RefreshForged { token, forgery } => {
                let Some(i) = pick(&model, token) else {
                    trace.push_str(" (no token yet)\n");
                    continue;
                };
                let _ = write!(trace, " -> forged from {}", describe(&model, i));
                let forged = forge(&model, i, forgery);
                let reply = sys.post("/token", &forged, false).await;
                if reply.status != StatusCode::BAD_REQUEST
                    || reply.try_json().unwrap_or_default()["error"] != "invalid_grant"
                {
                    return Err(fail(
                        &trace,
                        format!(
                            "a forged token got {} instead of 400 invalid_grant",
                            reply.describe()
                        ),
                    ));
                }
            }
            Op::Logout { token, form } => {
                let Some(i) = pick(&model, token) else {
                    trace.push_str(" (no token yet)\n");
                    continue;
                };
                let _ = write!(trace, " -> {}", describe(&model, i));
                let text = model.refresh[i].text.clone();
                if model.seal_ambiguous(model.refresh[i].session, 0) {
                    trace.push_str(" (skipped: sealed under a pruned secret or not)\n");
                    continue;
                }
                // A token whose secret was pruned is not recognised: nothing is revoked.
                if !model.keys.secret_pruned(model.refresh[i].secret, 0) {
                    model.sessions[model.refresh[i].session].revoked = true;
                }
                let reply = sys.post("/logout", &text, form).await;
                // docs/protocol.md §4: 204 for JSON, 200 for the RFC 7009 form, known token or not.
                let want = if form {
                    StatusCode::OK
                } else {
                    StatusCode::NO_CONTENT
                };
                if reply.status != want {
                    return Err(fail(
                        &trace,
                        format!("logout: expected {want}, got {}", reply.describe()),
                    ));
                }
            }
            Op::LogoutEverywhere(user) => {
                // A session the store may already have forgotten counts as held, not live.
                let live = (0..model.sessions.len())
                    .filter(|&i| {
                        let s = &model.sessions[i];
                        s.user == user && s.live(model.now_ms) && !model.ambiguous(i, model.now_ms)
                    })
                    .count();
                let held = model
                    .sessions
                    .iter()
                    .filter(|s| s.user == user && !s.revoked)
                    .count();
                for s in model.sessions.iter_mut().filter(|s| s.user == user) {
                    s.revoked = true;
                }
                let n = sys.auth.revoke_subject(&sys.subject(user)).await.unwrap();
                let _ = write!(trace, " -> {n} revoked");
                // Expired sessions not yet swept may be counted too, revoked ones never.
                let n = usize::try_from(n).unwrap();
                if n < live || n > held {
                    return Err(fail(
                        &trace,
                        format!("revoked {n} sessions; {live} were live and {held} held"),
                    ));
                }
            }
            Op::Advance(step) => {
                model.set_clocks(model.now_ms + ms(step.duration()), model.skew_b_ms);
                sys.follow(&model);
            }
            Op::StepBack(step) => {
                let Some(now) = model
                    .now_ms
                    .checked_sub(ms(step.duration()))
                    .filter(|&now| now >= model.start_ms)
                else {
                    trace.push_str(" (skipped: not before the start)\n");
                    continue;
                };
                model.set_clocks(now, model.skew_b_ms);
                sys.follow(&model);
            }
            Op::SkewB(skew) => {
                model.set_clocks(model.now_ms, skew.offset_ms());
                sys.follow(&model);
            }
            Op::Reauthenticate { token } => {
                let Some(i) = pick(&model, token) else {
                    trace.push_str(" (no token yet)\n");
                    continue;
                };
                let _ = write!(trace, " -> {}", describe(&model, i));
                let s = model.refresh[i].session;
                let now = model.now_ms;
                if model.ambiguous(s, now) {
                    trace.push_str(" (skipped: the store may or may not have forgotten it)\n");
                    continue;
                }
                if model.seal_ambiguous(s, 0) {
                    trace.push_str(" (skipped: sealed under a pruned secret or not)\n");
                    continue;
                }
                let how = Authentication::new().acr("urn:example:model").amr(["pwd"]);
                let result = sys.auth.reauthenticate(&model.sessions[s].id, how).await;
                let session = &mut model.sessions[s];
                if !session.live(now) {
                    let _ = write!(trace, ": expected the session gone, got {result:?}");
                    if !matches!(result, Err(tower_refresh_auth::AuthError::InvalidToken(_))) {
                        return Err(fail(&trace, "a dead session was re-authenticated".into()));
                    }
                } else {
                    let Ok(pair) = result else {
                        return Err(fail(
                            &trace,
                            format!("re-authentication failed: {result:?}"),
                        ));
                    };
                    if pair.session_id != session.id {
                        return Err(fail(
                            &trace,
                            "re-authentication started another session".into(),
                        ));
                    }
                    let counter = session.counter + 1;
                    session.counter = counter;
                    session.rotated_ms = now;
                    session.expires_ms = now + ms(REFRESH_TTL);
                    session.auth_time = now / 1000;
                    session.seal = model.keys.secret_gen();
                    let _ = write!(trace, ": counter {counter}, auth_time {}", now / 1000);
                    // As a rotation: the successor is a function of session, counter and
                    // refresh secret.
                    match model.minted(s, counter) {
                        Some(minted) if minted.text != pair.refresh_token => {
                            return Err(fail(&trace, "another token for a minted counter".into()));
                        }
                        Some(_) => {}
                        None if model.refresh.iter().any(|t| t.text == pair.refresh_token) => {
                            return Err(fail(&trace, "a token seen before".into()));
                        }
                        None => model.refresh.push(RefreshToken {
                            session: s,
                            counter,
                            secret: model.keys.secret_gen(),
                            text: pair.refresh_token,
                        }),
                    }
                    check_auth_time(&model, s, &pair.access_token, &trace)?;
                    model.issued_access(s, pair.access_token, now);
                }
            }
            Op::PublishNext => {
                if next_key.is_some() {
                    trace.push_str(" (skipped: one is published already)\n");
                    continue;
                }
                let key = new_key(&mut keys_made);
                for auth in [&sys.auth, &sys.auth_b] {
                    auth.keys().publish(key.verifying_key()).unwrap();
                }
                let _ = write!(trace, " -> {}", key.kid());
                next_key = Some(key);
            }
            Op::RotateSigningKey => {
                let key = next_key.take().unwrap_or_else(|| new_key(&mut keys_made));
                let _ = write!(trace, " -> {}", key.kid());
                for auth in [&sys.auth, &sys.auth_b] {
                    auth.keys().rotate(key.clone()).unwrap();
                }
                model.keys.rotate_signing(model.now_ms);
                model.keys.rotate_secret([model.now_ms, model.now_b_ms()]);
            }
            Op::RotateRefreshSecret => {
                let secret = rand::random::<[u8; 32]>().to_vec();
                for auth in [&sys.auth, &sys.auth_b] {
                    auth.keys().rotate_refresh_secret(secret.clone()).unwrap();
                }
                model.keys.rotate_secret([model.now_ms, model.now_b_ms()]);
            }
            Op::PruneKeys => {
                let pruned = sys.auth.keys().prune();
                sys.auth_b.keys().prune();
                model.keys.prune([model.now_ms, model.now_b_ms()]);
                let _ = write!(trace, " -> {pruned:?}");
                // The first instance verifies with its signing key, the key published
                // ahead and the retired keys the model has not pruned.
                let want = 1
                    + usize::from(next_key.is_some())
                    + model.keys.signing.iter().filter(|k| !k.1).count();
                let kids = sys.auth.keys().verifying_kids();
                if kids.len() != want {
                    return Err(fail(
                        &trace,
                        format!("after pruning {kids:?} verify; the model says {want} keys"),
                    ));
                }
            }
            Op::Forget { token, writes } => {
                let Some(i) = pick(&model, token) else {
                    trace.push_str(" (no token yet)\n");
                    continue;
                };
                let s = model.refresh[i].session;
                // Only a session both sides hold live: forgetting is not resurrecting.
                if !model.sessions[s].live(model.now_ms) || model.ambiguous(s, model.now_ms) {
                    trace.push_str(" (skipped: not a live session)\n");
                    continue;
                }
                let writes = 1 + usize::from(writes % 3);
                let Some(restored) = sys.forgetful.forget(&model.sessions[s].id, writes).await
                else {
                    trace.push_str(" (skipped: fewer rotations than that)\n");
                    continue;
                };
                let session = &mut model.sessions[s];
                session.counter = restored.counter;
                session.seal = 0;
                session.rotated_ms = ms(restored.rotated_at.duration_since(UNIX_EPOCH).unwrap());
                session.expires_ms = ms(restored.expires_at.duration_since(UNIX_EPOCH).unwrap());
                let _ = write!(
                    trace,
                    " -> session {s} forgot {writes} rotations, back at counter {}",
                    restored.counter
                );
            }
        }
        trace.push('\n');
        observe(sys, &model, &trace).await?;
    }
    Ok(())
}

/// A new HS256 key, `model-key-<n>`.
fn new_key(made: &mut usize) -> SigningKey {
    *made += 1;
    SigningKey::hmac(Algorithm::HS256, rand::random::<[u8; 32]>().to_vec())
        .with_kid(format!("model-key-{made}"))
}

/// Checks that an access token just handed out for session `s` carries the session's
/// `auth_time` (docs/protocol.md §15): the login's, or the latest re-authentication's, never
/// the refresh's.
fn check_auth_time(model: &Model, s: usize, token: &str, trace: &str) -> Result<(), TestCaseError> {
    let payload = token.split('.').nth(1).unwrap_or_default();
    let claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap_or_default())
            .unwrap_or_default();
    let want = model.sessions[s].auth_time;
    if claims["auth_time"].as_u64() != Some(want) {
        return Err(fail(
            trace,
            format!(
                "an access token of session {s} carries auth_time {}, the model says {want}",
                claims["auth_time"]
            ),
        ));
    }
    Ok(())
}

/// Compares everything observable with the model: which access tokens pass, and the state of
/// every session in the store.
async fn observe(sys: &System, model: &Model, trace: &str) -> Result<(), TestCaseError> {
    for (i, token) in model.access.iter().enumerate() {
        // With session checking the answer depends on the session's record.
        if model.check_sessions && model.ambiguous(token.session, model.now_ms) {
            continue;
        }
        // A cached token whose key was pruned may pass or not.
        if model.cached_past_prune(token) {
            continue;
        }
        let reply = sys.protected(token, model.now_ms).await;
        let works = reply.status == StatusCode::OK;
        if works != model.access_works(token) {
            return Err(fail(
                trace,
                format!(
                    "access token #{i} of session {} (expires at +{} ms): the model says {}, the layer answered {}",
                    token.session,
                    i128::from(token.expires_ms) - i128::from(model.start_ms),
                    if model.access_works(token) {
                        "alive"
                    } else {
                        "dead"
                    },
                    reply.describe()
                ),
            ));
        }
        if !works
            && (reply.status != StatusCode::UNAUTHORIZED
                || reply.try_json().unwrap_or_default()["error"] != "invalid_token")
        {
            return Err(fail(
                trace,
                format!("a dead access token got {}", reply.describe()),
            ));
        }
    }
    let now = sys.clock.now();
    for (i, session) in model.sessions.iter().enumerate() {
        if model.ambiguous(i, model.now_ms) {
            continue;
        }
        let stored = sys.store.load(&session.id, now).await.unwrap();
        let bound = |key: Option<usize>| key.map(|k| sys.keys[k].thumbprint());
        let want = session
            .live(model.now_ms)
            .then(|| (session.counter, bound(session.bound)));
        let got = stored.map(|s| (s.counter, s.jkt));
        if got != want {
            return Err(fail(
                trace,
                format!(
                    "session {i} ({:?}): the model says {}, the store holds {}",
                    session.user,
                    want.map_or("gone".into(), |c| format!("live at counter {c:?}")),
                    got.map_or("nothing live".into(), |c| format!("counter {c:?}")),
                ),
            ));
        }
    }
    Ok(())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

proptest! {
    // About 5 s in a debug build.
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn memory_store_follows_the_model(
        config in config(),
        ops in prop::collection::vec(op(), 1..50),
    ) {
        let store: Arc<dyn RefreshStore> = Arc::new(MemoryStore::new());
        runtime().block_on(run(store, config, &ops))?;
    }
}

/// DPoP-bound sessions on a scenario worked out by hand: a thief with a copied refresh token
/// and a key of its own gets nothing and ends nothing; the owner goes on; an unbound session
/// is bound by the first refresh that carries a proof.
#[test]
fn bound_sessions_on_a_hand_written_scenario() {
    use Op::*;
    let refresh = |token, proof| Refresh {
        token,
        form: false,
        on_b: false,
        proof,
    };
    let ops = [
        Login(User::Ann, true),
        refresh(0, ProofBy::Nobody), // bound: invalid_dpop_proof, nothing moves
        refresh(0, ProofBy::Thief),  // another key: the same
        refresh(0, ProofBy::Owner),  // rotates, still bound
        Advance(Step::PastGrace),
        refresh(1, ProofBy::Thief), // a spent token and the wrong key: refused, no revocation
        refresh(0, ProofBy::Owner), // the owner goes on
        Login(User::Bob, false),
        refresh(0, ProofBy::Nobody), // a bearer session rotates
        refresh(0, ProofBy::Owner),  // and is bound by its first refresh with a proof
        refresh(0, ProofBy::Nobody), // from then on it needs the key
    ];
    runtime()
        .block_on(run(
            Arc::new(MemoryStore::new()),
            Config {
                check_sessions: false,
                cache: false,
                b_dpop_off: false,
            },
            &ops,
        ))
        .unwrap();
}

/// The model itself, on a scenario worked out by hand: if the model drifted from
/// `docs/protocol.md`, the property above would compare the layer with the wrong thing.
#[test]
fn the_model_follows_the_spec_on_a_hand_written_scenario() {
    use Op::*;
    let ops = [
        Login(User::Ann, false),
        Refresh {
            token: 0,
            form: false,
            on_b: false,
            proof: ProofBy::Nobody,
        }, // rotates: counter 1
        Advance(Step::Grace),
        Refresh {
            token: 1,
            form: true,
            on_b: false,
            proof: ProofBy::Nobody,
        }, // the spent token, at the edge of the window: replay
        Advance(Step::Tick),
        Refresh {
            token: 1,
            form: false,
            on_b: false,
            proof: ProofBy::Nobody,
        }, // now past the window: reuse, the family dies
        Refresh {
            token: 0,
            form: false,
            on_b: false,
            proof: ProofBy::Nobody,
        }, // the live successor is dead too
        // A second login; the second instance's clock 30 s behind.
        Login(User::Bob, false),
        SkewB(Skew::Behind),
        Refresh {
            token: 0,
            form: false,
            on_b: false,
            proof: ProofBy::Nobody,
        }, // rotates on the first instance
        Refresh {
            token: 1,
            form: false,
            on_b: true,
            proof: ProofBy::Nobody,
        }, // the spent token on the second: its clock is before the rotation, so reuse
        Refresh {
            token: 0,
            form: false,
            on_b: false,
            proof: ProofBy::Nobody,
        }, // the family is dead
    ];
    runtime()
        .block_on(run(
            Arc::new(MemoryStore::new()),
            Config {
                check_sessions: true,
                cache: true,
                b_dpop_off: false,
            },
            &ops,
        ))
        .unwrap();

    let mut model = Model {
        now_ms: 100_000,
        skew_b_ms: 0,
        high_water_ms: 100_000,
        start_ms: 100_000,
        check_sessions: false,
        sessions: vec![ModelSession {
            user: User::Ann,
            id: SessionId::random(),
            counter: 0,
            rotated_ms: 100_000,
            expires_ms: 100_000 + ms(REFRESH_TTL),
            absolute_ms: 100_000 + ms(LIFETIME),
            revoked: false,
            bound: None,
            auth_time: 100,
            seal: 0,
        }],
        refresh: vec![RefreshToken {
            session: 0,
            counter: 0,
            secret: 0,
            text: "t0".into(),
        }],
        access: Vec::new(),
        keys: Keys::default(),
        cache: false,
    };
    assert_eq!(model.refresh(0, model.now_ms, None), Expect::Rotated);
    model.refresh.push(RefreshToken {
        session: 0,
        counter: 1,
        secret: 0,
        text: "t1".into(),
    });
    // §5b: a clock that reads before the rotation is outside the window.
    let mut behind = Model {
        sessions: vec![ModelSession {
            revoked: false,
            ..model.sessions[0]
        }],
        refresh: vec![
            RefreshToken {
                session: 0,
                counter: 0,
                secret: 0,
                text: "t0".into(),
            },
            RefreshToken {
                session: 0,
                counter: 1,
                secret: 0,
                text: "t1".into(),
            },
        ],
        access: Vec::new(),
        keys: Keys::default(),
        ..model
    };
    assert_eq!(behind.refresh(0, 100_000 - 1, None), Expect::InvalidGrant);
    assert!(behind.sessions[0].revoked);
    model.now_ms = 100_000 + ms(GRACE);
    assert_eq!(
        model.refresh(0, model.now_ms, None),
        Expect::Replayed("t1".into())
    );
    model.now_ms += 1;
    assert_eq!(model.refresh(0, model.now_ms, None), Expect::InvalidGrant);
    assert!(model.sessions[0].revoked);
    assert_eq!(model.refresh(1, model.now_ms, None), Expect::InvalidGrant);
}

/// Issue 24, item 2: a thief with a copied refresh token of a bound session, refreshing on a
/// second instance with DPoP off, is refused and moves nothing — with the current token or a
/// spent one, inside the grace window or after it — and the owner goes on on the first.
#[test]
fn an_instance_with_dpop_off_never_spends_a_bound_session() {
    use Op::*;
    let refresh = |token, on_b, proof| Refresh {
        token,
        form: false,
        on_b,
        proof,
    };
    let ops = [
        Login(User::Ann, true),
        refresh(0, true, ProofBy::Nobody), // the thief, on the DPoP-off instance: refused
        refresh(0, true, ProofBy::Thief),  // a proof, ignored there: the same
        Advance(Step::PastGrace),
        refresh(0, false, ProofBy::Owner), // the owner, after the window: rotates
        Advance(Step::PastGrace),
        refresh(0, true, ProofBy::Nobody), // a spent token there: no reuse detection
        refresh(1, false, ProofBy::Owner), // the owner goes on
        Login(User::Bob, false),
        refresh(3, true, ProofBy::Nobody), // a bearer session rotates there as anywhere
    ];
    runtime()
        .block_on(run(
            Arc::new(MemoryStore::new()),
            Config {
                check_sessions: false,
                cache: false,
                b_dpop_off: true,
            },
            &ops,
        ))
        .unwrap();
}

/// The same model on the other backends: SQLite on a temporary file when the `sqlite` feature
/// is on; Redis (one server and a cluster) and PostgreSQL when their feature is on,
/// `#[ignore]`d because they need `REDIS_URL` / `REDIS_CLUSTER_URL` / `DATABASE_URL` (run them with `-- --include-ignored`; asked to run without
/// the variable, they fail). Fewer cases than on the memory store: every step is a round trip.
#[cfg(any(feature = "sqlite", feature = "redis", feature = "postgres"))]
mod backends {
    use super::*;
    #[cfg(any(feature = "redis", feature = "postgres"))]
    use tower_refresh_auth_test_support::service_url;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        #[cfg(feature = "sqlite")]
        #[test]
        fn sqlite_store_follows_the_model(
            config in config(),
            ops in prop::collection::vec(op(), 1..50),
        ) {
            use tower_refresh_auth::store::SqliteStore;
            let path = std::env::temp_dir().join(format!(
                "tower-refresh-auth-model-{}.db",
                URL_SAFE_NO_PAD.encode(rand::random::<[u8; 9]>())
            ));
            let result = runtime().block_on(async {
                let store = SqliteStore::connect(&format!("sqlite://{}", path.display()))
                    .await
                    .unwrap();
                store.migrate().await.unwrap();
                run(Arc::new(store), config, &ops).await
            });
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
            }
            result?;
        }

        #[cfg(feature = "redis")]
        #[test]
        #[ignore = "needs REDIS_URL (see tests/support/README.md)"]
        fn redis_store_follows_the_model(
            config in config(),
            ops in prop::collection::vec(op(), 1..50),
        ) {
            use tower_refresh_auth::store::RedisStore;
            use tower_refresh_auth_test_support::fixtures::DeleteKeysOnDrop;
            let url = service_url("REDIS_URL");
            let prefix = format!("tra-model:{}", tower_refresh_auth_test_support::run_id());
            let _keys = DeleteKeysOnDrop::new(&url, &prefix);
            runtime().block_on(async {
                let store = RedisStore::connect(&url).await.unwrap().with_key_prefix(&prefix);
                run(Arc::new(store), config, &ops).await
            })?;
        }

        #[cfg(feature = "redis")]
        #[test]
        #[ignore = "needs REDIS_CLUSTER_URL (tests/redis-cluster.sh start; see tests/support/README.md)"]
        fn redis_cluster_store_follows_the_model(
            config in config(),
            ops in prop::collection::vec(op(), 1..50),
        ) {
            use tower_refresh_auth::store::RedisStore;
            use tower_refresh_auth_test_support::fixtures::DeleteKeysOnDrop;
            let url = service_url("REDIS_CLUSTER_URL");
            let prefix = format!("tra-model:{}", tower_refresh_auth_test_support::run_id());
            let _keys = DeleteKeysOnDrop::new(&url, &prefix);
            runtime().block_on(async {
                let store = RedisStore::connect(&url).await.unwrap().with_key_prefix(&prefix);
                run(Arc::new(store), config, &ops).await
            })?;
        }

        #[cfg(feature = "postgres")]
        #[test]
        #[ignore = "needs DATABASE_URL (see tests/support/README.md)"]
        fn postgres_store_follows_the_model(
            config in config(),
            ops in prop::collection::vec(op(), 1..50),
        ) {
            use tower_refresh_auth::store::PostgresStore;
            let url = service_url("DATABASE_URL");
            runtime().block_on(async {
                let store = PostgresStore::connect(&url).await.unwrap();
                store.migrate().await.unwrap();
                run(Arc::new(store), config, &ops).await
            })?;
        }
    }
}
