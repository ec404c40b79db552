//! The tests of a built dashboard binary (`axum-dashboard`, `poem-dashboard`): the
//! `listening on` line, a clean exit on SIGTERM and SIGINT, a clear refusal of bad settings,
//! the login's throttle and bounds, the pages' headers, metrics, sessions, key files, the API
//! document. Each is a function of the binary's path; [`dashboard_binary_tests!`](crate::dashboard_binary_tests) makes them
//! the `#[test]`s of the calling package.

mod keys;
mod login;
mod served;
mod sessions;

pub use self::keys::{
    a_key_file_alone_starts_with_a_warning_about_the_refresh_secret,
    a_key_file_signs_tokens_that_verify_with_the_published_key_alone,
    bad_key_files_stop_it_at_start_naming_the_variable_and_the_file,
    without_a_key_file_there_is_no_jwks_route,
};
pub use self::login::{
    a_cross_site_login_is_refused_in_cookie_mode, a_login_burst_is_bounded_by_the_checker_queue,
    malformed_logins_are_refused_with_their_status,
    repeated_failures_for_one_username_are_throttled, request_paths_are_logged_escaped,
    usernames_are_logged_escaped,
};
pub use self::served::{
    metrics_are_served_on_metrics_addr_only, pages_are_served_with_a_content_security_policy,
    the_openapi_document_lists_every_route,
};
pub use self::sessions::{
    a_sensitive_action_asks_for_the_password_again_once_the_login_is_old,
    sessions_are_listed_and_ended_from_another_device,
    with_check_sessions_feed_an_ended_session_is_refused_at_once,
};

#[cfg(unix)]
use crate::signal;
use crate::{command, get_root, start_plain, wait};

/// The dashboard binary tests as `#[test]`s of the calling package: the binary is
/// `$bin` (`env!("CARGO_BIN_EXE_…")`); the test of a Redis URL expects the store built in when
/// the caller's `redis` feature is on, and the API document's test runs with its `openapi`
/// feature.
#[macro_export]
macro_rules! dashboard_binary_tests {
    ($bin:expr) => {
        $crate::dashboard_binary_tests!(@tests $bin;
            a_login_burst_is_bounded_by_the_checker_queue,
            repeated_failures_for_one_username_are_throttled,
            usernames_are_logged_escaped,
            request_paths_are_logged_escaped,
            a_cross_site_login_is_refused_in_cookie_mode,
            pages_are_served_with_a_content_security_policy,
            malformed_logins_are_refused_with_their_status,
            metrics_are_served_on_metrics_addr_only,
            sessions_are_listed_and_ended_from_another_device,
            with_check_sessions_feed_an_ended_session_is_refused_at_once,
            a_sensitive_action_asks_for_the_password_again_once_the_login_is_old,
            bad_key_files_stop_it_at_start_naming_the_variable_and_the_file,
            a_key_file_alone_starts_with_a_warning_about_the_refresh_secret,
            a_key_file_signs_tokens_that_verify_with_the_published_key_alone,
            without_a_key_file_there_is_no_jwks_route,
        );
        $crate::dashboard_binary_tests!(@introspection $bin;
            introspection_answers_every_state,
            an_expired_token_is_inactive,
            without_introspection_client_there_is_no_route,
        );

        #[cfg(unix)]
        #[test]
        fn serves_and_stops_cleanly_on_sigterm_and_sigint() {
            $crate::dashboard::serves_and_stops_cleanly_on_sigterm_and_sigint($bin);
        }

        #[test]
        fn bad_settings_stop_it_at_start_with_a_clear_message() {
            $crate::dashboard::bad_settings_stop_it_at_start_with_a_clear_message(
                $bin,
                cfg!(feature = "redis"),
            );
        }

        #[cfg(feature = "openapi")]
        #[test]
        fn the_openapi_document_lists_every_route() {
            $crate::dashboard::the_openapi_document_lists_every_route($bin);
        }
    };
    (@introspection $bin:expr; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                $crate::introspection::$name($bin);
            }
        )*
    };
    (@tests $bin:expr; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                $crate::dashboard::$name($bin);
            }
        )*
    };
}

/// The `listening on` line, `GET /` answered, and a clean exit on SIGTERM and on SIGINT.
#[cfg(unix)]
pub fn serves_and_stops_cleanly_on_sigterm_and_sigint(bin: &str) {
    for name in ["TERM", "INT"] {
        let (mut child, addr) = start_plain(bin);
        let response = get_root(&addr);
        assert!(response.starts_with("HTTP/1.1 303"), "{response}");
        assert!(
            response
                .to_ascii_lowercase()
                .contains("location: /login.html")
        );
        signal(&child, name);
        let status = wait(bin, &mut child);
        assert!(status.success(), "SIG{name}: {status}");
    }
}

/// Bad settings stop the server at start, with a message naming the setting on stderr,
/// nothing on stdout and no panic. `redis_built_in`: the caller was built with the Redis store.
pub fn bad_settings_stop_it_at_start_with_a_clear_message(bin: &str, redis_built_in: bool) {
    // A Redis URL: unreachable when the store is built in, else a pointer to the feature.
    let redis = if redis_built_in {
        "session store is unreachable"
    } else {
        "--features redis"
    };
    let cases: &[(&[(&str, &str)], &str)] = &[
        // The library's refusals, its message after the variable.
        (
            &[("JWT_SECRET", "short")],
            "JWT_SECRET: the HS256 secret is 5 bytes",
        ),
        (&[("ACCESS_TOKEN_TTL", "soon")], "ACCESS_TOKEN_TTL=\"soon\""),
        (&[("REFRESH_TOKEN_TTL", "1s")], "reuse grace window"),
        // Once started, then every login panicked on an overflowing instant.
        (
            &[("REFRESH_TOKEN_TTL", "300000000000y")],
            "REFRESH_TOKEN_TTL: ",
        ),
        (&[("SESSION_LIFETIME", "20y")], "SESSION_LIFETIME: "),
        (
            &[("MAX_SESSIONS_PER_USER", "0")],
            "MAX_SESSIONS_PER_USER: `max_sessions_per_subject(0)` is out of bounds",
        ),
        (
            &[("MAX_SESSIONS_PER_USER", "many")],
            "MAX_SESSIONS_PER_USER=\"many\"",
        ),
        (&[("SESSION_LIFETIME", "1h")], "session lifetime"),
        (&[("CHECK_SESSIONS", "maybe")], "CHECK_SESSIONS=\"maybe\""),
        (
            &[("VERIFIED_TOKEN_CACHE", "lots")],
            "VERIFIED_TOKEN_CACHE=\"lots\"",
        ),
        (&[("REFRESH_TRANSPORT", "pigeon")], "REFRESH_TRANSPORT"),
        (&[("STORE_URL", "redis://127.0.0.1:9")], redis),
        (&[("STORE_URL", "mysql://db/app")], "is not a store URL"),
        (&[("PORT", "http")], "PORT=\"http\""),
        (
            &[("METRICS_ADDR", "everywhere")],
            "METRICS_ADDR=\"everywhere\"",
        ),
        (
            &[("REFRESH_TOKEN_SECRET", "short")],
            "REFRESH_TOKEN_SECRET: the refresh-token secret is 5 bytes",
        ),
    ];
    for (vars, expected) in cases {
        let output = command(bin, vars).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{vars:?} was accepted");
        assert!(stderr.contains(expected), "{vars:?}: {stderr}");
        assert!(output.stdout.is_empty(), "{vars:?} printed to stdout");
        assert!(!stderr.contains("panicked"), "{vars:?}: {stderr}");
    }
}
