#!/usr/bin/env bash
# Runs every check and test of Anote: formatting, lints, and the whole test
# suite against a real PostgreSQL. When no PostgreSQL answers at
# ANOTE_TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test),
# it starts a throwaway cluster from the installed server binaries, installing
# Debian's postgresql package first if there are none.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '==> %s\n' "$*" >&2; }

default_url=postgres://postgres@127.0.0.1:5432/test
export ANOTE_TEST_DATABASE_URL=${ANOTE_TEST_DATABASE_URL:-$default_url}

reachable() { # host port
  (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

pg_bin_dir() {
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

as_postgres() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start_throwaway_postgres() {

  PG_BIN=$(pg_bin_dir)
  if [ -z "$PG_BIN" ]; then
    log "installing PostgreSQL (Debian package)"
    if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql >/dev/null
    PG_BIN=$(pg_bin_dir)
  fi
  local port=54329
  PGDATA_DIR=$(mktemp -d /tmp/anote-pg.XXXXXX)
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$PGDATA_DIR"
  log "starting a throwaway PostgreSQL in $PGDATA_DIR on port $port"
  as_postgres "$PG_BIN/initdb" -D "$PGDATA_DIR/data" -U postgres --auth=trust >/dev/null
  as_postgres "$PG_BIN/pg_ctl" -D "$PGDATA_DIR/data" -l "$PGDATA_DIR/log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $PGDATA_DIR -c max_connections=300 -c fsync=off" start >/dev/null
  trap 'as_postgres "$PG_BIN/pg_ctl" -D "$PGDATA_DIR/data" -m fast stop >/dev/null 2>&1 || true; rm -rf "$PGDATA_DIR"' EXIT
  as_postgres "$PG_BIN/createdb" -h 127.0.0.1 -p "$port" -U postgres test
  export ANOTE_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$port/test"
}

hostport=$(printf '%s' "$ANOTE_TEST_DATABASE_URL" | sed -E 's#^[a-z]+://([^@/]*@)?([^:/]+)(:([0-9]+))?.*#\2 \4#')
read -r pg_host pg_port <<<"$hostport"
if reachable "$pg_host" "${pg_port:-5432}"; then
  log "using PostgreSQL at $pg_host:${pg_port:-5432}"
else
  start_throwaway_postgres
fi

log "cargo fmt --check"
cargo fmt --all -- --check
log "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
log "tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast
else
  cargo test --workspace --locked --no-fail-fast
fi
