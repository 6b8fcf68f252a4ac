#!/usr/bin/env bash
# Type-checks src/platform/ios.rs, the app's calls into iOS (UIKit's background time,
# BackgroundTasks, Foundation), for aarch64-apple-ios. The whole app cannot be checked for
# iOS on this machine: its C code (the bundled SQLite, ring) needs Apple's SDK headers
# (README.md, "What was checked on this machine"). So this checks that one file on its
# own, in a crate made here with the very iOS dependencies Cargo.toml names and the
# versions Cargo.lock holds, with clippy, warnings as errors.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! rustup target list --installed | grep -qx aarch64-apple-ios; then
  rustup target add aarch64-apple-ios
fi

crate=target/ios-check
mkdir -p "$crate/src"
{
  printf '[package]\nname = "steady-ios-check"\nversion = "0.0.0"\nedition = "2024"\npublish = false\n\n'
  printf '[workspace]\n\n[dependencies]\ntracing = "0.1"\n'
  # Cargo.toml's iOS dependencies, as they are.
  sed -n "/^\[target.'cfg(target_os = \"ios\")'.dependencies\]/,/^\[/p" Cargo.toml | sed '1d;/^\[/d'
} > "$crate/Cargo.toml"
cp Cargo.lock "$crate/Cargo.lock"
cat > "$crate/src/lib.rs" <<RUST
//! src/platform/ios.rs on its own, every item used.
#[path = "$PWD/src/platform/ios.rs"]
mod ios;

pub fn every_item() {
    fn carry(_: std::time::Duration, _: &std::sync::atomic::AtomicBool) {}
    let _ = ios::register_background_tasks(carry);
    let _ = ios::schedule_background_tasks();
    ios::carry_while_leaving(carry);
    let _ = ios::exclude_from_backup(std::path::Path::new("/"));
    let _ = (ios::FETCH_LETTERS, ios::CARRY_LETTERS);
}
RUST

echo "Type-checking src/platform/ios.rs for aarch64-apple-ios"
cargo clippy --manifest-path "$crate/Cargo.toml" --target aarch64-apple-ios -- -D warnings
