#!/usr/bin/env bash
# Times single list pages (index and cursor paging) at 10k and 1M users, three curl runs each
# (docs/benchmarks.md, "PostgreSQL and scale"). Needs /tmp/scale5/{first10k,rest}.csv from
# scripts/scale-bench.sh's gen-users.py step and a copy of the release binary at /tmp/scale5/roster.
# Usage: scripts/page-bench.sh sqlite|pg PORT
set -uo pipefail
backend=$1; port=$2
cp "$(dirname "$0")/make-cursor.py" /tmp/scale5/cursor.py
cd /tmp/scale5
B=/tmp/scale5/roster
if [ "$backend" = sqlite ]; then
  rm -f bench.db bench.db-wal bench.db-shm; DB=sqlite:///tmp/scale5/bench.db
else
  psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS roster_w5bench WITH (FORCE)" -c "CREATE DATABASE roster_w5bench"
  DB=postgres://postgres@127.0.0.1:5432/roster_w5bench
fi
$B org create bench --database "$DB" >/dev/null
TOKEN=$($B apikey create --org bench --role administrator --name bench --database "$DB")
t() { # label url: 3 runs, seconds each
  local out=""
  for _ in 1 2 3; do
    out="$out $(curl -s -o /tmp/scale5/last.json -w '%{http_code}:%{time_total}' -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$port/scim/v2$2")"
  done
  echo "$backend $label $1:$out $(python3 -c 'import json;d=json.load(open("/tmp/scale5/last.json"));print("total",d.get("totalResults"),"items",d.get("itemsPerPage"),"first",(d.get("Resources") or [{}])[0].get("userName"),"next" if "nextCursor" in d else "-")')"
}
measure() {
  label=$1; n=$2
  taskset -c 0 $B serve --listen 127.0.0.1:$port --database "$DB" > "serve-$backend-$label.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do curl -fs http://127.0.0.1:$port/healthz >/dev/null && break; sleep 0.2; done
  half=$((n / 2))
  t "first page index (startIndex=1&count=100)" "/Users?startIndex=1&count=100"
  t "deep page index (startIndex=$((half + 1))&count=100)" "/Users?startIndex=$((half + 1))&count=100"
  t "first page cursor (cursor=&count=100)" "/Users?cursor=&count=100"
  t "deep page cursor (after position $half, count=100)" "/Users?cursor=$(python3 cursor.py $half)&count=100"
  t "last page cursor (after position $((n - 50)), count=100)" "/Users?cursor=$(python3 cursor.py $((n - 50)))&count=100"
  t "filtered cursor page (userName sw \"user0\")" "/Users?cursor=&count=100&filter=userName%20sw%20%22user0%22"
  kill $pid; wait $pid 2>/dev/null
}
/usr/bin/time -f "$backend import 10k %e s" $B import --org bench first10k.csv --database "$DB" > "import-$backend-10k.txt" 2>&1; tail -n 2 "import-$backend-10k.txt"
measure 10k 10000
/usr/bin/time -f "$backend import rest %e s" $B import --org bench rest.csv --database "$DB" > "import-$backend-1m.txt" 2>&1; tail -n 2 "import-$backend-1m.txt"
[ "$backend" = sqlite ] || psql -h 127.0.0.1 -U postgres -d roster_w5bench -qc "VACUUM ANALYZE"
measure 1m 1000000
