//! What the SQL stores share: table-name validation, the row model, the statements that
//! differ only in the placeholder sign, error mapping and the purge task; and, one macro per
//! capability, every trait implementation that is the same on PostgreSQL and SQLite but for
//! the statements it runs. What differs stays in each backend's own files: the schema and
//! its migration, the compare-and-swap of a rotation (one statement on PostgreSQL, a
//! transaction on SQLite), listing, binding, and how the revocation feed is numbered and
//! pushed (`NOTIFY`/`LISTEN` on PostgreSQL, polling on SQLite).

mod dpop;
mod feed;
mod key_ring;
mod reauth;
mod record;
mod settings;
mod subject_index;

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub(crate) use self::dpop::dpop_store;
pub(crate) use self::feed::{
    FeedRow, feed_page, revocation_feed, revocations_table, sequence_number, since_statement,
};
pub(crate) use self::key_ring::key_ring_store;
pub(crate) use self::reauth::reauth_store;
pub(crate) use self::record::record_store;
pub(crate) use self::settings::store_settings;
pub(crate) use self::subject_index::subject_index;
use super::{PageCursor, StoreError};
use crate::clock::to_millis;
use crate::session::{Session, SessionId, SessionMetadata};

/// Calls `purge` with the system clock every `interval`, starting now, until the task is
/// aborted; a failed purge is logged and retried at the next tick.
pub(crate) fn spawn_purge_task<F, Fut>(
    backend: &'static str,
    interval: Duration,
    mut purge: F,
) -> tokio::task::JoinHandle<()>
where
    F: FnMut(SystemTime) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<u64, StoreError>> + Send,
{
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match purge(SystemTime::now()).await {
                Ok(purged) => tracing::debug!(backend, purged, "SQL store purged sessions"),
                Err(error) => tracing::warn!(backend, %error, "SQL store could not purge"),
            }
        }
    })
}

/// How long an operation may take before it fails with [`StoreError::Timeout`], by default.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

/// The table used unless the store is told another.
pub(crate) const DEFAULT_TABLE: &str = "refresh_sessions";

/// A table name that is not a plain SQL identifier.
///
/// Table names end up inside SQL text (they cannot be bound as parameters), so only
/// 1 to 48 ASCII letters, digits and underscores, not starting with a digit, are accepted.
/// (48, so that index names made from it, like `<table>_expires_at_idx`, stay within
/// PostgreSQL's 63-byte identifiers instead of being silently truncated.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidTableName(String);

impl fmt::Display for InvalidTableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid table name {:?}: use 1 to {MAX_TABLE_NAME_LEN} ASCII letters, digits and \
             underscores, not starting with a digit",
            self.0
        )
    }
}

impl std::error::Error for InvalidTableName {}

/// The longest table name accepted.
const MAX_TABLE_NAME_LEN: usize = 48;

/// Checks that `name` is a plain identifier, safe to splice into SQL.
pub(crate) fn validate_table_name(name: &str) -> Result<(), InvalidTableName> {
    let mut chars = name.chars();
    let valid = (1..=MAX_TABLE_NAME_LEN).contains(&name.len())
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if valid {
        Ok(())
    } else {
        Err(InvalidTableName(name.to_owned()))
    }
}

/// A point in time as the BIGINT milliseconds the tables hold.
pub(crate) fn millis(t: SystemTime) -> i64 {
    i64::try_from(to_millis(t)).unwrap_or(i64::MAX)
}

/// The columns of a session row after its id, in the order every query selects them:
/// `subject, claims, counter, created_at, rotated_at, expires_at, absolute_expires_at, seal,
/// user_agent, label, jkt`.
pub(crate) type Columns = (
    String,
    String,
    i64,
    i64,
    i64,
    i64,
    Option<i64>,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// The SELECT list matching [`Columns`].
pub(crate) const COLUMNS: &str = "subject, claims, counter, created_at, rotated_at, expires_at, \
    absolute_expires_at, seal, user_agent, label, jkt";

/// [`COLUMNS`] of the table aliased `t`, for a `RETURNING` list.
#[cfg(feature = "postgres")]
pub(crate) const T_COLUMNS: &str = "t.subject, t.claims, t.counter, t.created_at, \
    t.rotated_at, t.expires_at, t.absolute_expires_at, t.seal, t.user_agent, t.label, t.jkt";

/// The nullable `TEXT` columns added after the first schema — the metadata, then the DPoP
/// binding (`docs/protocol.md` §10): `migrate` adds those a table lacks, and old rows read as
/// unbound sessions without metadata.
#[cfg(feature = "sqlite")]
pub(crate) const METADATA_COLUMNS: [&str; 3] = ["user_agent", "label", "jkt"];

/// Builds a [`Session`] from its row, refusing values the store could not have written.
pub(crate) fn session_from_row(id: SessionId, row: Columns) -> Result<Session, StoreError> {
    let (
        subject,
        claims,
        counter,
        created_at,
        rotated_at,
        expires_at,
        absolute,
        seal,
        ua,
        label,
        jkt,
    ) = row;
    let corrupt = |what: &str| StoreError::Corrupt(format!("session {id}: negative {what}"));
    let time = |ms: i64, what: &str| {
        u64::try_from(ms)
            .map(|ms| UNIX_EPOCH + Duration::from_millis(ms))
            .map_err(|_| corrupt(what))
    };
    Ok(Session {
        id,
        subject,
        claims,
        counter: u64::try_from(counter).map_err(|_| corrupt("counter"))?,
        created_at: time(created_at, "created_at")?,
        rotated_at: time(rotated_at, "rotated_at")?,
        expires_at: time(expires_at, "expires_at")?,
        absolute_expires_at: absolute
            .map(|ms| time(ms, "absolute_expires_at"))
            .transpose()?,
        // A row from before seals existed holds `''`: it decodes, and fails its check.
        seal,
        jkt,
        metadata: metadata(ua.as_deref(), label.as_deref()),
    })
}

/// A row of a listing: the id, then [`Columns`].
pub(crate) type ListRow = (
    Vec<u8>,
    String,
    String,
    i64,
    i64,
    i64,
    i64,
    Option<i64>,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// Builds a [`Session`] from a row of a listing.
pub(crate) fn from_list_row(row: ListRow) -> Result<Session, StoreError> {
    let (id, subject, claims, counter, created, rotated, expires, absolute, seal, ua, label, jkt) =
        row;
    let id: [u8; 16] = id
        .try_into()
        .map_err(|_| StoreError::Corrupt("a session id that is not 16 bytes".into()))?;
    let columns = (
        subject, claims, counter, created, rotated, expires, absolute, seal, ua, label, jkt,
    );
    session_from_row(SessionId::from_bytes(id), columns)
}

/// The metadata of a row (bounded again: the columns could hold anything).
fn metadata(user_agent: Option<&str>, label: Option<&str>) -> SessionMetadata {
    let mut metadata = SessionMetadata::new();
    if let Some(user_agent) = user_agent {
        metadata = metadata.with_user_agent(user_agent);
    }
    if let Some(label) = label {
        metadata = metadata.with_label(label);
    }
    metadata
}

/// The counter as the BIGINT column holds it.
///
/// Counters start at zero and move by one per refresh, so they never reach 2^63; one that
/// did could not have been stored.
pub(crate) fn counter_column(counter: u64) -> Result<i64, StoreError> {
    i64::try_from(counter)
        .map_err(|_| StoreError::Corrupt(format!("counter {counter} does not fit in a BIGINT")))
}

/// Whether a row is live at the time in placeholder `now`.
pub(crate) fn live(now: &str) -> String {
    format!("{now} < expires_at AND (absolute_expires_at IS NULL OR {now} < absolute_expires_at)")
}

/// The statements that are the same on PostgreSQL and SQLite but for the placeholder sign
/// (`$` or `?`).
#[derive(Debug, Clone)]
pub(crate) struct Statements {
    pub(crate) load: String,
    pub(crate) revoke: String,
    pub(crate) reseal: String,
    pub(crate) reauthenticate: String,
    pub(crate) revoke_subject: String,
    pub(crate) remember_proof: String,
    pub(crate) purge_proofs: String,
    pub(crate) purge: String,
}

impl Statements {
    /// The statements for `table`, which must have passed [`validate_table_name`], with
    /// placeholders `{p}1`, `{p}2`, ….
    pub(crate) fn new(table: &str, p: char) -> Self {
        Self {
            load: format!(
                r#"SELECT {COLUMNS} FROM "{table}" WHERE id = {p}1 AND {}"#,
                live(&format!("{p}2"))
            ),
            revoke: format!(r#"DELETE FROM "{table}" WHERE id = {p}1"#),
            reseal: format!(r#"UPDATE "{table}" SET seal = {p}2 WHERE id = {p}1"#),
            // One statement: the row is updated only while its counter and seal are the
            // ones the layer read, so a concurrent rotation, bind or reseal wins instead.
            reauthenticate: format!(
                r#"UPDATE "{table}" SET counter = {p}4, rotated_at = {p}5, expires_at = {p}6,
    claims = {p}7, seal = {p}8
WHERE id = {p}1 AND counter = {p}2 AND seal = {p}3 AND {p}4 > {p}2 AND {}
RETURNING {COLUMNS}"#,
                live(&format!("{p}9"))
            ),
            revoke_subject: format!(r#"DELETE FROM "{table}" WHERE subject = {p}1"#),
            // Inserted, or an expired entry replaced: a row comes back. Remembered: none.
            remember_proof: format!(
                r#"INSERT INTO "{table}_dpop_proofs" AS p (key, expires_at) VALUES ({p}1, {p}2)
ON CONFLICT (key) DO UPDATE SET expires_at = EXCLUDED.expires_at WHERE p.expires_at <= {p}3
RETURNING 1"#
            ),
            purge_proofs: format!(r#"DELETE FROM "{table}_dpop_proofs" WHERE expires_at <= {p}1"#),
            purge: format!(
                r#"DELETE FROM "{table}" WHERE expires_at <= {p}1 OR absolute_expires_at <= {p}1"#
            ),
        }
    }
}

/// The counters of a compare-and-swap as the BIGINT column holds them. A counter past
/// `i64::MAX` cannot be stored, and a counter only moves forward: such a swap matches
/// nothing, as an expected counter of -1 never does.
pub(crate) fn swap_counters(expected: u64, next: u64) -> (i64, i64) {
    match (i64::try_from(expected), i64::try_from(next)) {
        (Ok(expected), Ok(next)) if next > expected => (expected, next),
        _ => (-1, 0),
    }
}

/// The bounds of one page of a listing, as a backend binds them after the subject and `now`:
/// at most `limit` rows (one more than the page, to tell that a next page exists), after the
/// cursor's creation time and id when there is one.
pub(crate) struct PageBounds {
    pub(crate) limit: i64,
    pub(crate) after_ms: Option<i64>,
    pub(crate) after_id: Option<Vec<u8>>,
}

impl PageBounds {
    /// The bounds of a page of `limit` sessions after `after`.
    pub(crate) fn new(limit: usize, after: Option<&PageCursor>) -> Self {
        Self {
            limit: i64::try_from(limit.saturating_add(1)).unwrap_or(i64::MAX),
            after_ms: after.map(|c| i64::try_from(c.created_at_ms()).unwrap_or(i64::MAX)),
            after_id: after.map(|c| c.id().as_bytes().to_vec()),
        }
    }
}

/// Runs `op` under `timeout` and maps its errors onto [`StoreError`].
pub(crate) async fn run<T>(
    timeout: Duration,
    op: impl Future<Output = Result<T, sqlx::Error>>,
) -> Result<T, StoreError> {
    match tokio::time::timeout(timeout, op).await {
        Err(_) | Ok(Err(sqlx::Error::PoolTimedOut)) => Err(StoreError::Timeout(timeout)),
        Ok(Err(
            err @ (sqlx::Error::ColumnDecode { .. }
            | sqlx::Error::Decode(_)
            | sqlx::Error::ColumnNotFound(_)
            | sqlx::Error::ColumnIndexOutOfBounds { .. }),
        )) => Err(StoreError::Corrupt(err.to_string())),
        Ok(Err(err)) => Err(StoreError::unavailable(err)),
        Ok(Ok(value)) => Ok(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_identifiers_only() {
        for good in ["sessions", "_s", "refresh_sessions_2", "A", &"a".repeat(48)] {
            assert_eq!(validate_table_name(good), Ok(()), "{good:?}");
        }
        for bad in [
            "",
            "1sessions",
            "sessions; DROP TABLE users",
            "public.sessions",
            "\"quoted\"",
            "séssions",
            "with space",
            &"a".repeat(49),
        ] {
            assert!(validate_table_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn refuses_negative_columns() {
        let id = SessionId::random();
        let row = |counter, abs| {
            let seal = "a-seal".to_owned();
            let ua = Some("Firefox".to_owned());
            (
                "u".to_owned(),
                "{}".to_owned(),
                counter,
                1,
                2,
                3,
                abs,
                seal,
                ua,
                None,
                Some("thumbprint".to_owned()),
            )
        };
        let s = session_from_row(id, row(4, Some(5))).unwrap();
        assert_eq!(s.jkt.as_deref(), Some("thumbprint"));
        assert_eq!(s.counter, 4);
        assert_eq!(s.seal, "a-seal");
        assert_eq!(s.metadata.user_agent(), Some("Firefox"));
        assert_eq!(
            s.absolute_expires_at,
            Some(UNIX_EPOCH + Duration::from_millis(5))
        );
        assert!(matches!(
            session_from_row(id, row(-1, None)),
            Err(StoreError::Corrupt(_))
        ));
        assert!(matches!(
            session_from_row(id, row(0, Some(-5))),
            Err(StoreError::Corrupt(_))
        ));
        assert!(counter_column(u64::MAX).is_err());
    }
}
