//! The built `axum-dashboard` binary: the `listening on` line, a clean exit on SIGTERM and
//! SIGINT, a clear refusal of bad settings, and the rest of
//! `examples_test_support::dashboard`.

examples_test_support::dashboard_binary_tests!(env!("CARGO_BIN_EXE_axum-dashboard"));
