#!/usr/bin/env bash
# Type-checks the phone app for Android (`cargo check --target aarch64-linux-android` with
# the `mobile` feature, as `dx bundle --platform android` builds it), installing what that
# needs first if it is missing: clang, llvm-ar and Debian's arm64 C headers for the bundled
# SQLite (see .cargo/config.toml), and Rust's aarch64-linux-android standard library.
# It links nothing: building the app itself needs the Android NDK and SDK (README.md,
# "Build for phones").
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(clang llvm libc6-dev-arm64-cross)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "Installing: ${missing[*]}"
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "Please install as root: apt-get install ${missing[*]}" >&2; exit 1; }
    sudo="sudo"
  fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if ! rustup target list --installed | grep -qx aarch64-linux-android; then
  rustup target add aarch64-linux-android
fi

echo "Type-checking the Android app (aarch64-linux-android, feature mobile)"
cargo check --locked --target aarch64-linux-android --no-default-features --features mobile "$@"
