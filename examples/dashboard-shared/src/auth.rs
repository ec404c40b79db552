//! The library configured from the settings: the same for both frameworks' dashboards, which
//! add only what their own build serves (the API document) and put the layer in front of
//! their routes.

use std::sync::Arc;

use tower_refresh_auth::keys::Jwks;
use tower_refresh_auth::store::RefreshStore;
use tower_refresh_auth::transport::RefreshTransport;
use tower_refresh_auth::{NoClaims, RefreshAuth, RefreshAuthBuilder};

use crate::{CSRF_HEADER, PUBLIC_PATHS, Settings, log_security_event};

/// The library configured from `settings`, with `store` (from [`Settings::connect_store`]):
/// build it with [`build_auth`](crate::build_auth) (`.build()` unless `KEY_ROTATION` is set). Every path needs a token but the pages, their scripts and the
/// login route ([`PUBLIC_PATHS`]).
pub fn auth_builder(
    settings: &Settings,
    store: Arc<dyn RefreshStore>,
) -> RefreshAuthBuilder<NoClaims> {
    // JWT_PRIVATE_KEY_FILE: tokens signed with an asymmetric key, whose public half the
    // layer serves at `GET /.well-known/jwks.json` (public, like `/token`); else HS256.
    // KEY_ROTATION: the keys and the refresh secret come from the store's key ring when the
    // layer is built (`build_auth`), and the JWKS route is on.
    // KEY_DIR: the directory's keys, watched by `build_auth`.
    let mut builder = match (
        &settings.key_rotation,
        &settings.key_dir,
        &settings.jwt_private_key,
    ) {
        (Some(_), _, _) => RefreshAuth::builder().jwks(Jwks::new()),
        (None, Some((_, keys)), _) => keys.apply(RefreshAuth::builder()).jwks(Jwks::new()),
        (None, None, Some(key)) => RefreshAuth::builder()
            .signing_key(key.clone())
            .jwks(Jwks::new()),
        (None, None, None) => RefreshAuth::builder().hs256(settings.jwt_secret_or_random()),
    };
    builder = builder
        .access_ttl(settings.access_ttl)
        .refresh_ttl(settings.refresh_ttl)
        .reuse_grace(settings.reuse_grace)
        // Cookie mode's CSRF header is the one the pages' scripts send.
        .transport(match &settings.transport {
            RefreshTransport::Cookie(cookie) => {
                RefreshTransport::from(cookie.clone().csrf_header(CSRF_HEADER))
            }
            body => body.clone(),
        })
        .check_sessions(settings.check_sessions)
        .max_sessions_per_subject(settings.max_sessions_per_user)
        // `GET /sessions`, `DELETE /sessions/{id}`, `DELETE /sessions` (§8).
        .sessions_route()
        // Reuse at `warn` with the user and the session, grace replays at `debug`.
        .on_security_event(log_security_event)
        .store(store);
    // REFRESH_TOKEN_SECRET; needed with a key file, derived from JWT_SECRET otherwise.
    if settings.key_rotation.is_none()
        && let Some(secret) = settings.refresh_secret()
    {
        builder = builder.refresh_secret(secret);
    }
    if let Some(lifetime) = settings.session_lifetime {
        builder = builder.session_lifetime(lifetime);
    }
    // DPOP (§10): sessions bound to a key the browser holds; PUBLIC_URL: the tokens' `iss`.
    builder = settings.apply_dpop(builder);
    if settings.token_cache > 0 {
        builder = builder.verified_token_cache(settings.token_cache);
    }
    // INTROSPECTION_CLIENT (§14): `POST /introspect` (RFC 7662) for that client.
    if let Some(introspection) = &settings.introspection {
        builder = builder.introspection(introspection.clone());
    }
    // The pages, their scripts and the login route; every other path needs a token.
    for path in PUBLIC_PATHS {
        builder = builder.public_path(*path);
    }
    builder
}
