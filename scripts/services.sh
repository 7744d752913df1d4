#!/usr/bin/env bash
# Sourced by the test and load-test commands: starts what Anote's split
# services need on this machine, for as long as the calling script runs.
# - PostgreSQL: when none answers at ANOTE_TEST_DATABASE_URL (default
#   postgres://postgres@127.0.0.1:5432/test), a throwaway cluster is started
#   from the installed server binaries (Debian's postgresql package is
#   installed first if there are none).
# - Kinesis: the npm package kinesis-local is installed once into
#   ANOTE_EMULATOR_DIR (default ~/.cache/anote/emulators) and started on
#   a free port of 127.0.0.1 (or ANOTE_TEST_KINESIS_PORT) for the run, unless
#   ANOTE_TEST_KINESIS_ENDPOINT names a running one (Node.js comes from
#   Debian's packages when missing).
# - S3: the crate s3s-fs is installed once into the same folder and started
#   on a free port of 127.0.0.1 with a throwaway data folder, unless
#   ANOTE_TEST_S3_ENDPOINT names a running one (with ANOTE_TEST_S3_ACCESS_KEY
#   and ANOTE_TEST_S3_SECRET_KEY).
# - AWS's KPL aggregation module for Python (aws-kinesis-agg, for the Kinesis
#   interoperability test): installed from PyPI into a virtualenv in the same
#   folder, made again when its requirements change; ANOTE_TEST_KPL_PYTHON
#   names its Python.
# It also gives the scripts `background` (a process stopped when the script
# ends), `wait_ready` (a server's /readyz) and `aws_call` (a signed request
# to an emulator).

default_url=postgres://postgres@127.0.0.1:5432/test
export ANOTE_TEST_DATABASE_URL=${ANOTE_TEST_DATABASE_URL:-$default_url}

log() { printf '==> %s\n' "$*" >&2; }

free_port() { # a free port of 127.0.0.1
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

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
    install_debian postgresql
    PG_BIN=$(pg_bin_dir)
  fi
  local port=54329
  PGDATA_DIR=$(mktemp -d /tmp/anote-pg.XXXXXX)
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$PGDATA_DIR"
  log "starting a throwaway PostgreSQL in $PGDATA_DIR on port $port"
  as_postgres "$PG_BIN/initdb" -D "$PGDATA_DIR/data" -U postgres --auth=trust >/dev/null
  as_postgres "$PG_BIN/pg_ctl" -D "$PGDATA_DIR/data" -l "$PGDATA_DIR/log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $PGDATA_DIR -c max_connections=300 -c fsync=off" start >/dev/null
  cleanups+=('as_postgres "$PG_BIN/pg_ctl" -D "$PGDATA_DIR/data" -m fast stop >/dev/null 2>&1; rm -rf "$PGDATA_DIR"')
  as_postgres "$PG_BIN/createdb" -h 127.0.0.1 -p "$port" -U postgres test
  export ANOTE_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$port/test"
}

background() { # command…: runs until this script ends (stopped, then awaited)
  "$@" &
  cleanups+=("kill $! 2>/dev/null; wait $! 2>/dev/null")
  last_pid=$!
}

wait_ready() { # base URL, pid of the server
  local deadline=$((SECONDS + 60))
  until curl -sf "$1/readyz" >/dev/null; do
    kill -0 "$2" 2>/dev/null || { log "the server for $1 stopped"; exit 1; }
    [ $SECONDS -lt $deadline ] || { log "$1 did not become ready"; exit 1; }
    sleep 0.2
  done
}

aws_call() { # service URL data [header…]: a signed request to an emulator
  local service=$1 url=$2 data=$3
  shift 3
  curl -sf --aws-sigv4 "aws:amz:us-east-1:$service" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
    "$@" --data "$data" "$url" >/dev/null
}

# Undone last first when the script ends.
cleanups=()
cleanup() {
  local i
  for ((i = ${#cleanups[@]} - 1; i >= 0; i--)); do eval "${cleanups[i]}" || true; done
}
trap cleanup EXIT

install_debian() { # packages…
  if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}

# Runs a command while holding the install lock of folder $1, so that two
# runs started together do not install into it at the same time.
with_install_lock() { # dir, command…
  mkdir -p "$1"
  (flock 9 && "${@:2}") 9>"$1/.install.lock"
}

install_kinesis_local() { # dir
  [ -f "$1/node_modules/kinesis-local/main.js" ] && return 0
  command -v node >/dev/null && command -v npm >/dev/null || { log "installing Node.js"; install_debian nodejs npm; }
  log "installing kinesis-local 0.6.2 into $1"
  npm install --prefix "$1" --no-save --no-audit --no-fund kinesis-local@0.6.2 >/dev/null
}

# The requirements of the KPL module's virtualenv.
kpl_requirements=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/infra/kinesis/tests/kpl/requirements.txt

install_kpl_agg() { # virtualenv dir
  cmp -s "$kpl_requirements" "$1/.anote-requirements" && return 0
  log "installing aws-kinesis-agg into $1"
  python3 -m venv "$1" 2>/dev/null || { install_debian python3-venv; python3 -m venv "$1"; }
  "$1/bin/pip" install --quiet --disable-pip-version-check -r "$kpl_requirements"
  cp "$kpl_requirements" "$1/.anote-requirements"
}

install_s3s_fs() { # dir
  [ -x "$1/bin/s3s-fs" ] && return 0
  log "installing s3s-fs 0.14.1 into $1 (a few minutes, once)"
  # Its own target folder, so the project's build cache is not disturbed.
  CARGO_TARGET_DIR="$1/build" cargo install s3s-fs@0.14.1 --features binary --locked --root "$1" --quiet
  rm -rf "$1/build"
}

# kinesis-local binds every interface; this module, preloaded (`node -r`),
# keeps it on loopback.
write_loopback_preload() { # dir
  mkdir -p "$1"
  cat >"$1/loopback.js" <<'JS'
const net = require('net');
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  if (typeof args[0] === 'number') {
    const callback = args.find((a) => typeof a === 'function');
    return callback ? listen.call(this, args[0], '127.0.0.1', callback) : listen.call(this, args[0], '127.0.0.1');
  }
  if (args[0] && typeof args[0] === 'object') args[0].host = '127.0.0.1';
  return listen.apply(this, args);
};
JS
}

start_kinesis_emulator() {
  local dir=${ANOTE_EMULATOR_DIR:-${HOME:-/tmp}/.cache/anote/emulators}
  local pkg="$dir/node_modules/kinesis-local"
  command -v node >/dev/null && command -v npm >/dev/null || { log "installing Node.js"; install_debian nodejs npm; }
  local free_port="const s = require('net').createServer().listen(0, '127.0.0.1', () => { console.log(s.address().port); s.close(); })"
  local port=${ANOTE_TEST_KINESIS_PORT:-$(node -e "$free_port")}
  local tls_port
  tls_port=$(node -e "$free_port")
  [ -f "$pkg/main.js" ] || with_install_lock "$dir" install_kinesis_local "$dir"
  write_loopback_preload "$dir"
  log "starting the Kinesis emulator on 127.0.0.1:$port"
  KINESIS_MOCK_CERT_PATH="$pkg/server.json" KINESIS_MOCK_PLAIN_PORT=$port KINESIS_MOCK_TLS_PORT=$tls_port \
    CREATE_STREAM_DURATION=0ms DELETE_STREAM_DURATION=0ms REGISTER_STREAM_CONSUMER_DURATION=0ms \
    DEREGISTER_STREAM_CONSUMER_DURATION=0ms MERGE_SHARDS_DURATION=0ms SPLIT_SHARD_DURATION=0ms \
    UPDATE_SHARD_COUNT_DURATION=0ms SHARD_LIMIT=1000 LOG_LEVEL=WARN \
    node -r "$dir/loopback.js" "$pkg/main.js" >"$dir/kinesis.log" 2>&1 &
  local pid=$!
  cleanups+=("kill $pid 2>/dev/null")
  local deadline=$((SECONDS + 60))
  until node -e "fetch('http://127.0.0.1:$port/healthcheck').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"; do
    kill -0 "$pid" 2>/dev/null || { cat "$dir/kinesis.log" >&2; log "the Kinesis emulator died"; exit 1; }
    [ $SECONDS -lt $deadline ] || { log "the Kinesis emulator did not become ready"; exit 1; }
    sleep 0.2
  done
  export ANOTE_TEST_KINESIS_ENDPOINT="http://127.0.0.1:$port"
}

start_s3_emulator() {
  local dir=${ANOTE_EMULATOR_DIR:-${HOME:-/tmp}/.cache/anote/emulators}
  local bin="$dir/bin/s3s-fs"
  [ -x "$bin" ] || with_install_lock "$dir" install_s3s_fs "$dir"
  local port=${ANOTE_TEST_S3_PORT:-$(free_port)}
  S3_DATA_DIR=$(mktemp -d /tmp/anote-s3.XXXXXX)
  log "starting the S3 emulator on 127.0.0.1:$port"
  "$bin" --host 127.0.0.1 --port "$port" --access-key anote-test --secret-key anote-test-secret "$S3_DATA_DIR" \
    >"$dir/s3.log" 2>&1 &
  local pid=$!
  cleanups+=("kill $pid 2>/dev/null; rm -rf '$S3_DATA_DIR'")
  local deadline=$((SECONDS + 30))
  # Up (and checking signatures) when an anonymous request is refused with 403.
  until [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/" || true)" = 403 ]; do
    kill -0 "$pid" 2>/dev/null || { cat "$dir/s3.log" >&2; log "the S3 emulator died"; exit 1; }
    [ $SECONDS -lt $deadline ] || { log "the S3 emulator did not become ready"; exit 1; }
    sleep 0.2
  done
  export ANOTE_TEST_S3_ENDPOINT="http://127.0.0.1:$port"
  export ANOTE_TEST_S3_ACCESS_KEY=anote-test ANOTE_TEST_S3_SECRET_KEY=anote-test-secret
}

# The PostgreSQL at ANOTE_TEST_DATABASE_URL, or a throwaway one when none
# answers there.
ensure_postgres() {
  hostport=$(printf '%s' "$ANOTE_TEST_DATABASE_URL" | sed -E 's#^[a-z]+://([^@/]*@)?([^:/]+)(:([0-9]+))?.*#\2 \4#')
  read -r pg_host pg_port <<<"$hostport"
  if reachable "$pg_host" "${pg_port:-5432}"; then
    log "using PostgreSQL at $pg_host:${pg_port:-5432}"
  else
    start_throwaway_postgres
  fi
}

# PostgreSQL, the Kinesis emulator and the S3 emulator, each started unless
# one is named or answering already. The emulators are installed either way:
# the fault tests start their own (ANOTE_EMULATOR_DIR tells them where), and
# PostgreSQL's server binaries are looked up for the same reason.
start_services() {
  ensure_postgres
  export ANOTE_EMULATOR_DIR=${ANOTE_EMULATOR_DIR:-${HOME:-/tmp}/.cache/anote/emulators}
  [ -f "$ANOTE_EMULATOR_DIR/node_modules/kinesis-local/main.js" ] ||
    with_install_lock "$ANOTE_EMULATOR_DIR" install_kinesis_local "$ANOTE_EMULATOR_DIR"
  [ -x "$ANOTE_EMULATOR_DIR/bin/s3s-fs" ] ||
    with_install_lock "$ANOTE_EMULATOR_DIR" install_s3s_fs "$ANOTE_EMULATOR_DIR"
  write_loopback_preload "$ANOTE_EMULATOR_DIR"
  if [ -z "${ANOTE_TEST_KPL_PYTHON:-}" ]; then
    cmp -s "$kpl_requirements" "$ANOTE_EMULATOR_DIR/kpl-agg/.anote-requirements" ||
      with_install_lock "$ANOTE_EMULATOR_DIR" install_kpl_agg "$ANOTE_EMULATOR_DIR/kpl-agg"
    export ANOTE_TEST_KPL_PYTHON=$ANOTE_EMULATOR_DIR/kpl-agg/bin/python
  fi
  if [ -z "$(pg_bin_dir)" ]; then
    log "installing PostgreSQL's server binaries (Debian package)"
    install_debian postgresql
  fi

  if [ -n "${ANOTE_TEST_KINESIS_ENDPOINT:-}" ]; then
    log "using the Kinesis emulator at $ANOTE_TEST_KINESIS_ENDPOINT"
  else
    start_kinesis_emulator
  fi

  if [ -n "${ANOTE_TEST_S3_ENDPOINT:-}" ]; then
    log "using the S3 emulator at $ANOTE_TEST_S3_ENDPOINT"
  else
    start_s3_emulator
  fi

}
