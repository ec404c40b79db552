//! A service that only verifies tokens (docs/protocol.md §12): a
//! [`ResourceServer`] built from the
//! environment, in front of two routes. A library so its tests run the very app `main.rs`
//! serves.
//!
//! - `GET /api/profile` (guarded) → `200 {"subject": <sub>, "issuer": <iss or null>}`;
//! - `GET /healthz` (public) → `200`.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::time::Duration;

use axum::routing::get;
use axum::{Json, Router};
use dashboard_shared::{PROMETHEUS_TEXT, PrometheusHandle, log_security_event};
use serde_json::{Value, json};
use tower_refresh_auth::NoClaims;
use tower_refresh_auth::dpop::{Dpop, DpopMode};
use tower_refresh_auth::resource::{Issuer, ResourceServer};
use tower_refresh_auth_axum::AuthClaims;

/// How long the start may take to fetch the issuer's metadata and keys (docs/protocol.md §12).
pub const START_TIMEOUT: Duration = Duration::from_secs(9);

/// Why the server did not start; each names the variable to fix.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// Neither `ISSUER_URL` nor `JWKS_URL` is set, or both are.
    #[error("set ISSUER_URL (the issuer whose metadata names its keys) or JWKS_URL, not both")]
    NoKeySource,
    /// A variable that is not valid Unicode.
    #[error("{0} is not valid Unicode")]
    NotUnicode(&'static str),
    /// A variable whose value cannot be used.
    #[error("{var}={value:?}: {reason}")]
    Invalid {
        /// The variable.
        var: &'static str,
        /// Its value.
        value: String,
        /// Why.
        reason: String,
    },
    /// The key source could not be used or reached in time.
    #[error("cannot fetch the keys of {var}={value}: {reason}")]
    Keys {
        /// `ISSUER_URL` or `JWKS_URL`.
        var: &'static str,
        /// Its value.
        value: String,
        /// Why.
        reason: String,
    },
}

/// The resource server's settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `HOST` (default `127.0.0.1`).
    pub host: String,
    /// `PORT` (default `3000`).
    pub port: u16,
    /// `ISSUER_URL` or `JWKS_URL`, with the name of the variable it came from.
    pub source: (&'static str, String),
    /// `ISSUER`, with `JWKS_URL`.
    pub issuer: Option<String>,
    /// `AUDIENCE`.
    pub audience: Option<String>,
    /// `JWKS_REFETCH_COOLDOWN` (default `10s`).
    pub refetch_cooldown: Duration,
    /// `JWKS_MAX_STALENESS` (default `1h`).
    pub max_staleness: Duration,
    /// `VERIFIED_TOKEN_CACHE` (default `0`, off).
    pub token_cache: usize,
    /// `DPOP` (default `off`): DPoP-bound tokens (docs/protocol.md §10).
    pub dpop: DpopMode,
    /// `PUBLIC_URL`: the URL clients reach this service at, which DPoP proofs' `htu` is
    /// compared with; required with `DPOP` on.
    pub public_url: Option<String>,
    /// `METRICS_ADDR`.
    pub metrics_addr: Option<SocketAddr>,
}

impl Settings {
    /// Reads the settings from `var`, a lookup by variable name (the environment, or a map in
    /// tests).
    ///
    /// # Errors
    ///
    /// A [`StartError`] naming the variable that is missing or invalid.
    pub fn from_vars(var: impl Fn(&str) -> Option<OsString>) -> Result<Self, StartError> {
        let get = |name: &'static str| -> Result<Option<String>, StartError> {
            var(name)
                .map(|v| v.into_string().map_err(|_| StartError::NotUnicode(name)))
                .transpose()
                .map(|v| v.filter(|v| !v.trim().is_empty()))
        };
        let invalid = |var: &'static str, value: &str, reason: String| StartError::Invalid {
            var,
            value: value.to_owned(),
            reason,
        };
        let duration = |name: &'static str, default: Duration| match get(name)? {
            None => Ok(default),
            Some(v) => {
                humantime::parse_duration(v.trim()).map_err(|e| invalid(name, &v, e.to_string()))
            }
        };
        let source = match (get("ISSUER_URL")?, get("JWKS_URL")?) {
            (Some(url), None) => ("ISSUER_URL", url),
            (None, Some(url)) => ("JWKS_URL", url),
            _ => return Err(StartError::NoKeySource),
        };
        let dpop = match get("DPOP")? {
            None => DpopMode::Off,
            Some(v) => v.parse().map_err(|e| invalid("DPOP", &v, format!("{e}")))?,
        };
        let public_url = get("PUBLIC_URL")?;
        // Proofs' `htu` is compared with the URL clients reach this service at.
        if dpop.is_on() && public_url.is_none() {
            return Err(invalid(
                "DPOP",
                &dpop.to_string(),
                "DPoP needs PUBLIC_URL, the URL clients reach this service at".to_owned(),
            ));
        }
        Ok(Self {
            host: get("HOST")?.unwrap_or_else(|| "127.0.0.1".to_owned()),
            port: match get("PORT")? {
                None => 3000,
                Some(p) => p
                    .trim()
                    .parse()
                    .map_err(|_| invalid("PORT", &p, "not a port".into()))?,
            },
            source,
            issuer: get("ISSUER")?,
            audience: get("AUDIENCE")?,
            refetch_cooldown: duration("JWKS_REFETCH_COOLDOWN", Duration::from_secs(10))?,
            max_staleness: duration("JWKS_MAX_STALENESS", Duration::from_secs(3600))?,
            token_cache: match get("VERIFIED_TOKEN_CACHE")? {
                None => 0,
                Some(n) => n
                    .trim()
                    .parse()
                    .map_err(|_| invalid("VERIFIED_TOKEN_CACHE", &n, "not a count".into()))?,
            },
            dpop,
            public_url,
            metrics_addr: match get("METRICS_ADDR")? {
                None => None,
                Some(a) => Some(
                    a.trim()
                        .parse()
                        .map_err(|_| invalid("METRICS_ADDR", &a, "not HOST:PORT".into()))?,
                ),
            },
        })
    }

    /// The address to bind, `HOST:PORT`.
    pub fn bind_addr(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// Builds the resource server from `settings` and waits (at most [`START_TIMEOUT`]) for the
/// issuer's metadata and keys.
///
/// # Errors
///
/// [`StartError::Keys`] naming the variable when the source is unusable or unreachable.
pub async fn start(settings: &Settings) -> Result<ResourceServer<NoClaims>, StartError> {
    let (var, url) = &settings.source;
    let keys_error = |reason: String| StartError::Keys {
        var,
        value: url.clone(),
        reason,
    };
    let mut issuer = if *var == "ISSUER_URL" {
        Issuer::discover(url)
    } else {
        Issuer::jwks_url(url)
    };
    if let Some(iss) = &settings.issuer {
        issuer = issuer.issuer(iss);
    }
    if let Some(aud) = &settings.audience {
        issuer = issuer.audience(aud);
    }
    let mut builder = ResourceServer::<NoClaims>::builder()
        .issuer(issuer)
        .refetch_cooldown(settings.refetch_cooldown)
        .max_staleness(settings.max_staleness)
        .verified_token_cache(settings.token_cache)
        .fetch_timeout(Duration::from_secs(4))
        .public_path("/healthz")
        .on_security_event(log_security_event);
    if let Some(url) = &settings.public_url {
        builder = builder.dpop(Dpop::new(settings.dpop).origin(url));
    } else {
        builder = builder.dpop(settings.dpop);
    }
    let server = builder.build().map_err(|e| keys_error(e.to_string()))?;
    match tokio::time::timeout(START_TIMEOUT, server.ready()).await {
        Ok(Ok(())) => Ok(server),
        Ok(Err(e)) => Err(keys_error(e.to_string())),
        Err(_) => Err(keys_error(format!(
            "no answer within {} s",
            START_TIMEOUT.as_secs()
        ))),
    }
}

/// The routes, every one (and unknown paths) behind `server`'s layer.
pub fn app(server: &ResourceServer<NoClaims>) -> Router {
    Router::new()
        .route("/api/profile", get(profile))
        .route("/healthz", get(|| async { "ok" }))
        .layer(server.layer())
}

async fn profile(AuthClaims(claims): AuthClaims) -> Json<Value> {
    Json(json!({ "subject": claims.sub, "issuer": claims.iss }))
}

/// The Prometheus text of the installed recorder at `GET /metrics`.
pub fn metrics_app(handle: PrometheusHandle) -> Router {
    Router::new().route(
        "/metrics",
        get(move || {
            let handle = handle.clone();
            async move {
                (
                    [(axum::http::header::CONTENT_TYPE, PROMETHEUS_TEXT)],
                    handle.render(),
                )
            }
        }),
    )
}
