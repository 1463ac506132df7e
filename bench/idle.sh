#!/usr/bin/env bash
# Idle cost of the daemon: resident memory and wake-ups per minute once it
# has caught up and waits for its next fire.
#
#   bench/idle.sh [SECONDS]      (default 60)
#
# Starts the fake API (fake-mna) and `mna-reportd run` with one hourly job,
# waits for the catch-up to finish, then samples /proc for SECONDS: VmRSS,
# VmHWM, and the context switches of all threads (every wake-up of any
# thread is one). Release builds.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}

cargo build --release --quiet --bin mna-reportd -p mna-reportd
cargo build --release --quiet --bin fake-mna -p fake-mna

work=$(mktemp -d)
cleanup() {
  [ -n "${daemon:-}" ] && kill "$daemon" 2>/dev/null || true
  [ -n "${fake:-}" ] && kill "$fake" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

target/release/fake-mna --listen 127.0.0.1:0 >"$work/fake.out" 2>"$work/fake.err" &
fake=$!
for _ in $(seq 100); do grep -q listening "$work/fake.out" 2>/dev/null && break; sleep 0.05; done
endpoint=$(sed -n 's/^listening //p' "$work/fake.out")

cat >"$work/config.toml" <<EOF
[api]
endpoint = "$endpoint"
[storage]
state_dir = "$work/state"
[metrics]
listen = "127.0.0.1:0"
[[jobs]]
name = "hourly"
granularity = "hourly"
lag = "5m"
catch_up = "6h"
EOF

TENCENTCLOUD_SECRET_ID=AKIDfake TENCENTCLOUD_SECRET_KEY=fake-secret-key-0123456789 \
  target/release/mna-reportd --config "$work/config.toml" run 2>"$work/daemon.log" &
daemon=$!

# caught up when the history holds the due reports and nothing is running
for _ in $(seq 200); do
  grep -q "fire done" "$work/daemon.log" 2>/dev/null && break
  sleep 0.1
done
# tokio's blocking-pool threads linger 10 s after their last task, idle HTTP
# connections 10 s: let them go
sleep 30

switches() {
  local total=0 v n
  for f in /proc/"$daemon"/task/*/status; do
    v=$(awk '/^voluntary_ctxt_switches/ {print $2}' "$f" 2>/dev/null || echo 0)
    n=$(awk '/^nonvoluntary_ctxt_switches/ {print $2}' "$f" 2>/dev/null || echo 0)
    total=$((total + ${v:-0} + ${n:-0}))
  done
  echo "$total"
}
threads() { ls /proc/"$daemon"/task | wc -l; }

t0=$(threads)
s0=$(switches)
sleep "$secs"
s1=$(switches)
t1=$(threads)
[ "$t0" = "$t1" ] || echo "note: thread count changed during the sample ($t0 -> $t1); the figure is approximate"
rss=$(awk '/^VmRSS/ {print $2}' /proc/"$daemon"/status)
hwm=$(awk '/^VmHWM/ {print $2}' /proc/"$daemon"/status)
wakeups=$(( (s1 - s0) * 60 / secs ))

echo "idle daemon after catch-up, sampled over ${secs}s (metrics listener on):"
echo "  VmRSS ${rss} KiB ($((rss / 1024)) MiB), peak VmHWM ${hwm} KiB"
echo "  threads $(threads), context switches (all threads) ${wakeups} per minute"
