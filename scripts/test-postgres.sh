#!/usr/bin/env bash
# Runs the server's tests again on PostgreSQL (they use SQLite otherwise): a throw-away
# cluster in a temporary directory on its own port, stopped and deleted afterwards. The
# system's own PostgreSQL, if any, is not touched. Arguments go to `cargo nextest run`.
set -euo pipefail

bin=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin 2>/dev/null | sort -V | tail -1)
if [ -z "$bin" ]; then
  echo "test-postgres: PostgreSQL is not installed (make setup installs it)" >&2
  exit 1
fi
port=${STEWARD_TEST_PG_PORT:-55432}
dir=$(mktemp -d /tmp/steward-pg.XXXXXX)
# PostgreSQL refuses to run as root.
as_pg() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
if [ "$(id -u)" -eq 0 ]; then chown postgres "$dir"; fi
stop() {
  as_pg "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap stop EXIT

as_pg "$bin/initdb" -D "$dir/data" -U steward --auth=trust -E UTF8 >/dev/null
# Durability is not under test here: fsync off keeps the run short.
as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
  -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=400 -c fsync=off" start >/dev/null
echo "test-postgres: PostgreSQL $("$bin/postgres" -V | awk '{print $3}') on 127.0.0.1:$port"

STEWARD_TEST_POSTGRES_URL="postgres://steward@127.0.0.1:$port/postgres" \
  cargo nextest run -p steward-server --no-fail-fast "$@"
