#!/usr/bin/env bash
# End-to-end benchmark of issue 6 (docs/benchmarks.md, "Latest figures"):
# an initial entra-sim cycle of a generated tenant against a fresh
# `roster serve` on SQLite (strict username policy, pinned to CPU 0; the
# simulator on CPU 1), then the identical second cycle with --verify, which
# must send zero writes. Stop it with Ctrl-C (the server is stopped too).
# ROSTER_BIN picks the binary (default target/release/roster).
# Usage: scripts/bench-e2e.sh USERS GROUPS PORT [WORKDIR]   (after cargo build --release -p roster)
set -euo pipefail
users=$1; groups=$2; port=$3; work=${4:-/tmp/bench-e2e-$users}
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
B="${ROSTER_BIN:-$ROOT/target/release/roster}"
rm -rf "$work"; mkdir -p "$work"; cd "$work"
DB="sqlite://$work/roster.db"
"$B" entra-sim generate --users "$users" --groups "$groups" --seed 1 --out tenant
"$B" org create entra --database "$DB"                       # default policy: strict
TOKEN=$("$B" apikey create --org entra --role administrator --name sim --database "$DB")
taskset -c 0 "$B" serve --listen 127.0.0.1:"$port" --database "$DB" > serve.log 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT INT TERM
for _ in $(seq 1 100); do curl -fs http://127.0.0.1:"$port"/healthz >/dev/null && break; sleep 0.2; done
BASE=http://127.0.0.1:$port/scim/v2
rc=0
taskset -c 1 "$B" entra-sim cycle "$BASE" --token "$TOKEN" --tenant tenant --concurrency 16 --report c1.jsonl \
  2>&1 | tee c1.txt || rc=1
taskset -c 1 "$B" entra-sim cycle "$BASE" --token "$TOKEN" --tenant tenant --concurrency 16 --report c2.jsonl --verify \
  2>&1 | tee c2.txt || rc=1
kill $pid; wait $pid 2>/dev/null || true
exit $rc
