#!/usr/bin/env bash
# Type-checks the phone app for Android (`cargo check --target aarch64-linux-android` with
# the `mobile` feature, as `dx bundle --platform android` builds it), installing what that
# needs first if it is missing: clang, llvm-ar and Debian's arm64 C headers for the bundled
# SQLite (see .cargo/config.toml), and Rust's aarch64-linux-android standard library.
# It links nothing: building the app itself needs the Android NDK and SDK (README.md,
# "Build for phones"). Then scripts/check-ios.sh type-checks the app's calls into iOS.
set -euo pipefail
cd "$(dirname "$0")/.."

# clang, llvm-ar and the arm64 headers are on setup.sh's list.
scripts/setup.sh
# Rust as setup.sh may just have installed it.
export PATH="$HOME/.cargo/bin:$PATH"

if ! rustup target list --installed | grep -qx aarch64-linux-android; then
  rustup target add aarch64-linux-android
fi

echo "Type-checking the Android app (aarch64-linux-android, feature mobile)"
cargo check --locked --target aarch64-linux-android --no-default-features --features mobile "$@"
scripts/check-ios.sh
