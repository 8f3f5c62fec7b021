#!/usr/bin/env bash
# Creates and patches in one organisation on PostgreSQL, with the commits and
# rollbacks PostgreSQL counted meanwhile (docs/benchmarks.md, "Schema version 4").
# Usage: scripts/pg-write-bench.sh PORT   (after cargo build --release)
set -euo pipefail
port=$1
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
B="${ROSTER_BIN:-$ROOT/target/release/roster}"
BENCH="${SCIM_BENCH:-$ROOT/../shared/bench/scim-bench}"
psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS roster_pgb WITH (FORCE)" -c "CREATE DATABASE roster_pgb"
DB=postgres://postgres@127.0.0.1:5432/roster_pgb
$B org create bench --username-policy rfc --database $DB >/dev/null
TOKEN=$($B apikey create --org bench --role administrator --name bench --database $DB)
taskset -c 0 $B serve --listen 127.0.0.1:$port --database $DB > /tmp/pg-write-bench-serve.log 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do curl -fs http://127.0.0.1:$port/healthz >/dev/null && break; sleep 0.2; done
stats() { psql -h 127.0.0.1 -U postgres -Atc "select xact_commit, xact_rollback from pg_stat_database where datname='roster_pgb'"; }
echo "commits|rollbacks before: $(stats)"
$BENCH http://127.0.0.1:$port/scim/v2 "$TOKEN" --only create,patch --duration 10 --users 500
sleep 1
echo "commits|rollbacks after: $(stats)"
