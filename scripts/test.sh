#!/usr/bin/env bash
# Runs every test of Steady (installing what they need first if it is missing): the Rust
# tests, then the end-to-end test that drives the real window under Xvfb.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# Rust as setup.sh may just have installed it.
export PATH="$HOME/.cargo/bin:$PATH"
# The code is formatted, and lint-free in every target, before anything is tested.
cargo fmt --check
cargo clippy --locked --all-targets --features e2e -- -D warnings
# With the `e2e` feature, so that e2e/run.sh finds the app already built with the same
# dependencies and features. The feature only compiles in the test-only WebDriver server,
# which starts when a test asks for it.
cargo test --locked --features e2e
# The fuzz targets build on stable (running them needs nightly and cargo-fuzz: README.md).
CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}/fuzz" cargo build --locked --manifest-path fuzz/Cargo.toml
scripts/check-phone.sh
e2e/run.sh
