//! Fetching key sets over HTTP (the `remote-jwks` feature): a JWKS URL, or an issuer URL whose
//! metadata names it (RFC 8414 `/.well-known/oauth-authorization-server`, then OpenID Connect
//! discovery), with a timeout, a size cap, no redirect to another host, and `https` except on
//! loopback.
//!
//! Every fetch of one issuer goes through [`Remote::refetch`]: one at a time, at most one per
//! cooldown, whoever asks — the background refresher before the set expires, a request with an
//! unknown `kid`, a request finding the set past its maximum staleness.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use bytes::Bytes;
use http::header::{ACCEPT, CACHE_CONTROL, LOCATION};
use serde::Deserialize;
use tokio::sync::Notify;
use url::Url;

use super::issuer::{IssuerKeys, Need, millis};
use super::keyset;
use super::source::KeySourceError;
use crate::clock::to_millis;
use crate::error::ConfigError;
use crate::events::SecurityEvent;
use crate::telemetry::{self, KeyFetch};
use crate::token::access::Verifier;

/// How many redirects within one host are followed.
const MAX_REDIRECTS: usize = 3;

/// The HTTP client every remote source of one resource server shares.
#[derive(Debug)]
pub(crate) struct Http {
    client: reqwest::Client,
    max_bytes: usize,
}

impl Http {
    /// A client with `timeout` for each whole fetch, answers of at most `max_bytes`, rustls
    /// on the aws-lc-rs provider and the system's root certificates.
    pub(crate) fn new(timeout: Duration, max_bytes: usize) -> Result<Self, ConfigError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        // Roots that do not parse are skipped, as every TLS client does.
        let native = rustls_native_certs::load_native_certs();
        for cert in native.certs {
            let _ = roots.add(cert);
        }
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| ConfigError::HttpClient(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let client = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(same_host_redirects())
            .build()
            .map_err(|e| ConfigError::HttpClient(e.to_string()))?;
        Ok(Self { client, max_bytes })
    }

    /// The body of `url` and its `Cache-Control: max-age`, if any.
    async fn get(&self, url: &Url) -> Result<(Bytes, Option<Duration>), Failure> {
        let unreachable = |e: reqwest::Error| {
            Failure::error(KeySourceError::Unreachable {
                url: url.to_string(),
                reason: describe(&e),
            })
        };
        let mut res = self
            .client
            .get(url.clone())
            .header(ACCEPT, "application/json")
            .send()
            .await
            .map_err(unreachable)?;
        let status = res.status();
        if status.is_redirection() {
            return Err(Failure::error(KeySourceError::Redirect {
                url: url.to_string(),
                location: res
                    .headers()
                    .get(LOCATION)
                    .and_then(|l| l.to_str().ok())
                    .unwrap_or("")
                    .to_owned(),
            }));
        }
        if !status.is_success() {
            return Err(Failure::error(KeySourceError::Status {
                url: url.to_string(),
                status: status.as_u16(),
            }));
        }
        let max_age = max_age(res.headers());
        let too_large = || {
            Failure::invalid(KeySourceError::TooLarge {
                url: url.to_string(),
                limit: self.max_bytes,
            })
        };
        if res
            .content_length()
            .is_some_and(|len| len > self.max_bytes as u64)
        {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = res.chunk().await.map_err(unreachable)? {
            if body.len() + chunk.len() > self.max_bytes {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok((Bytes::from(body), max_age))
    }
}

/// Redirects are followed only within the host (and scheme and port) first asked, a few
/// times: a key source that sends its client elsewhere is refused, since the keys would then
/// come from a host nobody configured.
fn same_host_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let Some(first) = attempt.previous().first() else {
            return attempt.stop();
        };
        let url = attempt.url();
        let same = url.scheme() == first.scheme()
            && url.host_str() == first.host_str()
            && url.port_or_known_default() == first.port_or_known_default();
        if same && attempt.previous().len() <= MAX_REDIRECTS {
            attempt.follow()
        } else {
            attempt.stop()
        }
    })
}

/// A reqwest error in a few words, without its source chain's noise.
fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_connect() {
        "could not connect".to_owned()
    } else {
        let mut text = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(inner) = source {
            text.push_str(": ");
            text.push_str(&inner.to_string());
            source = inner.source();
        }
        text
    }
}

/// `Cache-Control: max-age=N` (RFC 9111 §5.2.2.1); `no-store` and `no-cache` read as zero
/// (then clamped up to the policy's minimum).
fn max_age(headers: &http::HeaderMap) -> Option<Duration> {
    let value = headers.get(CACHE_CONTROL)?.to_str().ok()?;
    value.split(',').map(str::trim).find_map(|directive| {
        if directive.eq_ignore_ascii_case("no-store") || directive.eq_ignore_ascii_case("no-cache")
        {
            return Some(Duration::ZERO);
        }
        let (name, secs) = directive.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("max-age")
            .then(|| secs.trim().trim_matches('"').parse().ok())
            .flatten()
            .map(Duration::from_secs)
    })
}

/// Whether `url`'s host is loopback (`localhost`, `127.0.0.0/8`, `::1`).
pub(crate) fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

/// `url` if it may be a key source: absolute `https`, or `http` on loopback (or anywhere with
/// `allow_http`), no credentials, no fragment.
pub(crate) fn check_url(url: &str, allow_http: bool) -> Result<Url, ConfigError> {
    let invalid = |reason| ConfigError::InvalidKeySource {
        url: url.to_owned(),
        reason,
    };
    let parsed = Url::parse(url).map_err(|_| invalid("not an absolute URL"))?;
    if parsed.host().is_none() {
        return Err(invalid("it has no host"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(invalid("it carries credentials"));
    }
    if parsed.fragment().is_some() {
        return Err(invalid("it has a fragment"));
    }
    match parsed.scheme() {
        "https" => Ok(parsed),
        "http" if allow_http || is_loopback(&parsed) => Ok(parsed),
        "http" => Err(ConfigError::InsecureKeySource {
            url: url.to_owned(),
        }),
        _ => Err(invalid("its scheme is neither https nor http")),
    }
}

/// Where an issuer's keys come from.
#[derive(Debug)]
pub(crate) enum RemoteSource {
    /// The key set itself.
    Jwks(Url),
    /// The issuer, whose metadata names the key set: its two well-known URLs, RFC 8414's
    /// first.
    Issuer { issuer: String, metadata: [Url; 2] },
}

impl RemoteSource {
    /// The metadata URLs of `issuer` (RFC 8414 §3.1: the well-known segment goes between the
    /// host and the issuer's path; OpenID Connect Discovery §4: appended to it).
    pub(crate) fn issuer(issuer: String, url: Url) -> Self {
        let path = url.path().trim_end_matches('/').to_owned();
        let mut rfc8414 = url.clone();
        rfc8414.set_path(&format!("/.well-known/oauth-authorization-server{path}"));
        let mut oidc = url;
        oidc.set_path(&format!("{path}/.well-known/openid-configuration"));
        Self::Issuer {
            issuer,
            metadata: [rfc8414, oidc],
        }
    }
}

/// The part of an RFC 8414 / OpenID Connect metadata document a resource server reads.
#[derive(Deserialize)]
struct Metadata {
    issuer: String,
    jwks_uri: String,
}

/// A failed fetch: the error, and how it counts.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) error: KeySourceError,
    outcome: KeyFetch,
}

impl Failure {
    fn error(error: KeySourceError) -> Self {
        Self {
            error,
            outcome: KeyFetch::Error,
        }
    }

    fn invalid(error: KeySourceError) -> Self {
        Self {
            error,
            outcome: KeyFetch::Invalid,
        }
    }
}

/// A remote source and its fetch state.
#[derive(Debug)]
pub(crate) struct Remote {
    source: RemoteSource,
    /// The `jwks_uri` an issuer's metadata named, until a fetch from it fails.
    jwks_uri: Mutex<Option<Url>>,
    http: Arc<Http>,
    allow_http: bool,
    /// One fetch at a time.
    lock: tokio::sync::Mutex<()>,
    /// When the last fetch started (clock milliseconds); `u64::MAX` before the first.
    last_attempt_ms: AtomicU64,
    /// How many fetches have started: a request that waited for the lock while one ran does
    /// not start another.
    attempts: AtomicU64,
    /// Wakes the background refresher.
    wake: Arc<Notify>,
}

impl Remote {
    pub(crate) fn new(source: RemoteSource, http: Arc<Http>, allow_http: bool) -> Self {
        Self {
            source,
            jwks_uri: Mutex::new(None),
            http,
            allow_http,
            lock: tokio::sync::Mutex::new(()),
            last_attempt_ms: AtomicU64::new(u64::MAX),
            attempts: AtomicU64::new(0),
            wake: Arc::new(Notify::new()),
        }
    }

    /// How many fetches have started.
    pub(crate) fn attempts(&self) -> u64 {
        self.attempts.load(Ordering::Acquire)
    }

    pub(crate) fn wake(&self) {
        self.wake.notify_one();
    }

    /// How long until the cooldown lets another fetch start.
    pub(crate) fn cooldown_left(&self, keys: &IssuerKeys) -> Duration {
        let last = self.last_attempt_ms.load(Ordering::Acquire);
        if last == u64::MAX {
            return Duration::ZERO;
        }
        let now = to_millis(keys.clock.now());
        Duration::from_millis(
            last.saturating_add(millis(keys.policy.cooldown))
                .saturating_sub(now),
        )
    }

    /// Fetches the set for `keys` unless the cooldown forbids it or another fetch ran while
    /// this one waited; returns whether a fetch ran (here or in the one waited for).
    pub(crate) async fn refetch(&self, keys: &IssuerKeys, need: Option<Need>) -> bool {
        let seen = self.attempts();
        if !self.cooldown_left(keys).is_zero() {
            return false;
        }
        let _one_at_a_time = self.lock.lock().await;
        if self.attempts() != seen {
            return true;
        }
        if !self.cooldown_left(keys).is_zero() {
            return false;
        }
        if need == Some(Need::UnknownKid) {
            keys.events.emit(|| SecurityEvent::UnknownKid {
                issuer: keys.name.clone(),
            });
        }
        let _ = self.fetch_now(keys).await;
        true
    }

    /// Waits for the first set: fetches it now (whatever the cooldown) unless one is in hand.
    pub(crate) async fn first_set(&self, keys: &IssuerKeys) -> Result<(), KeySourceError> {
        let _one_at_a_time = self.lock.lock().await;
        if keys.has_keys() {
            return Ok(());
        }
        self.fetch_now(keys).await
    }

    /// One fetch, counted and reported; the set installed on success.
    async fn fetch_now(&self, keys: &IssuerKeys) -> Result<(), KeySourceError> {
        self.last_attempt_ms
            .store(to_millis(keys.clock.now()), Ordering::Release);
        self.attempts.fetch_add(1, Ordering::AcqRel);
        match self.fetch(keys).await {
            Ok((verifiers, ttl)) => {
                telemetry::key_set_fetched(KeyFetch::Ok);
                tracing::debug!(issuer = %keys.name, keys = verifiers.len(), "key set fetched");
                keys.install(verifiers, ttl);
                Ok(())
            }
            Err(failure) => {
                telemetry::key_set_fetched(failure.outcome);
                let unusable = keys.is_unusable(to_millis(keys.clock.now()));
                tracing::warn!(
                    issuer = %keys.name,
                    error = %failure.error,
                    unusable,
                    "key set fetch failed; {}",
                    if unusable {
                        "tokens of this issuer are answered 503 until a fetch succeeds"
                    } else {
                        "the last good set keeps verifying"
                    }
                );
                keys.events.emit(|| SecurityEvent::KeySetFetchFailed {
                    issuer: keys.name.clone(),
                    reason: failure.error.to_string(),
                });
                if unusable {
                    keys.events.emit(|| SecurityEvent::KeySetUnavailable {
                        issuer: keys.name.clone(),
                    });
                }
                Err(failure.error)
            }
        }
    }

    /// The set: from the JWKS URL, or the one the issuer's metadata names.
    async fn fetch(&self, keys: &IssuerKeys) -> Result<(Vec<Verifier>, Option<Duration>), Failure> {
        let url = match &self.source {
            RemoteSource::Jwks(url) => url.clone(),
            RemoteSource::Issuer { issuer, metadata } => {
                let known = self.jwks_uri.lock().ok().and_then(|u| u.clone());
                match known {
                    Some(url) => url,
                    None => {
                        let url = self.discover(issuer, metadata).await?;
                        if let Ok(mut known) = self.jwks_uri.lock() {
                            *known = Some(url.clone());
                        }
                        url
                    }
                }
            }
        };
        let fetched = self.http.get(&url).await;
        if fetched.is_err()
            && let Ok(mut known) = self.jwks_uri.lock()
        {
            // Ask the metadata again next time: the issuer may have moved its keys.
            *known = None;
        }
        let (body, ttl) = fetched?;
        let verifiers = keyset::parse(&body, &keys.rules).map_err(|why| {
            Failure::invalid(KeySourceError::Invalid {
                url: url.to_string(),
                reason: why.into_owned(),
            })
        })?;
        Ok((verifiers, ttl))
    }

    /// The `jwks_uri` of `issuer`'s metadata: RFC 8414's document, else OpenID Connect's. The
    /// document's `issuer` must be the configured one exactly (RFC 8414 §3.3).
    async fn discover(&self, issuer: &str, metadata: &[Url; 2]) -> Result<Url, Failure> {
        let mut first_error = None;
        for url in metadata {
            match self.metadata(issuer, url).await {
                Ok(jwks) => return Ok(jwks),
                // A document naming another issuer is an answer, not an absence.
                Err(e) if matches!(e.error, KeySourceError::IssuerMismatch { .. }) => {
                    return Err(e);
                }
                Err(e) => {
                    if first_error.is_none() {
                        first_error = Some(e);
                    }
                }
            }
        }
        Err(first_error.unwrap_or_else(|| {
            Failure::error(KeySourceError::Unreachable {
                url: issuer.to_owned(),
                reason: "no metadata".to_owned(),
            })
        }))
    }

    async fn metadata(&self, issuer: &str, url: &Url) -> Result<Url, Failure> {
        let (body, _) = self.http.get(url).await?;
        let invalid = |reason: String| {
            Failure::invalid(KeySourceError::Invalid {
                url: url.to_string(),
                reason,
            })
        };
        let doc: Metadata = serde_json::from_slice(&body).map_err(|_| {
            invalid("not authorization server metadata (no `issuer` and `jwks_uri`)".to_owned())
        })?;
        if doc.issuer != issuer {
            return Err(Failure::invalid(KeySourceError::IssuerMismatch {
                url: url.to_string(),
                expected: issuer.to_owned(),
                found: doc.issuer,
            }));
        }
        check_url(&doc.jwks_uri, self.allow_http).map_err(|e| invalid(e.to_string()))
    }
}

/// Keeps `keys` fresh until the resource server is dropped: fetches the set when it is due
/// (three quarters into its max-age; at once when there is none), when a request finds it
/// due, and again every cooldown while fetches fail.
pub(crate) fn spawn_refresher(keys: &Arc<IssuerKeys>) -> Result<(), ConfigError> {
    let Some(remote) = &keys.remote else {
        return Ok(());
    };
    let runtime = tokio::runtime::Handle::try_current().map_err(|_| ConfigError::NoRuntime)?;
    let wake = Arc::clone(&remote.wake);
    let weak: Weak<IssuerKeys> = Arc::downgrade(keys);
    runtime.spawn(async move {
        loop {
            let wait = match weak.upgrade() {
                Some(keys) => next_wake(&keys),
                None => return,
            };
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = wake.notified() => {}
            }
            let Some(keys) = weak.upgrade() else { return };
            if keys.refresh_due(to_millis(keys.clock.now()))
                && let Some(remote) = &keys.remote
            {
                remote.refetch(&keys, None).await;
            }
            keys.record_age();
        }
    });
    Ok(())
}

/// How long the refresher sleeps: until the set is due or the cooldown over, whichever is
/// later; at least 100 ms (no spinning), at most a minute (the age gauge moves).
fn next_wake(keys: &IssuerKeys) -> Duration {
    let now = to_millis(keys.clock.now());
    let cooldown = keys
        .remote
        .as_ref()
        .map_or(Duration::ZERO, |r| r.cooldown_left(keys));
    keys.refresh_in(now)
        .max(cooldown)
        .clamp(Duration::from_millis(100), Duration::from_secs(60))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_age_is_read_from_cache_control() {
        let mut h = http::HeaderMap::new();
        assert_eq!(max_age(&h), None);
        h.insert(CACHE_CONTROL, "public, max-age=300".parse().unwrap());
        assert_eq!(max_age(&h), Some(Duration::from_secs(300)));
        h.insert(CACHE_CONTROL, "no-store".parse().unwrap());
        assert_eq!(max_age(&h), Some(Duration::ZERO));
        h.insert(CACHE_CONTROL, "max-age=abc".parse().unwrap());
        assert_eq!(max_age(&h), None);
    }

    #[test]
    fn plain_http_only_on_loopback_unless_allowed() {
        assert!(check_url("https://issuer.example", false).is_ok());
        assert!(check_url("http://127.0.0.1:8080/jwks", false).is_ok());
        assert!(check_url("http://[::1]/jwks", false).is_ok());
        assert!(check_url("http://localhost/jwks", false).is_ok());
        let err = check_url("http://issuer.example/jwks", false).unwrap_err();
        assert!(
            matches!(err, ConfigError::InsecureKeySource { .. }),
            "{err}"
        );
        assert!(err.to_string().contains("allow_insecure_http"), "{err}");
        assert!(check_url("http://issuer.example/jwks", true).is_ok());
        assert!(check_url("ftp://issuer.example", true).is_err());
        assert!(check_url("https://user:pw@issuer.example", false).is_err());
        assert!(check_url("/relative", false).is_err());
    }

    #[test]
    fn metadata_urls_follow_rfc_8414_then_openid_connect() {
        let source = RemoteSource::issuer(
            "https://id.example/tenant".into(),
            Url::parse("https://id.example/tenant").unwrap(),
        );
        let RemoteSource::Issuer { metadata, .. } = source else {
            panic!("an issuer source")
        };
        assert_eq!(
            metadata[0].as_str(),
            "https://id.example/.well-known/oauth-authorization-server/tenant"
        );
        assert_eq!(
            metadata[1].as_str(),
            "https://id.example/tenant/.well-known/openid-configuration"
        );
        let source = RemoteSource::issuer(
            "https://id.example".into(),
            Url::parse("https://id.example").unwrap(),
        );
        let RemoteSource::Issuer { metadata, .. } = source else {
            panic!("an issuer source")
        };
        assert_eq!(
            metadata[0].as_str(),
            "https://id.example/.well-known/oauth-authorization-server"
        );
    }
}
