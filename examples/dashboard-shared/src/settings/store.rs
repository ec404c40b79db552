//! The session store `STORE_URL` names: which one, and the connection to it.

use std::sync::Arc;
#[cfg(any(feature = "postgres", feature = "sqlite"))]
use std::time::Duration;

use tower_refresh_auth::store::{MemoryStore, RefreshStore};

use super::{Settings, SettingsError};

/// How often the SQL stores delete expired sessions.
#[cfg(any(feature = "postgres", feature = "sqlite"))]
const PURGE_INTERVAL: Duration = Duration::from_secs(60);

/// The session stores `STORE_URL` can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    /// `memory://`: in this process; gone on restart.
    Memory,
    /// `redis://…` or `rediss://…` (one server), `redis+cluster://HOST:PORT[,HOST:PORT…]` or
    /// `rediss+cluster://…` (a Redis Cluster).
    Redis,
    /// `postgres://…` or `postgresql://…`.
    Postgres,
    /// `sqlite://path` (the file is created when missing).
    Sqlite,
}

/// A URL fit for an error message: any password replaced by `***`.
pub(super) fn redact(url: &str) -> String {
    match (url.split_once("://"), url.rfind('@')) {
        (Some((scheme, rest)), Some(at)) if at > scheme.len() => {
            let userinfo = &rest[..at - scheme.len() - 3];
            let host = &url[at..];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{scheme}://{user}:***{host}"),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

impl Settings {
    /// The kind of store `STORE_URL` names.
    ///
    /// # Errors
    ///
    /// [`SettingsError::UnknownStore`] for anything that is not a store URL.
    pub fn store_kind(&self) -> Result<StoreKind, SettingsError> {
        let url = self.store_url.trim();
        let Some((scheme, _)) = url.split_once("://") else {
            return Err(SettingsError::UnknownStore(redact(url)));
        };
        match scheme.to_ascii_lowercase().as_str() {
            "memory" => Ok(StoreKind::Memory),
            "redis" | "rediss" | "redis+cluster" | "rediss+cluster" => Ok(StoreKind::Redis),
            "postgres" | "postgresql" => Ok(StoreKind::Postgres),
            "sqlite" => Ok(StoreKind::Sqlite),
            _ => Err(SettingsError::UnknownStore(redact(url))),
        }
    }

    /// Connects to the session store `STORE_URL` names and prepares it: the SQL stores are
    /// migrated (an SQLite file is created when missing) and get a task that purges expired
    /// sessions every minute.
    ///
    /// # Errors
    ///
    /// [`SettingsError::UnknownStore`] for anything that is not a store URL,
    /// [`SettingsError::StoreNotBuilt`] for a store whose feature is off,
    /// [`SettingsError::StoreUnreachable`] when the store cannot be reached or migrated.
    pub async fn connect_store(&self) -> Result<Arc<dyn RefreshStore>, SettingsError> {
        let url = self.store_url.trim();
        let kind = self.store_kind()?;
        kind.ensure_built(url)?;
        #[cfg(any(feature = "redis", feature = "postgres", feature = "sqlite"))]
        let unreachable = |source| SettingsError::StoreUnreachable {
            url: redact(url),
            source,
        };
        Ok(match kind {
            #[cfg(feature = "redis")]
            StoreKind::Redis => Arc::new(
                tower_refresh_auth::store::RedisStore::connect(url)
                    .await
                    .map_err(unreachable)?,
            ),
            #[cfg(feature = "postgres")]
            StoreKind::Postgres => {
                let store = tower_refresh_auth::store::PostgresStore::connect(url)
                    .await
                    .map_err(unreachable)?;
                store.migrate().await.map_err(unreachable)?;
                drop(store.spawn_purge_task(PURGE_INTERVAL));
                Arc::new(store)
            }
            #[cfg(feature = "sqlite")]
            StoreKind::Sqlite => {
                let store = tower_refresh_auth::store::SqliteStore::connect(url)
                    .await
                    .map_err(unreachable)?;
                store.migrate().await.map_err(unreachable)?;
                drop(store.spawn_purge_task(PURGE_INTERVAL));
                Arc::new(store)
            }
            // The memory store, and (unreachable: `ensure_built` refused them) the stores
            // this build leaves out.
            _ => Arc::new(MemoryStore::new()),
        })
    }
}

impl StoreKind {
    /// The store's name and the cargo feature that builds it in, for the stores that have one.
    fn feature(self) -> Option<(&'static str, &'static str)> {
        match self {
            Self::Memory => None,
            Self::Redis => Some(("Redis", "redis")),
            Self::Postgres => Some(("PostgreSQL", "postgres")),
            Self::Sqlite => Some(("SQLite", "sqlite")),
        }
    }

    /// Whether this build includes the store.
    pub fn is_built(self) -> bool {
        match self {
            Self::Memory => true,
            Self::Redis => cfg!(feature = "redis"),
            Self::Postgres => cfg!(feature = "postgres"),
            Self::Sqlite => cfg!(feature = "sqlite"),
        }
    }

    pub(super) fn ensure_built(self, url: &str) -> Result<(), SettingsError> {
        match self.feature() {
            Some((store, feature)) if !self.is_built() => Err(SettingsError::StoreNotBuilt {
                url: redact(url.trim()),
                store,
                feature,
            }),
            _ => Ok(()),
        }
    }
}
