#!/usr/bin/env bash
# Seeds 10k then 1M users with roster import and measures lookup and list
# pages with scim-bench (docs/benchmarks.md, "PostgreSQL and scale"):
#   lookup       userName lookups spread over the whole directory;
#   list (walk)  startIndex pages over the whole directory (deep pages at 1M);
#   list (first) scim-bench's own seeding (2 000 users): the first 20 pages.
# The organisation has the rfc policy: scim-bench's seed bodies repeat
# employeeNumber values, which the default rules keep unique.
# Usage: scripts/scale-bench.sh sqlite|pg PORT   (after cargo build --release)
set -euo pipefail
backend=$1; port=$2
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
B="${ROSTER_BIN:-$ROOT/target/release/roster}"
BENCH="${SCIM_BENCH:-$ROOT/../shared/bench/scim-bench}"
mkdir -p /tmp/scale && cd /tmp/scale
[ -s users-1m.csv ] || python3 "$ROOT/scripts/gen-users.py" 1000000 users-1m.csv
[ -s first10k.csv ] || head -n 10001 users-1m.csv > first10k.csv
[ -s rest.csv ] || { head -n1 users-1m.csv; tail -n +10002 users-1m.csv; } > rest.csv
if [ "$backend" = sqlite ]; then
  rm -f bench.db bench.db-wal bench.db-shm; DB=sqlite:///tmp/scale/bench.db
  dump() { sqlite3 /tmp/scale/bench.db "select $1 from users order by seq"; }
else
  psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS roster_bench" -c "CREATE DATABASE roster_bench"
  DB=postgres://postgres@127.0.0.1:5432/roster_bench
  dump() { psql -h 127.0.0.1 -U postgres -d roster_bench -Atc "select $1 from users order by seq"; }
fi
$B org create bench --username-policy rfc --database "$DB"
TOKEN=$($B apikey create --org bench --role administrator --name bench --database "$DB")
run_bench() {
  local label=$1
  rm -rf "data-$backend-$label"; mkdir -p "data-$backend-$label"
  dump id > "data-$backend-$label/ids.txt"; dump user_name > "data-$backend-$label/names.txt"
  taskset -c 0 $B serve --listen 127.0.0.1:$port --database "$DB" > "serve-$backend-$label.log" 2>&1 &
  local pid=$!
  for _ in $(seq 1 100); do curl -fs http://127.0.0.1:$port/healthz >/dev/null && break; sleep 0.2; done
  $BENCH http://127.0.0.1:$port/scim/v2 "$TOKEN" --only lookup,list --data "data-$backend-$label" --duration 10 --cpu 1 \
    | tee "bench-$backend-$label.txt" || true
  $BENCH http://127.0.0.1:$port/scim/v2 "$TOKEN" --only list --users 2000 --duration 10 --cpu 1 \
    | tee "bench-$backend-$label-first.txt" || true
  kill $pid; wait $pid || true
}
# After an import, as autovacuum would: statistics and the visibility map
# (index-only scans behind deep startIndex pages).
settle() { [ "$backend" = sqlite ] || psql -h 127.0.0.1 -U postgres -d roster_bench -qc "VACUUM ANALYZE"; }
$B import --org bench first10k.csv --database "$DB" | tee "import-$backend-10k.txt"
settle
run_bench 10k
$B import --org bench rest.csv --database "$DB" | tee "import-$backend-1m.txt"
settle
run_bench 1m
