#!/usr/bin/env bash
# entra-sim against Roster and the two peers of ../shared/conformance, side by
# side in one run (docs/benchmarks.md, "entra-sim against the peers, side by
# side"): the same generated tenant, an initial cycle and then the identical
# second cycle with --verify, each server pinned to CPU 0 and the simulator on
# CPU 1. The peers deviate from Entra's shapes; the simulator reports that and
# goes on, so a non-zero exit of a peer's cycle is expected and not fatal here.
# Needs ../shared/conformance/setup.sh once (the peers).
# Usage: scripts/bench-peers.sh USERS GROUPS [WORKDIR]   (after cargo build --release -p roster)
set -uo pipefail
users=${1:-2000}; groups=${2:-20}; work=${3:-/tmp/bench-peers}
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
B="${ROSTER_BIN:-$ROOT/target/release/roster}"
PEERS="$ROOT/../shared/conformance"
rm -rf "$work"; mkdir -p "$work"; cd "$work" || exit 2
"$B" entra-sim generate --users "$users" --groups "$groups" --seed 1 --out tenant >/dev/null
pid=
trap '[ -n "$pid" ] && kill $pid 2>/dev/null' EXIT INT TERM
wait_up() { for _ in $(seq 1 600); do curl -fs -o /dev/null -H "Authorization: Bearer $2" "$1" && return 0; sleep 0.2; done; return 1; }
cycles() { # NAME BASE TOKEN
  for c in 1 2; do
    extra=(); [ "$c" = 2 ] && extra=(--verify)
    taskset -c 1 "$B" entra-sim cycle "$2" --token "$3" --tenant tenant --concurrency 16 --quiet \
      --report "$1-c$c.jsonl" "${extra[@]}" > "$1-c$c.txt" 2>&1
    echo "== $1, cycle $c (exit $?)"
    grep -E "^(users|groups|requests|wall time|result|verify|would)" "$1-c$c.txt"
  done
}

DB="sqlite://$work/roster.db"
"$B" org create entra --database "$DB" >/dev/null
TOKEN=$("$B" apikey create --org entra --role administrator --name sim --database "$DB")
taskset -c 0 "$B" serve --listen 127.0.0.1:18701 --database "$DB" > roster.log 2>&1 & pid=$!
wait_up http://127.0.0.1:18701/scim/v2/ServiceProviderConfig "$TOKEN" && cycles roster http://127.0.0.1:18701/scim/v2 "$TOKEN"
kill $pid; wait $pid 2>/dev/null

taskset -c 0 bash "$PEERS/peer-scim2-server.sh" 18702 ptok > scim2-server.log 2>&1 & pid=$!
wait_up http://127.0.0.1:18702/v2/ServiceProviderConfig ptok && cycles scim2-server http://127.0.0.1:18702/v2 ptok
kill $pid; wait $pid 2>/dev/null

taskset -c 0 bash "$PEERS/peer-scimmy.sh" 18703 ptok > scimmy.log 2>&1 & pid=$!
wait_up http://127.0.0.1:18703/scim/v2/ServiceProviderConfig ptok && cycles scimmy http://127.0.0.1:18703/scim/v2 ptok
kill $pid; wait $pid 2>/dev/null; pid=
