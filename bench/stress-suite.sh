#!/usr/bin/env bash
# The whole test suite N times in a row on a machine kept busy: a test that
# depends on timing fails here first.
#
#   bench/stress-suite.sh [N]      (default 5)
#
# Builds the tests once, starts `stress-ng --cpu 2` (two workers spinning on
# the CPU, as many as this machine's cores; STRESS_CPU=n for another count),
# then runs the README's test command, `cargo test --workspace --locked`, N
# times. It stops at the first failure and prints which tests failed and the
# end of that run's output; each run's whole output is in
# target/stress-suite/run-<i>.log. stress-ng is stopped however the script
# ends. Needs stress-ng (Debian: apt-get install -y stress-ng).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
workers=${STRESS_CPU:-2}

command -v stress-ng >/dev/null 2>&1 || {
  echo "stress-suite: needs stress-ng (apt-get install -y stress-ng)" >&2
  exit 2
}

# Build once, before the load: the runs then only run.
cargo test --workspace --locked --no-run --quiet

logs=target/stress-suite
rm -rf "$logs"
mkdir -p "$logs"

stress=
stop_stress() {
  if [ -n "$stress" ]; then
    kill -TERM "$stress" 2>/dev/null || true
    wait "$stress" 2>/dev/null || true
    stress=
  fi
}
trap stop_stress EXIT
trap 'exit 130' INT TERM

stress-ng --cpu "$workers" --timeout 0 --quiet &
stress=$!
echo "stress-suite: stress-ng --cpu $workers running (pid $stress); $runs runs of cargo test --workspace --locked"

for i in $(seq 1 "$runs"); do
  log="$logs/run-$i.log"
  start=$(date +%s)
  if cargo test --workspace --locked >"$log" 2>&1; then
    echo "run $i/$runs: passed in $(($(date +%s) - start)) s"
  else
    echo "run $i/$runs: FAILED after $(($(date +%s) - start)) s; the failing tests:"
    grep -E '^test .* \.\.\. FAILED$' "$log" | sed -E 's/^test (.*) \.\.\. FAILED$/  \1/' || true
    grep -E '^error: test failed' "$log" || true
    echo "--- the end of its output ($log) ---"
    tail -n 60 "$log"
    exit 1
  fi
done
echo "stress-suite: $runs of $runs runs passed under stress-ng --cpu $workers"
