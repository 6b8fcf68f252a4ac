#!/usr/bin/env bash
# Runs every test of Steady (installing what they need first if it is missing).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo test --locked
