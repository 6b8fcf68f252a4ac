#!/usr/bin/env bash
# The end-to-end test: builds Steady with its test-only WebDriver server, then drives the
# real window under Xvfb with WebdriverIO. Screenshots land in target/screenshots/.
set -euo pipefail
cd "$(dirname "$0")/.."
# The app as the tests build it (scripts/test.sh runs the same command first, so this
# finds it already built).
cargo test --locked --features e2e --no-run
if [ ! -d e2e/node_modules/webdriverio ] || [ ! -f e2e/node_modules/axe-core/axe.min.js ]; then
  npm ci --prefix e2e --no-audit --no-fund
fi
xvfb-run -a -s "-screen 0 390x844x24" node e2e/scenario.mjs "${CARGO_TARGET_DIR:-target}/debug/steady"
# Every keystroke lands: every kind of field, typed into with real keys at 5 and 10 ms a
# key, holds exactly what was typed and saves it exactly.
xvfb-run -a -s "-screen 0 390x844x24" node e2e/typing.mjs "${CARGO_TARGET_DIR:-target}/debug/steady"
# Accessibility: axe-core on every screen and state in both themes, contrast of edges,
# 44 px targets, 200% text, and one task by keyboard alone (xdotool's real key presses).
xvfb-run -a -s "-screen 0 390x844x24" node e2e/access.mjs "${CARGO_TARGET_DIR:-target}/debug/steady"
# What a screen reader hears, read through AT-SPI in a D-Bus session of its own.
xvfb-run -a -s "-screen 0 390x844x24" dbus-run-session -- node e2e/screen-reader.mjs "${CARGO_TARGET_DIR:-target}/debug/steady"
# Two phones side by side, as scripts/demo.sh opens them.
xvfb-run -a -s "-screen 0 790x844x24" node e2e/demo.mjs "${CARGO_TARGET_DIR:-target}/debug/steady"
# A move to a new phone between two windows, through their screens.
xvfb-run -a -s "-screen 0 790x844x24" node e2e/move.mjs "${CARGO_TARGET_DIR:-target}/debug/steady"
