#!/usr/bin/env bash
# The scim-bench targets of issue 6 (docs/benchmarks.md, "scim-bench targets"),
# in one run: Roster (SQLite, rfc-policy organisation, pinned to CPU 0) against
# ../shared/bench/ceiling-server for lookups and gets, alternating ROUNDS
# times, then scim-bench-compare against the in-memory scim2-server peer.
# Usage: scripts/bench-targets.sh ROUNDS [WORKDIR]   (after cargo build --release -p roster)
set -euo pipefail
rounds=${1:-2}; work=${2:-/tmp/bench-targets}
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
B="${ROSTER_BIN:-$ROOT/target/release/roster}"
SHARED="$ROOT/../shared"
rm -rf "$work"; mkdir -p "$work"; cd "$work"
DB="sqlite://$work/roster.db"
"$B" org create bench --username-policy rfc --database "$DB" >/dev/null
TOKEN=$("$B" apikey create --org bench --role administrator --name bench --database "$DB")
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT INT TERM
wait_up() { for _ in $(seq 1 200); do curl -fs "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done; return 1; }

taskset -c 0 "$B" serve --listen 127.0.0.1:18630 --database "$DB" > serve.log 2>&1 & pids+=($!)
"$SHARED/bench/ceiling-server" 18622 > ceiling.log 2>&1 & pids+=($!)
wait_up http://127.0.0.1:18630/healthz
sleep 1
"$SHARED/bench/scim-bench" http://127.0.0.1:18630/scim/v2 "$TOKEN" --seed-only --data radata
mkdir -p ceildata; cp radata/names.txt radata/ids.txt ceildata/
for r in $(seq 1 "$rounds"); do
  echo "== round $r: ceiling"
  "$SHARED/bench/scim-bench" http://127.0.0.1:18622/v2 "" --only lookup,get --data ceildata --duration 10 | grep '^bench'
  echo "== round $r: roster"
  "$SHARED/bench/scim-bench" http://127.0.0.1:18630/scim/v2 "$TOKEN" --only lookup,get --data radata --keep --duration 10 | grep '^bench'
done
kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; pids=()

echo "== scim-bench-compare: roster vs scim2-server"
rm -f roster.db*
"$B" org create bench --username-policy rfc --database "$DB" >/dev/null
TOKEN=$("$B" apikey create --org bench --role administrator --name bench --database "$DB")
taskset -c 0 "$B" serve --listen 127.0.0.1:18631 --database "$DB" > serve2.log 2>&1 & pids+=($!)
taskset -c 0 bash "$SHARED/conformance/peer-scim2-server.sh" 18632 ptok > peer.log 2>&1 & pids+=($!)
wait_up http://127.0.0.1:18631/healthz
for _ in $(seq 1 600); do curl -fs -H "Authorization: Bearer ptok" http://127.0.0.1:18632/v2/ServiceProviderConfig >/dev/null 2>&1 && break; sleep 0.2; done
"$SHARED/bench/scim-bench-compare" http://127.0.0.1:18631/scim/v2 "$TOKEN" http://127.0.0.1:18632/v2 ptok \
  --names roster,scim2-server --rounds 3 --duration 5
