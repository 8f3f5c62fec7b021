#!/usr/bin/env bash
# Every test of Roster, in one command (the README's test command; CI runs it):
#   1. cargo test --workspace on SQLite (the PostgreSQL tests say they skip),
#   2. the store suite and the end-to-end tests again on PostgreSQL,
#   3. clippy with warnings denied, and the check that the protocol crate has
#      no I/O dependencies,
#   4. the shared SCIM conformance suite (scim2-tester) and Microsoft's SCIM
#      reference Postman collections (newman) against a real `roster serve`.
# PostgreSQL: a local server on 127.0.0.1:5432 (trust auth) is used, and
# started if it is installed but stopped. Without one, step 2 is skipped with
# a message, except under CI (CI=true), where it is required.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"
SHARED="${SHARED_DIR:-$ROOT/../shared}"

echo "== cargo test --workspace (SQLite; the PostgreSQL tests say they skip)"
env -u ROSTER_TEST_POSTGRES_URL cargo test --workspace

# The store suite and the end-to-end tests again on PostgreSQL (started
# before the session on these machines; started here if it has stopped).
# A fresh database per run, dropped on exit; each test creates and drops
# its own roster_test_* database through it.
echo "== PostgreSQL: cargo test -p store-postgres -p roster with ROSTER_TEST_POSTGRES_URL"
PG_SERVER="${ROSTER_CI_POSTGRES:-postgres://postgres@127.0.0.1:5432}"
pg_up() { command -v pg_isready >/dev/null 2>&1 && pg_isready -h 127.0.0.1 -p 5432 -q; }
if ! pg_up && command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start || true
  for _ in $(seq 1 50); do pg_up && break; sleep 0.2; done
fi
if pg_up; then
  PG_DB="roster_ci_$(date +%s)_$$"
  psql "$PG_SERVER/postgres" -qc "CREATE DATABASE $PG_DB"
  drop_pg_db() { psql "$PG_SERVER/postgres" -qc "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" || true; }
  trap drop_pg_db EXIT
  ROSTER_TEST_POSTGRES_URL="$PG_SERVER/$PG_DB" cargo test -p store-postgres -p roster
  drop_pg_db
  trap - EXIT
elif [ "${CI:-}" = "true" ]; then
  echo "PostgreSQL is not running on 127.0.0.1:5432 and could not be started; CI needs it"; exit 1
else
  echo "skipping the PostgreSQL run: no PostgreSQL on 127.0.0.1:5432 (set one up to test that backend)"
fi

echo "== clippy, warnings denied"
cargo clippy --workspace --all-targets -- -D warnings

echo "== the protocol crate has no async runtime, HTTP framework or database driver"
if cargo tree -p scim -e normal --prefix none | grep -Ei '^(tokio|async-std|smol|axum|hyper|actix|warp|reqwest|rusqlite|sqlx|postgres|tokio-postgres|diesel) '; then
  echo "scim depends on I/O crates (above)"; exit 1
fi

echo "== conformance (scim2-tester) against roster serve"
bash "$SHARED/conformance/setup.sh"
WORK="$(mktemp -d)"
DB="sqlite://$WORK/roster.db"
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
BIN="$ROOT/target/debug/roster"
ROSTER_BOOTSTRAP_TOKEN="ci-bootstrap-$(date +%s)-token" "$BIN" serve --listen "127.0.0.1:$PORT" --database "$DB" \
  >"$WORK/serve.out" 2>"$WORK/serve.log" &
SERVER=$!
trap 'kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
  sleep 0.2
done
curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null
# scim2-tester sends random UUID userNames and may omit emails: it runs
# against an organisation with the `rfc` username policy (product.md §3).
"$BIN" org create conformance --username-policy rfc --database "$DB"
TOKEN="$("$BIN" apikey create --org conformance --role administrator --name conformance --database "$DB")"
bash "$SHARED/conformance/conformance.sh" "http://127.0.0.1:$PORT/scim/v2" "$TOKEN" | tee "$WORK/conformance.out"
SUMMARY="$(grep -E '^conformance: [0-9]+ passed, [0-9]+ failed' "$WORK/conformance.out" | tail -n 1)"
echo "$SUMMARY"
case "$SUMMARY" in
  *" 0 failed"*) echo "conformance: ok" ;;
  *) echo "conformance: FAILED"; tail -n 50 "$WORK/serve.log"; exit 1 ;;
esac

echo "== Microsoft's SCIM reference Postman collections (newman) against roster serve"
# A fresh organisation of its own (the collections count what they create),
# with the `rfc` policy: they send userNames and emails that the default
# rules refuse. The failures must be exactly the known, explained ones.
"$BIN" org create postman --username-policy rfc --database "$DB"
PM_TOKEN="$("$BIN" apikey create --org postman --role administrator --name postman --database "$DB")"
bash "$SHARED/conformance/postman/run.sh" "http://127.0.0.1:$PORT/scim/v2" "$PM_TOKEN" >"$WORK/postman.out" 2>&1 \
  || { tail -n 40 "$WORK/postman.out"; echo "postman: the collections did not run"; exit 1; }
grep -E '^postman: [0-9]+ passed' "$WORK/postman.out"
python3 scripts/check-postman.py "$WORK/postman.out" scripts/postman-known-failures.txt \
  || { tail -n 50 "$WORK/serve.log"; exit 1; }
