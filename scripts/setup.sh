#!/usr/bin/env bash
# Installs what building and testing Steady needs on Debian or Ubuntu, and nothing that
# is already there. Safe to run again. Used by scripts/run.sh, scripts/test.sh and CI.
set -euo pipefail

# WebKitGTK and friends for the desktop window; Xvfb, xauth and ImageMagick to run and
# photograph that window in tests without a screen.
packages=(pkg-config libwebkit2gtk-4.1-dev libxdo-dev libssl-dev xvfb xauth imagemagick)

# xdotool presses real keys in the window for the accessibility test's keyboard-only task
# and the typing test; x11-xserver-utils's xmodmap and x11-xkb-utils's setxkbmap give the
# typing test's characters keys of their own, and a layout with dead keys.
packages+=(xdotool x11-xserver-utils x11-xkb-utils)

# clang, llvm-ar and Debian's arm64 C headers compile the bundled SQLite when
# scripts/check-phone.sh type-checks the Android app (see .cargo/config.toml).
packages+=(clang llvm libc6-dev-arm64-cross)

# What a screen reader hears: AT-SPI's bus and registry, a D-Bus session to run them in,
# and Debian's pyatspi for /usr/bin/python3 (e2e/atspi_tree.py reads the window's tree).
packages+=(at-spi2-core dbus python3-pyatspi)

# iproute2's `ip` makes the network namespaces in which tests/lan.rs and benches/sync.rs
# play phones on one Wi-Fi (as root).
packages+=(iproute2)

# procps's `pkill` and `ps`: the demo's end-to-end test closes one of its two windows and
# checks the other went with it. A minimal Debian image has neither.
packages+=(procps)

# gdb's `gcore` dumps a running courier's whole memory, to show it holds nothing of a
# locked journal (tests/suite/letters.rs).
packages+=(gdb)

# Rust's own toolchain comes from rustup (below), which needs curl to fetch it and a C
# compiler and linker (gcc) to link with.
command -v cargo >/dev/null || [ -x "$HOME/.cargo/bin/cargo" ] || packages+=(curl ca-certificates build-essential)

# Node.js runs the end-to-end test's WebdriverIO client.
command -v node >/dev/null || packages+=(nodejs npm)

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

# Rust through rustup, when this machine has none: rustup-init from the Rust project's
# own distribution server, into ~/.cargo (scripts that call this one add ~/.cargo/bin to
# their PATH). The release the tests and lints are checked with, so that a newer
# clippy's new lints can't fail a fresh machine.
RUST_RELEASE=1.95.0
export PATH="$HOME/.cargo/bin:$PATH"
if ! command -v cargo >/dev/null; then
  echo "Installing Rust ($RUST_RELEASE) with rustup"
  # It must be run under its own name: rustup reads what to be from it.
  fetched="$(mktemp -d)"
  curl --proto '=https' --tlsv1.2 -sSf -o "$fetched/rustup-init" \
    "https://static.rust-lang.org/rustup/dist/$(uname -m)-unknown-linux-gnu/rustup-init"
  chmod +x "$fetched/rustup-init"
  "$fetched/rustup-init" -y --no-modify-path --profile minimal --default-toolchain "$RUST_RELEASE"
  rm -rf "$fetched"
fi

# The tests check formatting and lints first: rustfmt and clippy, from rustup.
if command -v rustup >/dev/null; then
  for component in rustfmt clippy; do
    rustup component list --installed 2>/dev/null | grep -q "^$component" || rustup component add "$component"
  done
fi
