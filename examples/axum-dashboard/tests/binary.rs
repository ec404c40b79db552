//! The built `axum-dashboard` binary: the `listening on` line, a clean exit on SIGTERM and
//! SIGINT, and a clear refusal of bad settings.
#![allow(clippy::unwrap_used, clippy::expect_used)]

const BIN: &str = env!("CARGO_BIN_EXE_axum-dashboard");
const CEILING_BIN: &str = env!("CARGO_BIN_EXE_axum-dashboard-ceiling");

include!("../../binary_tests.rs");
