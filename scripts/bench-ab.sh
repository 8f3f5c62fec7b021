#!/usr/bin/env bash
# A/B of two roster binaries under scim-bench, in one run (docs/benchmarks.md,
# "Writes on one thread, UUIDv7 ids"): each binary serves its own fresh SQLite
# database (rfc-policy organisation), both servers pinned to CPU 0, and
# scim-bench alternates between them ROUNDS times, so both see the same
# neighbours on this shared machine. Prints one line per round and binary.
# Usage: scripts/bench-ab.sh BIN_A BIN_B [ROUNDS] [SCENARIOS] [SECONDS] [WORKDIR]
#   e.g. scripts/bench-ab.sh /tmp/roster-before target/release/roster 3 create,patch 4
set -uo pipefail
A=$(realpath "$1"); B=$(realpath "$2"); rounds=${3:-3}; scenarios=${4:-create,patch}; secs=${5:-4}; work=${6:-/tmp/bench-ab}
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SB="$ROOT/../shared/bench/scim-bench"
rm -rf "$work"; mkdir -p "$work"; cd "$work"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT INT TERM
declare -A token port
i=0
for name in A B; do
  bin=${!name}; db="sqlite://$work/$name.db"; port[$name]=$((18700 + i)); i=$((i + 1))
  "$bin" org create bench --username-policy rfc --database "$db" >/dev/null
  token[$name]=$("$bin" apikey create --org bench --role administrator --name bench --database "$db")
  taskset -c 0 "$bin" serve --listen 127.0.0.1:${port[$name]} --database "$db" > "$name.log" 2>&1 & pids+=($!)
done
for name in A B; do
  for _ in $(seq 1 100); do curl -fs http://127.0.0.1:${port[$name]}/healthz >/dev/null && break; sleep 0.1; done
  "$SB" http://127.0.0.1:${port[$name]}/scim/v2 "${token[$name]}" --seed-only --data "data$name" --users 2000 >/dev/null 2>&1
done
for r in $(seq 1 "$rounds"); do
  for name in A B; do
    echo -n "round $r $name: "
    "$SB" http://127.0.0.1:${port[$name]}/scim/v2 "${token[$name]}" --only "$scenarios" --data "data$name" --keep \
      --duration "$secs" 2>&1 | grep -o "bench [a-z]* rps=[0-9.]* p50_ms=[0-9.]* p99_ms=[0-9.]*" | sort -u | tr '\n' ' '
    echo
  done
done
