//! The parts of [`RefreshAuthBuilder::build`](super::RefreshAuthBuilder::build) checked
//! against each other: the routes (the layer's own paths, the JWKS and introspection routes,
//! the public paths), and the store with the capabilities the configuration needs of it.

use std::sync::Arc;
use std::time::Duration;

use http::HeaderValue;

use crate::clock::Clock;
use crate::error::ConfigError;
use crate::guard::{Guard, Public};
use crate::introspection::{Introspection, Introspector};
use crate::keys::Jwks;
use crate::session::{DEFAULT_MAX_SESSIONS_PER_SUBJECT, MAX_SESSIONS_PER_SUBJECT};
use crate::store::RefreshStore;

/// The routes, checked: no two share a path, each starts with `/`.
pub(super) struct Routes {
    pub(super) guard: Guard,
    /// Whether the JWKS route is on.
    pub(super) publish: bool,
    pub(super) jwks_cache_control: HeaderValue,
    pub(super) introspection: Option<Introspector>,
}

impl Routes {
    /// The layer's routes with the public paths (checked with the
    /// [`Guarding`](crate::guarding::Guarding) settings), the JWKS route when `jwks` is given
    /// (its max-age bounded by the key overlap), the introspection route when on.
    pub(super) fn check(
        mut guard: Guard,
        public: Public,
        jwks: Option<Jwks>,
        introspection: Option<Introspection>,
        key_overlap: Duration,
        clock: &Arc<dyn Clock>,
    ) -> Result<Self, ConfigError> {
        guard.public = public;
        let publish = jwks.is_some();
        let (jwks_path, jwks_cache_control) = jwks.unwrap_or_default().check(key_overlap)?;
        guard.jwks_path = publish.then_some(jwks_path);
        let introspection = match introspection {
            Some(introspection) => {
                let (path, introspector) = introspection.check(Arc::clone(clock))?;
                guard.introspection_path = Some(path);
                Some(introspector)
            }
            None => None,
        };
        guard.check()?;
        Ok(Self {
            guard,
            publish,
            jwks_cache_control,
            introspection,
        })
    }
}

/// The store (the default one unless given), refused when it lacks a capability the
/// configuration needs (naming the trait), with the limit of sessions per subject.
pub(super) fn store(
    given: Option<Arc<dyn RefreshStore>>,
    guard: &Guard,
    max_sessions: Option<usize>,
    dpop: bool,
) -> Result<(Arc<dyn RefreshStore>, Option<usize>), ConfigError> {
    let store = match given {
        Some(store) => store,
        None => default_store()?,
    };
    // What the configuration needs of the store beyond its five core operations.
    if guard.sessions_path.is_some() && store.subject_index().is_none() {
        return Err(ConfigError::MissingCapability {
            needed_by: "`sessions_route()`",
            capability: "SubjectIndex",
        });
    }
    let max_sessions = session_limit(max_sessions, &*store)?;
    if dpop && store.dpop().is_none() {
        return Err(ConfigError::MissingCapability {
            needed_by: "DPoP",
            capability: "DpopStore",
        });
    }
    Ok((store, max_sessions))
}

/// The limit of sessions per subject: on by default where the store keeps a subject index
/// (the limit reads the subject's sessions), refused where it was asked for and the store
/// has none.
fn session_limit(
    given: Option<usize>,
    store: &dyn RefreshStore,
) -> Result<Option<usize>, ConfigError> {
    if let Some(max) = given
        && !(1..=MAX_SESSIONS_PER_SUBJECT).contains(&max)
    {
        return Err(ConfigError::SessionLimit(max));
    }
    match (given, store.subject_index().is_some()) {
        (max, true) => Ok(Some(max.unwrap_or(DEFAULT_MAX_SESSIONS_PER_SUBJECT))),
        (None, false) => Ok(None),
        (Some(_), false) => Err(ConfigError::MissingCapability {
            needed_by: "`max_sessions_per_subject(…)`",
            capability: "SubjectIndex",
        }),
    }
}

#[cfg(feature = "memory-store")]
pub(super) fn default_store() -> Result<Arc<dyn RefreshStore>, ConfigError> {
    Ok(Arc::new(crate::store::MemoryStore::new()))
}

#[cfg(not(feature = "memory-store"))]
pub(super) fn default_store() -> Result<Arc<dyn RefreshStore>, ConfigError> {
    Err(ConfigError::MissingStore)
}
