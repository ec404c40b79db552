//! The built `poem-dashboard` binary: the `listening on` line, a clean exit on SIGTERM and
//! SIGINT, and a clear refusal of bad settings.
#![allow(clippy::unwrap_used, clippy::expect_used)]

const BIN: &str = env!("CARGO_BIN_EXE_poem-dashboard");
const CEILING_BIN: &str = env!("CARGO_BIN_EXE_poem-dashboard-ceiling");

include!("../../binary_tests.rs");
