//! What every server of the peers harness shares: the keys, the token's claims as the peers
//! read them, the handler's body, and the listener.
//!
//! The token every system verifies is minted once per algorithm by our layer
//! (`server mint <alg>`); the peers are configured with the same key and check the same
//! `exp` and `aud`. The handler is the example servers' `GET /api/dashboard`: a `no-store` JSON
//! greeting naming the token's subject.

use serde::{Deserialize, Serialize};

/// The audience every token names and every system checks (axum-jwt-auth requires one).
pub const AUDIENCE: &str = "peers-harness";
/// The HS256 secret every system uses (a load-test value, 45 bytes).
pub const HS256_SECRET: &str = "peers harness secret, at least 32 bytes long";
/// The refresh-token MAC secret for our layer with the ES256 key.
pub const REFRESH_SECRET: &[u8] = b"peers harness refresh secret, 32 bytes or more";
/// The ES256 private key (PKCS#8 PEM): a test key, committed for this harness only.
pub const ES256_PRIVATE_PEM: &str = include_str!("../keys/es256-private.TEST-ONLY.pem");
/// Its public half (SubjectPublicKeyInfo PEM), for the peers.
pub const ES256_PUBLIC_PEM: &str = include_str!("../keys/es256-public.pem");
/// The Ed25519 private key (PKCS#8 PEM): a test key, committed for this harness only.
pub const ED25519_PRIVATE_PEM: &str = include_str!("../keys/ed25519-private.TEST-ONLY.pem");
/// Its public half (SubjectPublicKeyInfo PEM), for the peers.
pub const ED25519_PUBLIC_PEM: &str = include_str!("../keys/ed25519-public.pem");

/// The algorithms the harness runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alg {
    /// HMAC with SHA-256.
    Hs256,
    /// ECDSA P-256 with SHA-256.
    Es256,
    /// Ed25519 (RFC 8037).
    EdDsa,
}

impl Alg {
    /// From its JOSE name.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "HS256" => Some(Self::Hs256),
            "ES256" => Some(Self::Es256),
            "EdDSA" => Some(Self::EdDsa),
            _ => None,
        }
    }

    /// Its JOSE name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Hs256 => "HS256",
            Self::Es256 => "ES256",
            Self::EdDsa => "EdDSA",
        }
    }
}

/// The claims the peers deserialize: what the handler needs (the subject) and the expiry
/// and audience they check. The token carries more (`sid`, `jti`, `iat`); serde skips it.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct PeerClaims {
    /// The subject.
    pub sub: String,
    /// Expires at (seconds since the Unix epoch).
    pub exp: u64,
    /// The audience.
    pub aud: String,
}

/// The handler's body, as the example servers' `Welcome::to`.
#[derive(Debug, Serialize)]
pub struct Welcome {
    /// The greeting.
    pub message: String,
}

impl Welcome {
    /// The greeting for `user`.
    pub fn to(user: &str) -> Self {
        Self {
            message: format!("Welcome to your dashboard, {user}!"),
        }
    }
}

/// Binds 127.0.0.1 on `PORT` (0 by default: any free port) and prints the address the way
/// the example servers do, for the driver to read.
pub async fn listen() -> std::io::Result<tokio::net::TcpListener> {
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening on http://{}", listener.local_addr()?);
    Ok(listener)
}
