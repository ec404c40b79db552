//! Integrity at rest (docs/protocol.md §2), on every store: whoever can write to the store can
//! end a session, but cannot change whose session it is or what claims it carries.
//!
//! Each test logs in through the layer, rewrites the session's record behind the layer's
//! back as a writer with database access would (`UPDATE … SET subject = 'admin'`,
//! `HSET … sub admin`, another session's fields copied over it, the seal gone as an upgrade
//! from before seals leaves it), and checks that the next session check answers `401` and
//! the next refresh `400 invalid_grant` with no token in it: nothing is ever signed for the
//! rewritten subject or claims.
//!
//! Run with `REDIS_URL=redis://127.0.0.1:6379 DATABASE_URL=postgres://postgres@127.0.0.1/test
//! cargo test -p tower-refresh-auth-tests --test tampering`. Without them the Redis and
//! PostgreSQL tests are skipped with a message, except under `CI=true`, where they fail.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use serde::{Deserialize, Serialize};
use tower::util::BoxCloneSyncService;
use tower::{ServiceBuilder, ServiceExt, service_fn};
use tower_refresh_auth::session::{Session, SessionId};
use tower_refresh_auth::store::{
    DpopStore, MemoryStore, RefreshStore, Rotation, StoreError, SubjectIndex,
};
use tower_refresh_auth::{Claims, RefreshAuth, ResponseBody, TokenPair};

const SECRET: &[u8] = b"the tampering test secret, of 32+ bytes";

/// What a writer with access to the store does to one session's record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tamper {
    /// Makes it someone else's session: `subject = 'admin'`.
    Subject,
    /// Raises its claims: `claims = '{"role":"admin"}'`.
    Claims,
    /// Copies every field the seal binds, and the seal, from another session (the admin's)
    /// over this one, keeping this one's id.
    Graft { from: SessionId },
    /// Removes the seal, as an upgrade leaves a record written before seals existed. On the
    /// SQL stores this drops the column and migrates again, for the whole table.
    Unseal,
}

/// The claims the application puts into its tokens.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Role {
    role: String,
}

const ADMIN_CLAIMS: &str = r#"{"role":"admin"}"#;

type Svc = BoxCloneSyncService<Request<String>, Response<ResponseBody<String>>, Infallible>;

/// An application with session checking on; its guarded route answers with the token's
/// subject and role.
struct App {
    auth: RefreshAuth<Role>,
    svc: Svc,
}

impl App {
    fn new(store: impl RefreshStore) -> Self {
        let auth = RefreshAuth::<Role>::builder()
            .hs256(SECRET.to_vec())
            .refresh_ttl(Duration::from_secs(3600))
            .check_sessions(true)
            .store(store)
            .build()
            .unwrap();
        let svc = ServiceBuilder::new()
            .layer(auth.layer())
            .service(service_fn(|req: Request<String>| async move {
                let claims = req.extensions().get::<Arc<Claims<Role>>>().unwrap();
                let who = format!("{} {}", claims.sub, claims.custom.role);
                Ok::<_, Infallible>(Response::new(who))
            }));
        Self {
            auth,
            svc: BoxCloneSyncService::new(svc),
        }
    }

    async fn login(&self, user: &str, role: &str) -> TokenPair {
        let role = Role { role: role.into() };
        self.auth.issue(user, role).await.unwrap()
    }

    async fn send(&self, req: Request<String>) -> (StatusCode, String) {
        let res = self.svc.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let body = res.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    /// `GET /me` with the access token: the session check.
    async fn me(&self, access_token: &str) -> (StatusCode, String) {
        let req = Request::get("/me")
            .header("authorization", format!("Bearer {access_token}"))
            .body(String::new())
            .unwrap();
        self.send(req).await
    }

    /// `POST /token`.
    async fn refresh(&self, refresh_token: &str) -> (StatusCode, serde_json::Value) {
        let req = Request::post("/token")
            .header("content-type", "application/json")
            .body(format!(r#"{{"refreshToken":"{refresh_token}"}}"#))
            .unwrap();
        let (status, body) = self.send(req).await;
        (status, serde_json::from_str(&body).unwrap())
    }

    /// Refreshes `pair` and checks whose access token came back.
    async fn refreshes_as(&self, pair: &TokenPair, who: &str) {
        let (status, body) = self.refresh(&pair.refresh_token).await;
        assert_eq!(status, 200, "{body}");
        let access = body["accessToken"].as_str().unwrap();
        assert_eq!(self.me(access).await, (StatusCode::OK, who.to_owned()));
    }
}

/// The scenario, on any store: `tamper(id, what)` rewrites session `id`'s record in it.
async fn tampered_records_are_refused<S, F, Fut>(store: S, tamper: F)
where
    S: RefreshStore + Clone,
    F: Fn(SessionId, Tamper) -> Fut,
    Fut: Future<Output = ()>,
{
    let app = App::new(store.clone());
    // Untouched sessions pass both checks: what follows is refused for its tampering alone.
    let admin = app.login("admin", "admin").await;
    let control = app.login("mallory", "user").await;
    assert_eq!(
        app.me(&control.access_token).await,
        (StatusCode::OK, "mallory user".to_owned())
    );
    app.refreshes_as(&control, "mallory user").await;

    let cases = [
        Tamper::Subject,
        Tamper::Claims,
        Tamper::Graft {
            from: admin.session_id,
        },
        // Last: on the SQL stores it unseals the whole table.
        Tamper::Unseal,
    ];
    for what in cases {
        let pair = app.login("mallory", "user").await;
        let id = pair.session_id;
        tamper(id, what).await;

        // The rewrite took: the store now hands out the tampered record.
        let record = store.load(&id, SystemTime::now()).await.unwrap().unwrap();
        match what {
            Tamper::Subject => assert_eq!(record.subject, "admin"),
            Tamper::Claims => assert_eq!(record.claims, ADMIN_CLAIMS),
            Tamper::Graft { from } => {
                assert_eq!((record.subject.as_str(), record.id), ("admin", id));
                // The admin's own claims: the role, and when the admin logged in (§15).
                let admins = store.load(&from, SystemTime::now()).await.unwrap().unwrap();
                assert_eq!(record.claims, admins.claims);
                let claims: serde_json::Value = serde_json::from_str(&record.claims).unwrap();
                assert_eq!(claims["role"], "admin");
            }
            Tamper::Unseal => assert_eq!(record.seal, "", "{what:?}"),
        }
        assert_eq!(
            record.counter, 0,
            "{what:?}: the rest of the record is intact"
        );

        // The session check: the record counts as no session at all.
        let (status, body) = app.me(&pair.access_token).await;
        assert_eq!(status, 401, "{what:?}: {body}");
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["error"], "invalid_token", "{what:?}: {body}");
        assert_eq!(
            body["error_description"], "the session has been revoked",
            "{what:?}: {body}"
        );

        // The refresh: refused like an unknown session, and nothing signed.
        let (status, body) = app.refresh(&pair.refresh_token).await;
        assert_eq!(
            (status.as_u16(), body["error"].as_str()),
            (400, Some("invalid_grant")),
            "{what:?}: {body}"
        );
        assert!(body.get("accessToken").is_none(), "{what:?}: {body}");
        assert!(body.get("refreshToken").is_none(), "{what:?}: {body}");
    }

    // After the upgrade, new sessions are sealed and refresh as before.
    let after = app.login("mallory", "user").await;
    app.refreshes_as(&after, "mallory user").await;
}

/// A [`MemoryStore`] whose records are rewritten on their way out, as a memory store written
/// behind the layer's back would hand them over: it has no other way to be tampered with.
#[derive(Debug, Clone, Default)]
struct Tampered {
    inner: MemoryStore,
    edits: Arc<Mutex<HashMap<SessionId, Tamper>>>,
}

impl Tampered {
    async fn apply(&self, mut session: Session) -> Session {
        let edit = self.edits.lock().unwrap().get(&session.id).copied();
        match edit {
            None => {}
            Some(Tamper::Subject) => session.subject = "admin".into(),
            Some(Tamper::Claims) => session.claims = ADMIN_CLAIMS.into(),
            Some(Tamper::Graft { from }) => {
                let donor = self
                    .inner
                    .load(&from, SystemTime::now())
                    .await
                    .unwrap()
                    .unwrap();
                let mut swapped = donor;
                swapped.id = session.id;
                swapped.counter = session.counter;
                swapped.rotated_at = session.rotated_at;
                swapped.expires_at = session.expires_at;
                session = swapped;
            }
            Some(Tamper::Unseal) => session.seal.clear(),
        }
        session
    }
}

#[async_trait::async_trait]
impl RefreshStore for Tampered {
    async fn create(&self, session: &Session) -> Result<(), StoreError> {
        self.inner.create(session).await
    }

    async fn load(&self, id: &SessionId, now: SystemTime) -> Result<Option<Session>, StoreError> {
        match self.inner.load(id, now).await? {
            Some(session) => Ok(Some(self.apply(session).await)),
            None => Ok(None),
        }
    }

    async fn rotate(
        &self,
        id: &SessionId,
        expected: u64,
        next: u64,
        now: SystemTime,
        expires_at: SystemTime,
    ) -> Result<Rotation, StoreError> {
        Ok(
            match self
                .inner
                .rotate(id, expected, next, now, expires_at)
                .await?
            {
                Rotation::Rotated(s) => Rotation::Rotated(self.apply(s).await),
                Rotation::Conflict(s) => Rotation::Conflict(self.apply(s).await),
                Rotation::NotFound => Rotation::NotFound,
            },
        )
    }

    async fn revoke(&self, id: &SessionId) -> Result<bool, StoreError> {
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
}

#[async_trait::async_trait]
impl SubjectIndex for Tampered {
    async fn revoke_subject(&self, subject: &str) -> Result<u64, StoreError> {
        self.inner.revoke_subject(subject).await
    }

    async fn list(&self, subject: &str, now: SystemTime) -> Result<Vec<Session>, StoreError> {
        let mut listed = Vec::new();
        for session in self.inner.list(subject, now).await? {
            listed.push(self.apply(session).await);
        }
        Ok(listed)
    }
}

#[async_trait::async_trait]
impl DpopStore for Tampered {
    async fn bind(
        &self,
        id: &SessionId,
        jkt: &str,
        seal: &str,
        now: SystemTime,
    ) -> Result<Option<Session>, StoreError> {
        match self.inner.bind(id, jkt, seal, now).await? {
            Some(session) => Ok(Some(self.apply(session).await)),
            None => Ok(None),
        }
    }

    async fn remember_proof(
        &self,
        key: &tower_refresh_auth::dpop::ReplayKey,
        expires_at: SystemTime,
        now: SystemTime,
    ) -> Result<bool, StoreError> {
        self.inner.remember_proof(key, expires_at, now).await
    }
}

#[tokio::test]
async fn memory() {
    let store = Tampered::default();
    let edits = Arc::clone(&store.edits);
    tampered_records_are_refused(store, |id, what| {
        edits.lock().unwrap().insert(id, what);
        async {}
    })
    .await;
}

/// A name no other run uses: the process id and the clock's nanoseconds.
fn nonce() -> String {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{}_{nanos:09}", std::process::id())
}

/// The SQL of a rewrite, with `$1` the session's id and `$2` the donor's; `p` turns a
/// placeholder number into the backend's syntax. `None` for [`Tamper::Unseal`], which is a
/// schema change.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
fn rewrite_sql(table: &str, what: Tamper, p: fn(u8) -> String) -> Option<String> {
    let (id, from) = (p(1), p(2));
    Some(match what {
        Tamper::Subject => format!(r#"UPDATE "{table}" SET subject = 'admin' WHERE id = {id}"#),
        Tamper::Claims => {
            format!(r#"UPDATE "{table}" SET claims = '{ADMIN_CLAIMS}' WHERE id = {id}"#)
        }
        Tamper::Graft { .. } => format!(
            r#"UPDATE "{table}" SET (subject, claims, created_at, absolute_expires_at, seal) =
    (SELECT subject, claims, created_at, absolute_expires_at, seal FROM "{table}" WHERE id = {from})
WHERE id = {id}"#
        ),
        Tamper::Unseal => return None,
    })
}

/// Runs a rewrite of [`rewrite_sql`] on session `id` and checks it hit its row.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
async fn rewrite<'e, DB, E>(writer: E, sql: &'e str, id: SessionId, what: Tamper)
where
    DB: sqlx::Database,
    E: sqlx::Executor<'e, Database = DB>,
    Vec<u8>: sqlx::Encode<'e, DB> + sqlx::Type<DB>,
    <DB as sqlx::Database>::Arguments<'e>: sqlx::IntoArguments<'e, DB>,
    <DB as sqlx::Database>::QueryResult: RowsAffected,
{
    let mut query = sqlx::query::<DB>(sql).bind(id.as_bytes().to_vec());
    if let Tamper::Graft { from } = what {
        query = query.bind(from.as_bytes().to_vec());
    }
    let done = query.execute(writer).await.unwrap();
    assert_eq!(done.rows(), 1, "{what:?}");
}

/// `rows_affected`, which sqlx offers per backend only.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
trait RowsAffected {
    fn rows(&self) -> u64;
}

#[cfg(feature = "sqlite")]
impl RowsAffected for sqlx::sqlite::SqliteQueryResult {
    fn rows(&self) -> u64 {
        self.rows_affected()
    }
}

#[cfg(feature = "postgres")]
impl RowsAffected for sqlx::postgres::PgQueryResult {
    fn rows(&self) -> u64 {
        self.rows_affected()
    }
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn sqlite() {
    use tower_refresh_auth::store::SqliteStore;

    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("sessions.db").display());
    let store = SqliteStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    // The writer: its own connection to the file.
    let writer = sqlx::SqlitePool::connect(&url).await.unwrap();
    let migrate = store.clone();
    tampered_records_are_refused(store, |id, what| {
        let (writer, migrate) = (writer.clone(), migrate.clone());
        async move {
            match rewrite_sql("refresh_sessions", what, |n| format!("?{n}")) {
                Some(sql) => rewrite(&writer, &sql, id, what).await,
                None => {
                    // The table as a version without seals made it, then the upgrade.
                    sqlx::query(r#"ALTER TABLE "refresh_sessions" DROP COLUMN seal"#)
                        .execute(&writer)
                        .await
                        .unwrap();
                    migrate.migrate().await.unwrap();
                    migrate.migrate().await.unwrap();
                }
            }
        }
    })
    .await;
}

#[cfg(feature = "postgres")]
#[tokio::test]
#[ignore = "needs DATABASE_URL (see tests/support/README.md)"]
async fn postgres() {
    use tower_refresh_auth::store::PostgresStore;

    let url = tower_refresh_auth_test_support::service_url("DATABASE_URL");
    let table = format!("tra_tampering_{}", nonce());
    let store = PostgresStore::connect(&url)
        .await
        .unwrap()
        .with_table_name(&table)
        .unwrap();
    store.migrate().await.unwrap();
    let writer = sqlx::PgPool::connect(&url).await.unwrap();
    let migrate = store.clone();
    tampered_records_are_refused(store, |id, what| {
        let (writer, migrate, table) = (writer.clone(), migrate.clone(), table.clone());
        async move {
            match rewrite_sql(&table, what, |n| format!("${n}")) {
                Some(sql) => rewrite(&writer, &sql, id, what).await,
                None => {
                    sqlx::query(&format!(r#"ALTER TABLE "{table}" DROP COLUMN seal"#))
                        .execute(&writer)
                        .await
                        .unwrap();
                    migrate.migrate().await.unwrap();
                    migrate.migrate().await.unwrap();
                }
            }
        }
    })
    .await;
    sqlx::query(&format!(r#"DROP TABLE "{table}""#))
        .execute(&writer)
        .await
        .unwrap();
}

#[cfg(feature = "redis")]
#[tokio::test]
#[ignore = "needs REDIS_URL (see tests/support/README.md)"]
async fn redis() {
    use tower_refresh_auth::store::RedisStore;
    use tower_refresh_auth_test_support::fixtures::DeleteKeysOnDrop;

    let url = tower_refresh_auth_test_support::service_url("REDIS_URL");
    let prefix = format!("tra-test:tampering:{}", nonce());
    let _cleanup = DeleteKeysOnDrop::new(&url, &prefix);
    let store = RedisStore::connect(&url)
        .await
        .unwrap()
        .with_key_prefix(&prefix);
    let writer = redis::Client::open(url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let key = move |id: SessionId| format!("{prefix}:s:{{{id}}}");
    tampered_records_are_refused(store, |id, what| {
        let mut writer = writer.clone();
        let key = key.clone();
        async move {
            let mut cmd = redis::cmd("HSET");
            cmd.arg(key(id));
            match what {
                Tamper::Subject => cmd.arg("sub").arg("admin"),
                Tamper::Claims => cmd.arg("claims").arg(ADMIN_CLAIMS),
                Tamper::Graft { from } => {
                    let fields = ["sub", "claims", "cat", "seal"];
                    let values: Vec<String> = redis::cmd("HMGET")
                        .arg(key(from))
                        .arg(&fields[..])
                        .query_async(&mut writer)
                        .await
                        .unwrap();
                    // Neither session has an absolute expiry, so `abs` is absent in both.
                    for (field, value) in fields.iter().zip(values) {
                        cmd.arg(*field).arg(value);
                    }
                    &mut cmd
                }
                Tamper::Unseal => {
                    let mut del = redis::cmd("HDEL");
                    let removed: u64 = del
                        .arg(key(id))
                        .arg("seal")
                        .query_async(&mut writer)
                        .await
                        .unwrap();
                    assert_eq!(removed, 1, "the hash had a seal");
                    return;
                }
            };
            let _: u64 = cmd.query_async(&mut writer).await.unwrap();
        }
    })
    .await;
}
