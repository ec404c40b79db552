//! The two pages, embedded so the servers run from any directory.

/// The login page: a form `loginForm` with the fields `username` and `password`.
pub const LOGIN_PAGE: &str = include_str!("../assets/login.html");

/// The dashboard: `welcomeMessage` and `logoutButton`; refreshes the access token on a `401`.
pub const DASHBOARD_PAGE: &str = include_str!("../assets/dashboard.html");

/// The paths reachable without a token: the pages and the login route. Everything else,
/// `/api/…` and unknown paths included, needs one.
pub const PUBLIC_PATHS: &[&str] = &[
    "/",
    "/login",
    "/login.html",
    "/dashboard",
    "/dashboard.html",
];
