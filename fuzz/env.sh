# Sourced by run.sh and replay.sh: the targets, the target dir, and how to call cargo-fuzz.
#
# libFuzzer needs nightly compiler flags: nightly when rustup has it, else the stable
# toolchain with RUSTC_BOOTSTRAP=1. The fuzz builds keep their own target dir (their flags
# differ from the workspace's), FUZZ_TARGET_DIR if set.

all_targets=(authorization_header access_token access_token_fast_path refresh_token refresh_sequence refresh_body logout_body dpop_proof)

export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$HOME/.cache/tower-refresh-auth/target-fuzz}"
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  fuzz=(cargo +nightly fuzz)
else
  export RUSTC_BOOTSTRAP=1
  fuzz=(cargo fuzz)
fi
