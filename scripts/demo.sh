#!/usr/bin/env bash
# Two phones on one computer: opens "Alex's phone" and "Sam's phone", two Steady windows
# with a journal each, in a temporary folder, so you can pair them through their own
# screens (the code typed, the words checked) and watch a shared entry cross.
#
# As root, each window runs in a network namespace of its own on a made-up Wi-Fi (a
# bridge), with mDNS on, as two phones would: they find each other by themselves. Without
# root (or with STEADY_DEMO_NETWORK=loopback), they talk over 127.0.0.1 with discovery off,
# and Sam's screen needs Alex's address, which this script prints.
#
# Everything it made (the journals, the namespaces) is removed when either window closes,
# or on Ctrl-C.
#
# For the end-to-end test: STEADY_BIN runs another build, and WDIO_PORT_ALEX and
# WDIO_PORT_SAM start each window's test-only WebDriver server on that port.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${STEADY_BIN:-}" ]; then
  scripts/setup.sh
  # Rust as setup.sh may just have installed it.
  export PATH="$HOME/.cargo/bin:$PATH"
  cargo build --locked
  STEADY_BIN="${CARGO_TARGET_DIR:-target}/debug/steady"
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/steady-demo.XXXXXX")"
prefix="sd$$"
pids=()

cleanup() {
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "$network" = lan ]; then
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^$prefix" || true); do
      ip netns del "$ns" 2>/dev/null || true
    done
  fi
  rm -rf "$work"
}

network="${STEADY_DEMO_NETWORK:-}"
if [ -z "$network" ]; then
  if [ "$(id -u)" = 0 ] && command -v ip >/dev/null; then network=lan; else network=loopback; fi
fi
trap cleanup EXIT INT TERM

# Both journals are set up without a passcode, so the demo starts at pairing. (A real
# first run asks for one.)
for who in Alex Sam; do
  "$STEADY_BIN" --data-dir "$work/$who" init --name "$who" --no-passcode >/dev/null 2>&1
done

# Opens one window: its journal, its title, its WebDriver port for the tests, and how it
# reaches the network.
open_window() {
  local who="$1" x="$2" port_var="WDIO_PORT_$(echo "$1" | tr '[:lower:]' '[:upper:]')"
  shift 2
  local env=()
  if [ -n "${!port_var:-}" ]; then
    env+=(DIOXUS_WEBVIEW_AUTOMATION=true "WDIO_EMBEDDED_PORT=${!port_var}")
  fi
  env "${env[@]}" "$@" --data-dir "$work/$who" --window-title "$who's phone" --window-position "$x,0" &
  pids+=($!)
}

if [ "$network" = lan ]; then
  bridge="${prefix}br"
  ip netns add "$bridge"
  ip -n "$bridge" link add br0 type bridge mcast_snooping 0
  ip -n "$bridge" link set br0 up
  i=0
  for who in Alex Sam; do
    i=$((i + 1))
    ns="$prefix$who"
    ip netns add "$ns"
    ip -n "$ns" link add eth0 type veth peer name "p$i" netns "$bridge"
    ip -n "$bridge" link set "p$i" master br0
    ip -n "$bridge" link set "p$i" up
    ip -n "$ns" addr add "10.48.0.$i/24" dev eth0
    ip -n "$ns" link set lo up
    ip -n "$ns" link set eth0 up
    ip -n "$ns" route add 224.0.0.0/4 dev eth0
    open_window "$who" $(((i - 1) * 400)) ip netns exec "$ns" "$STEADY_BIN"
  done
  echo "Two phones on a made-up Wi-Fi: on one, Us › Invite my partner; on the other, type the code."
else
  base=$((40000 + RANDOM % 20000))
  open_window Alex 0 "$STEADY_BIN" --no-discovery --listen "127.0.0.1:$base"
  open_window Sam 400 "$STEADY_BIN" --no-discovery --listen "127.0.0.1:$((base + 1))"
  echo "Two phones on this computer: on Alex's, Us › Invite my partner; on Sam's, type the code,"
  echo "and Alex's address: 127.0.0.1:$base"
fi
echo "The two journals are in $work."
echo "Close either window, or press Ctrl-C, to end the demo and remove what it made."

# Ends when either window closes; the trap closes the other and cleans up.
wait -n "${pids[@]}" || true
