#!/usr/bin/env bash
# Runs every test of Steady (installing what they need first if it is missing): the Rust
# tests, then the end-to-end test that drives the real window under Xvfb.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo test --locked
scripts/check-phone.sh
e2e/run.sh
