//! The two pages and their scripts, embedded so the servers run from any directory, and the
//! headers they are served with.

/// The login page: a form `loginForm` with the fields `username` and `password`.
pub const LOGIN_PAGE: &str = include_str!("../assets/login.html");

/// The login page's script, served as `/login.js`: posts the form as JSON with the CSRF
/// header and a DPoP proof, and stores the tokens. It starts with `assets/dpop.js`, which
/// keeps the browser's non-extractable DPoP key and signs proofs (docs/protocol.md §10).
pub const LOGIN_SCRIPT: &str = concat!(
    include_str!("../assets/dpop.js"),
    include_str!("../assets/login.js")
);

/// The dashboard: `welcomeMessage` and `logoutButton`; refreshes the access token on a `401`.
pub const DASHBOARD_PAGE: &str = include_str!("../assets/dashboard.html");

/// The dashboard's script, served as `/dashboard.js`, after `assets/dpop.js` too: every
/// call carries a proof, and a `DPoP` token goes out with the `DPoP` scheme.
pub const DASHBOARD_SCRIPT: &str = concat!(
    include_str!("../assets/dpop.js"),
    include_str!("../assets/dashboard.js")
);

/// The paths reachable without a token: the pages, their scripts and the login route.
/// Everything else, `/api/…` and unknown paths included, needs one.
pub const PUBLIC_PATHS: &[&str] = &[
    "/",
    "/login",
    "/login.html",
    "/login.js",
    "/dashboard",
    "/dashboard.html",
    "/dashboard.js",
];

/// The header a cookie-mode request that sets or clears the refresh cookie must carry, the
/// login included (docs/protocol.md §5): a cross-site form cannot send it. The pages'
/// scripts send `X-Requested-With: XMLHttpRequest`.
pub const CSRF_HEADER: &str = "x-requested-with";

/// `Content-Security-Policy` of every response: scripts only from this origin's own files
/// (no inline script, so an injected `<script>` does not run), inline styles allowed (the
/// pages carry theirs), no plugins, no `<base>` rewriting, forms posted only here, and no
/// framing by anyone (`frame-ancestors 'none'`, against clickjacking).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self' 'unsafe-inline'; object-src 'none'; base-uri 'none'; \
    form-action 'self'; frame-ancestors 'none'";

/// `Content-Type` of the scripts.
pub const JAVASCRIPT: &str = "text/javascript; charset=utf-8";
