//! Before: axum-login over tower-sessions — a server-side session behind a cookie, looked up on
//! every request. The guide's page docs/guide/src/migrating/axum-login.md shows it beside the
//! same app on tower-refresh-auth in cookie mode (tests/tests/guide_cookie_app.rs).

// ANCHOR: app
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use axum_login::{
    AuthManagerLayerBuilder, AuthSession, AuthUser, AuthnBackend, UserId, login_required,
};
use serde::Deserialize;
use tower_sessions::{MemoryStore, SessionManagerLayer};

#[derive(Clone, Debug)]
struct User {
    name: String,
    password_hash: Vec<u8>, // a changed password ends the user's sessions
}

impl AuthUser for User {
    type Id = String;

    fn id(&self) -> String {
        self.name.clone()
    }

    fn session_auth_hash(&self) -> &[u8] {
        &self.password_hash
    }
}

#[derive(Clone, Deserialize)]
struct Login {
    username: String,
    password: String,
}

/// The user database: one demo account.
#[derive(Clone)]
struct Backend;

impl Backend {
    fn user(name: &str) -> Option<User> {
        (name == "user1").then(|| User {
            name: name.into(),
            password_hash: b"the argon2 hash".to_vec(),
        })
    }
}

impl AuthnBackend for Backend {
    type User = User;
    type Credentials = Login;
    type Error = std::convert::Infallible;

    async fn authenticate(&self, login: Login) -> Result<Option<User>, Self::Error> {
        Ok(Self::user(&login.username).filter(|_| login.password == "password1"))
    }

    async fn get_user(&self, name: &UserId<Self>) -> Result<Option<User>, Self::Error> {
        Ok(Self::user(name))
    }
}

/// `POST /login`: a session cookie for the demo user, `401` for anyone else.
async fn login(mut session: AuthSession<Backend>, Json(login): Json<Login>) -> StatusCode {
    match session.authenticate(login).await {
        Ok(Some(user)) if session.login(&user).await.is_ok() => StatusCode::NO_CONTENT,
        Ok(None) => StatusCode::UNAUTHORIZED,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// `POST /logout`: the session is deleted.
async fn logout(mut session: AuthSession<Backend>) -> StatusCode {
    match session.logout().await {
        Ok(_) => StatusCode::NO_CONTENT,
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

async fn dashboard(session: AuthSession<Backend>) -> String {
    let name = session.user.map(|user| user.name).unwrap_or_default();
    format!("Welcome to your dashboard, {name}!")
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sessions = SessionManagerLayer::new(MemoryStore::default());
    let auth = AuthManagerLayerBuilder::new(Backend, sessions).build();
    let app = Router::new()
        .route("/api/dashboard", get(dashboard))
        .route_layer(login_required!(Backend))
        .route("/login", post(login))
        .route("/logout", post(logout))
        .layer(auth);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    axum::serve(listener, app).await?;
    Ok(())
}
// ANCHOR_END: app
