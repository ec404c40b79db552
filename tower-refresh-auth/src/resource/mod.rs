//! Other services verify with the same crate: a verify-only [`ResourceServer`] (`docs/protocol.md`
//! §12).
//!
//! No store, no refresh secret, no routes of its own: it verifies access tokens issued
//! elsewhere — by a [`RefreshAuth`](crate::RefreshAuth) in another service, or by any issuer
//! that publishes a JWK Set — and hands handlers the same [`Claims<C>`], refuses with the same
//! RFC 6750 responses (and gRPC refusals), through the same verification function, verified-
//! token cache, DPoP checks ([`dpop`](ResourceServerBuilder::dpop): proof, `ath`, `cnf.jkt`,
//! replay memory) and metrics as the issuing layer. The axum and poem extractors read what it
//! puts into the request extensions exactly as they read the issuing layer's.
//!
//! Keys come from a static JWK set or key files ([`Issuer::from_jwks`],
//! [`Issuer::from_keys`]), or — with the `remote-jwks` feature — from a JWKS URL
//! (`Issuer::jwks_url`) or an issuer URL whose metadata names it (`Issuer::discover`).
//!
//! ```
//! use std::sync::Arc;
//!
//! use http::{Request, Response, StatusCode};
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//! use tower_refresh_auth::resource::{Issuer, ResourceServer};
//! use tower_refresh_auth::{Claims, NoClaims, RefreshAuth, keys::SigningKey};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! # let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/keys");
//! // The issuing service signs with a key file and publishes its keys.
//! let key = SigningKey::from_file(dir.join("ed25519.pem"))?;
//! let issuer = RefreshAuth::<NoClaims>::builder()
//!     .signing_key(key.clone())
//!     .refresh_secret(b"a refresh-token secret of at least 32 bytes".to_vec())
//!     .issuer("https://login.example.com")
//!     .build()?;
//! let pair = issuer.issue("user1", NoClaims {}).await?;
//!
//! // Another service trusts it with nothing but its public key.
//! let resource = ResourceServer::<NoClaims>::builder()
//!     .issuer(Issuer::from_keys([key.verifying_key()]).issuer("https://login.example.com"))
//!     .build()?;
//! let api = ServiceBuilder::new()
//!     .layer(resource.layer())
//!     .service(service_fn(|req: Request<String>| async move {
//!         let claims = req.extensions().get::<Arc<Claims>>().cloned();
//!         Ok::<_, std::convert::Infallible>(Response::new(claims.map(|c| c.sub.clone()).unwrap_or_default()))
//!     }));
//!
//! let req = Request::get("/api/profile")
//!     .header("authorization", format!("Bearer {}", pair.access_token))
//!     .body(String::new())?;
//! let res = api.clone().oneshot(req).await?;
//! assert_eq!(res.status(), StatusCode::OK);
//!
//! // Without a token: the same 401 challenge the issuing layer sends.
//! let res = api.oneshot(Request::new(String::new())).await?;
//! assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
//! assert_eq!(res.headers()["www-authenticate"], "Bearer realm=\"api\"");
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! # What it refuses
//!
//! Besides every refusal of the issuing layer (`docs/protocol.md` §1):
//!
//! - a key's algorithm comes from the key — its JWK `alg`, or the issuer's
//!   [allowed algorithms](Issuer::algorithms) matched to its `kty` and `crv` — never from the
//!   token: `alg: none`, an HMAC token "signed" with a public key, and symmetric (`oct`) keys
//!   in a set are refused;
//! - a token naming its own key (`jku`, `jwk`, `x5u`, `x5c` headers) is refused: keys come
//!   from the configured source only;
//! - with several issuers a token is routed by its `iss` (read before verification only to
//!   choose the key set) and must verify under that issuer's keys: a token claiming one issuer
//!   and signed by another's key is refused;
//! - a token whose key cannot be confirmed because the source cannot be reached — no set yet,
//!   or the last good set past the [maximum staleness](ResourceServerBuilder::max_staleness) —
//!   is answered `503 temporarily_unavailable` with `Retry-After`: never `401`, never accepted.
//!
//! # Fetching keys (`remote-jwks`)
//!
//! A remote set is fetched in the background (the server must be built inside a tokio
//! runtime), honouring its `Cache-Control: max-age` within
//! [bounds](ResourceServerBuilder::cache_ttl), and fetched again three quarters into it, so a
//! request never waits while its key is known. A token with an unknown `kid` makes at most one
//! fetch per issuer per [cooldown](ResourceServerBuilder::refetch_cooldown) (default 10 s),
//! shared by every request waiting; kids still unknown after it are remembered (up to 1024)
//! and refused without asking again until the set changes. So a flood of random kids costs
//! the issuer at most one fetch per cooldown, and tokens with known keys nothing. Fetches have
//! a [timeout](ResourceServerBuilder::fetch_timeout) and a
//! [size cap](ResourceServerBuilder::max_jwks_bytes), follow redirects only within their host,
//! and need `https` except on loopback.
//!
//! At start, either wait for the first set with [`ResourceServer::ready`] (an error names the
//! URL that failed), or do not, and answer `503` until it arrives.

mod builder;
#[cfg(feature = "remote-jwks")]
mod fetch;
mod issuer;
mod key_fetching;
mod keyset;
mod layer;
mod source;

use std::cell::Cell;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::SystemTime;

use http::{HeaderMap, Method, Uri};
use serde::Deserialize;
use serde::de::DeserializeOwned;

pub use self::builder::ResourceServerBuilder;
use self::issuer::{IssuerKeys, Need, Refusal};
pub use self::key_fetching::KeyFetching;
pub use self::layer::{ResourceServerLayer, ResourceServerService};
pub use self::source::{Issuer, KeySourceError};
use crate::adapter::Verdict;
use crate::clock::{Clock, to_millis};
use crate::credentials::Presented;
use crate::dpop::{DpopSettings, Presentation, Target, Verified, spend_proof, verify_presented};
use crate::error::{AuthError, invalid_token, malformed};
use crate::guard::Guard;
use crate::rejection::AuthRejection;
use crate::response::Renderer;
use crate::store::RefreshStore;
use crate::telemetry::{self, Verification};
use crate::token::access::{VerifyAccess, validity_ms, verify_with};
use crate::token::cache::TokenCache;
use crate::token::decoded::{Decoded, verify_decoded};
use crate::token::{Claims, NoClaims};

/// A verify-only layer's configuration and state: build one with
/// [`ResourceServer::builder`], install its [`layer`](Self::layer). See the
/// [module docs](self).
///
/// Cheap to clone (one `Arc`).
pub struct ResourceServer<C = NoClaims> {
    inner: Arc<Inner>,
    _claims: PhantomData<fn() -> C>,
}

#[derive(Debug)]
struct Inner {
    issuers: Vec<Arc<IssuerKeys>>,
    /// The issuer configured without an `iss`, if any: it takes the tokens no other names.
    catch_all: Option<usize>,
    leeway_ms: u64,
    clock: Arc<dyn Clock>,
    guard: Guard,
    renderer: Arc<Renderer>,
    cache: Option<TokenCache>,
    access_cookie: Option<String>,
    /// DPoP (`docs/protocol.md` §10); `None` when off.
    dpop: Option<DpopSettings>,
    /// Where spent DPoP proofs are remembered, with DPoP on.
    replay: Option<Arc<dyn RefreshStore>>,
}

impl<C> Clone for ResourceServer<C> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
            _claims: PhantomData,
        }
    }
}

impl<C> std::fmt::Debug for ResourceServer<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResourceServer")
            .field("issuers", &self.inner.issuers)
            .finish_non_exhaustive()
    }
}

/// What [`ResourceServer::decide`] made of a request.
// The verdict is large (it carries the claims) and `Pending` is empty; boxing the verdict would
// cost an allocation per request on the hot path, as for `adapter::Verdict`.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Decision<C> {
    /// The request goes on or is refused, as the verdict says.
    Verdict(Verdict<C>),
    /// Something must be waited for first — the token's key set fetched (an unknown `kid`,
    /// no set yet, a set past its maximum staleness), or its DPoP proof spent in the replay
    /// memory: [`ResourceServer::authorize`] does it and gives the verdict.
    Pending,
}

/// The `iss` of a token's payload, read before verification only to choose its issuer.
#[derive(Deserialize)]
struct Routing<'a> {
    #[serde(borrow, default)]
    iss: Option<std::borrow::Cow<'a, str>>,
}

/// A refusal, with the issuer whose key set refused the token (`None` when no set was asked).
type Refused = (Option<Arc<IssuerKeys>>, Refusal);

impl<C> ResourceServer<C> {
    /// A builder; see [`ResourceServerBuilder`].
    pub fn builder() -> ResourceServerBuilder<C> {
        ResourceServerBuilder::new()
    }

    /// The tower layer: verifies bearer tokens on every path it guards.
    pub fn layer(&self) -> ResourceServerLayer<C> {
        ResourceServerLayer::new(self.clone())
    }

    /// Wraps an error as an [`AuthRejection`] rendered as this server renders its errors.
    pub fn rejection(&self, error: AuthError) -> AuthRejection {
        AuthRejection::new(error, Arc::clone(&self.inner.renderer))
    }

    /// Waits until every issuer's first key set is in hand, fetching those not yet fetched.
    /// Call it at start (under a timeout) to stop there when a key source is wrong; without
    /// it the server answers `503` until the sets arrive.
    ///
    /// # Errors
    ///
    /// The first source that failed, naming its URL.
    pub async fn ready(&self) -> Result<(), KeySourceError> {
        for issuer in &self.inner.issuers {
            #[cfg(feature = "remote-jwks")]
            if let Some(remote) = &issuer.remote {
                remote.first_set(issuer).await?;
            }
            #[cfg(not(feature = "remote-jwks"))]
            let _ = issuer;
        }
        Ok(())
    }

    /// The issuer whose keys a token must verify under: the only one, or with several the
    /// one its `iss` names (`parsed`: its claims, parsed once; else its payload is read for
    /// the `iss` alone), or the catch-all.
    fn issuer_for(
        &self,
        decoded: &Decoded<'_>,
        parsed: Option<&Claims<C>>,
    ) -> Result<&Arc<IssuerKeys>, AuthError> {
        let issuers = &self.inner.issuers;
        if let [only] = issuers.as_slice() {
            return Ok(only);
        }
        let route = |iss: Option<&str>| {
            iss.and_then(|iss| issuers.iter().find(|i| i.rules.iss.as_deref() == Some(iss)))
                .or_else(|| self.inner.catch_all.map(|i| &issuers[i]))
                .ok_or_else(|| invalid_token("the token's issuer is not accepted"))
        };
        if let Some(claims) = parsed {
            return route(claims.iss.as_deref());
        }
        // Claims the handlers' type does not parse: the token is refused, but by the general
        // path under the key set its `iss` names, as before claims were parsed once.
        let routing: Routing<'_> = decoded
            .payload_bytes()
            .and_then(|payload| serde_json::from_slice(payload).ok())
            .ok_or_else(|| invalid_token("the token is malformed"))?;
        route(routing.iss.as_deref())
    }

    /// Verifies `token` with the keys in hand; `last`: no fetch may follow, so what needs one
    /// is refused.
    fn verify_token(
        &self,
        token: Presented<'_>,
        now: SystemTime,
        last: bool,
    ) -> Result<Arc<Claims<C>>, Refused>
    where
        C: DeserializeOwned + Clone + Send + Sync + 'static,
    {
        let leeway_ms = self.inner.leeway_ms;
        let run = || {
            let token = token.text().map_err(|e| (None, e.into()))?;
            // Split, and header and payload decoded, once.
            let decoded = Decoded::new(token).map_err(|e| (None, e.into()))?;
            let header = &decoded.header;
            // RFC 8725 §3.10: keys come from the issuer's set, never from the token.
            if header.jku.is_some()
                || header.jwk.is_some()
                || header.x5u.is_some()
                || header.x5c.is_some()
            {
                return Err((
                    None,
                    invalid_token("the token names its own key (jku, jwk, x5u or x5c)").into(),
                ));
            }
            // The claims, parsed once: their `iss` only chooses the key set here; they are
            // handed on only once the token verified under it.
            let parsed = decoded.parse_claims::<C>();
            let issuer = self
                .issuer_for(&decoded, parsed.as_ref())
                .map_err(|e| (None, e.into()))?;
            issuer
                .attempt(header.kid.as_deref(), now, last, |verifiers| match parsed {
                    Some(claims) => verify_decoded(verifiers, &decoded, claims, now, leeway_ms),
                    None => verify_with(verifiers, token, now, leeway_ms),
                })
                .map_err(|refusal| (Some(Arc::clone(issuer)), refusal))
        };
        match &self.inner.cache {
            None => run().map(Arc::new),
            Some(cache) => cache.verify_through(token.as_bytes(), to_millis(now), run, |c| {
                validity_ms(c, leeway_ms)
            }),
        }
    }

    /// Reads and verifies the request's token; the issuer and what it needs when a fetch
    /// must come first.
    fn check(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        last: bool,
    ) -> Result<(Arc<Claims<C>>, Option<Verified>), Pending>
    where
        C: DeserializeOwned + Clone + Send + Sync + 'static,
    {
        let pending: Cell<Option<(Arc<IssuerKeys>, Need)>> = Cell::new(None);
        let presentation = Presentation {
            access_cookie: self.inner.access_cookie.as_deref(),
            dpop: self.inner.dpop.as_ref(),
            clock: &*self.inner.clock,
        };
        let attempt = Attempt {
            server: self,
            last,
            pending: &pending,
        };
        let verified = verify_presented(&presentation, &attempt, Target { method, uri }, headers);
        if let Some(pending) = pending.take() {
            return Err(Pending::Fetch(pending.0, pending.1));
        }
        verified.map_err(Pending::Refused)
    }

    /// Spends a DPoP proof's `jti` in the replay memory: a proof is good once.
    async fn spend(&self, proof: &Verified) -> Result<(), AuthError> {
        let (Some(dpop), Some(replay)) = (&self.inner.dpop, &self.inner.replay) else {
            return Err(AuthError::MissingCapability("DpopStore"));
        };
        let store = replay
            .dpop()
            .ok_or(AuthError::MissingCapability("DpopStore"))?;
        spend_proof(store, dpop.rules.window, &*self.inner.clock, proof, true).await
    }

    /// `result` as a verdict for a request to `path`, counted.
    fn verdict(&self, result: Result<Arc<Claims<C>>, AuthError>, path: &str) -> Verdict<C> {
        match result {
            Ok(claims) => {
                telemetry::verified(Verification::Ok);
                Verdict::Authenticated(claims)
            }
            Err(err) => {
                // A key source that cannot answer says nothing about the token.
                if !matches!(err, AuthError::KeysUnavailable { .. }) {
                    telemetry::verified(Verification::of(&err));
                }
                if self.inner.guard.is_public(path) {
                    Verdict::Anonymous(self.rejection(err))
                } else {
                    Verdict::Refused(self.rejection(err))
                }
            }
        }
    }
}

/// Why [`ResourceServer::check`] gave no claims.
enum Pending {
    /// A fetch for this issuer might change the answer.
    Fetch(Arc<IssuerKeys>, Need),
    Refused(AuthError),
}

impl<C> ResourceServer<C>
where
    C: DeserializeOwned + Clone + Send + Sync + 'static,
{
    /// Decides what a request is, with the keys in hand and without waiting: a verdict, or
    /// [`Decision::Pending`] when a key set must be fetched or a DPoP proof spent first (then
    /// call [`authorize`](Self::authorize)).
    pub fn decide(&self, method: &Method, uri: &Uri, headers: &HeaderMap) -> Decision<C> {
        match self.check(method, uri, headers, false) {
            Ok((claims, None)) => Decision::Verdict(self.verdict(Ok(claims), uri.path())),
            Err(Pending::Refused(err)) => Decision::Verdict(self.verdict(Err(err), uri.path())),
            // A DPoP proof to spend, or a key set to fetch.
            Ok((_, Some(_))) | Err(Pending::Fetch(..)) => Decision::Pending,
        }
    }

    /// The verdict on a request, fetching the token's key set first if it must (at most one
    /// fetch per issuer per cooldown, shared by every request waiting for it), and spending
    /// its DPoP proof.
    pub async fn authorize(&self, method: &Method, uri: &Uri, headers: &HeaderMap) -> Verdict<C> {
        let mut checked = self.check(method, uri, headers, false);
        if let Err(Pending::Fetch(issuer, need)) = &checked {
            issuer.fetch_for(*need).await;
            checked = self.check(method, uri, headers, true);
        }
        let result = match checked {
            Ok((claims, None)) => Ok(claims),
            Ok((claims, Some(proof))) => self.spend(&proof).await.map(|()| claims),
            Err(Pending::Refused(err)) => Err(err),
            // `last` turns every need into a refusal.
            Err(Pending::Fetch(..)) => Err(AuthError::KeysUnavailable {
                retry_after_secs: 1,
            }),
        };
        self.verdict(result, uri.path())
    }

    /// Verifies an access token as the layer does (its signature under its issuer's keys,
    /// algorithm, type, issuer, audience and expiry), fetching the key set first if it must.
    ///
    /// # Errors
    ///
    /// [`AuthError::InvalidToken`] naming why the token was refused;
    /// [`AuthError::KeysUnavailable`] when its key could not be confirmed.
    pub async fn verify(&self, token: &str) -> Result<Claims<C>, AuthError> {
        let now = self.inner.clock.now();
        match self.verify_token(Presented::Text(token), now, false) {
            Ok(claims) => Ok(Arc::unwrap_or_clone(claims)),
            Err((_, Refusal::Error(err))) => Err(err),
            Err((issuer, Refusal::Needs(need))) => {
                if let Some(issuer) = issuer {
                    issuer.fetch_for(need).await;
                }
                match self.verify_token(Presented::Text(token), self.inner.clock.now(), true) {
                    Ok(claims) => Ok(Arc::unwrap_or_clone(claims)),
                    Err((_, Refusal::Error(err))) => Err(err),
                    Err((_, Refusal::Needs(_))) => Err(AuthError::KeysUnavailable {
                        retry_after_secs: 1,
                    }),
                }
            }
        }
    }
}

/// One attempt at verifying a request's token with the keys in hand; `last`: no fetch may
/// follow. A token whose keys must be fetched first leaves the issuer and what it needs in
/// `pending`, which the caller looks at before the refusal.
struct Attempt<'a, C> {
    server: &'a ResourceServer<C>,
    last: bool,
    pending: &'a Cell<Option<(Arc<IssuerKeys>, Need)>>,
}

impl<C> VerifyAccess<C> for Attempt<'_, C>
where
    C: DeserializeOwned + Clone + Send + Sync + 'static,
{
    fn verify_access(
        &self,
        token: Presented<'_>,
        now: SystemTime,
    ) -> Result<Arc<Claims<C>>, AuthError> {
        match self.server.verify_token(token, now, self.last) {
            Ok(claims) => Ok(claims),
            Err((Some(issuer), Refusal::Needs(need))) => {
                self.pending.set(Some((issuer, need)));
                // Never answered: `pending` is looked at first.
                Err(malformed("the token's keys must be fetched"))
            }
            Err((_, Refusal::Error(err))) => Err(err),
            Err((None, Refusal::Needs(_))) => Err(invalid_token("the token is malformed")),
        }
    }
}
