#!/usr/bin/env bash
# Opens Steady's app window (installing WebKitGTK first if it is missing).
# Any arguments go to the app, for example: scripts/run.sh --data-dir /tmp/steady-demo
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# Rust as setup.sh may just have installed it.
export PATH="$HOME/.cargo/bin:$PATH"
exec cargo run -- "$@"
