#!/usr/bin/env bash
# Fuzzes the HTTP APIs against their own OpenAPI document: schemathesis
# (pinned below; installed once into a virtualenv under
# ANOTE_SCHEMATHESIS_DIR, default ~/.cache/anote/schemathesis-<version>)
# generates requests from /openapi.json, valid and invalid, with every check
# on: no 5xx, every reply's status, media type, headers and body as
# documented, invalid input refused, valid input accepted, auth enforced.
# The exceptions and their reasons are in scripts/fuzz/schemathesis.toml.
# Requests carry the bearer token of an account registered for the run
# (scripts/fuzz/hooks.py).
#   scripts/fuzz.sh [embedded|split|both]   (default both)
# embedded: `anote serve` on a fresh data folder; split: `anote command-api`,
# `anote query-api` and `anote projector` on a fresh PostgreSQL schema,
# documents on the S3 emulator. ANOTE_BIN names the binary (default: the
# debug build, built when missing); ANOTE_FUZZ_EXAMPLES bounds the cases per
# operation and phase (default 50), ANOTE_FUZZ_SEED fixes the generator.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
source scripts/services.sh

SCHEMATHESIS_VERSION=4.32.5
setups=${1:-both}
examples=${ANOTE_FUZZ_EXAMPLES:-50}
seed=${ANOTE_FUZZ_SEED:-1111}
bin=${ANOTE_BIN:-${CARGO_TARGET_DIR:-target}/debug/anote}
if [ -z "${ANOTE_BIN:-}" ]; then
  log "building anote"
  cargo build --locked --bin anote
fi

st_dir=${ANOTE_SCHEMATHESIS_DIR:-${HOME:-/tmp}/.cache/anote/schemathesis-$SCHEMATHESIS_VERSION}
if [ ! -x "$st_dir/bin/st" ]; then
  log "installing schemathesis $SCHEMATHESIS_VERSION into $st_dir (once)"
  python3 -m venv "$st_dir" 2>/dev/null || { install_debian python3-venv; rm -rf "$st_dir"; python3 -m venv "$st_dir"; }
  "$st_dir/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

reports=$(mktemp -d /tmp/anote-fuzz.XXXXXX)
cleanups+=("rm -rf '$reports'")
export ANOTE_LOG=${ANOTE_LOG:-warn}
# The fuzzer sends many wrong passwords from one address; a limit it hits
# would turn every later login into 429 and hide the routes behind it.
export ANOTE_LOGIN_FAILURES_PER_USER=1000000 ANOTE_LOGIN_FAILURES_PER_ADDRESS=1000000

fuzz() { # name, base URL of the API, base URL of the command API (for accounts)
  local name=$1 base=$2
  log "fuzzing $name ($base, $examples examples per operation, seed $seed)"
  # From the reports folder, where the generator's own files go. A broken
  # server (one whose reads all wait out their timeout, say) stops the run
  # after a few faults rather than after every case.
  if (cd "$reports" && ANOTE_FUZZ_COMMAND_URL=$3 PYTHONPATH="$root/scripts/fuzz" SCHEMATHESIS_HOOKS=hooks \
    timeout 900 "$st_dir/bin/st" --config-file "$root/scripts/fuzz/schemathesis.toml" run "$base/openapi.json" \
    --url "$base" --checks all --max-examples "$examples" --seed "$seed" --workers 1 \
    --request-timeout 15 --max-failures 10 --no-color \
    >"$reports/$name.log" 2>&1); then
    tail -n 5 "$reports/$name.log" >&2
  else
    cat "$reports/$name.log" >&2
    log "fuzzing $name found faults"
    exit 1
  fi
}

fuzz_embedded() {
  local dir port
  dir=$(mktemp -d /tmp/anote-fuzz-data.XXXXXX)
  cleanups+=("rm -rf '$dir'")
  port=$(free_port)
  ANOTE_DATA_DIR=$dir ANOTE_LISTEN=127.0.0.1:$port background "$bin" serve
  wait_ready "http://127.0.0.1:$port" "$last_pid"
  fuzz embedded "http://127.0.0.1:$port" "http://127.0.0.1:$port"
}

fuzz_split() {
  start_services
  local schema commands queries
  schema=fuzz_$(python3 -c 'import uuid; print(uuid.uuid4().hex)')
  export ANOTE_DATABASE_URL=$ANOTE_TEST_DATABASE_URL ANOTE_DATABASE_SCHEMA=$schema \
    ANOTE_READ_DATABASE_SCHEMA=${schema}_read ANOTE_TOKEN_SECRET=fuzz-secret-fuzz-secret-fuzz-secret \
    ANOTE_S3_BUCKET=${schema//_/-} ANOTE_S3_ENDPOINT=$ANOTE_TEST_S3_ENDPOINT AWS_REGION=us-east-1 \
    AWS_ACCESS_KEY_ID=${ANOTE_TEST_S3_ACCESS_KEY:-anote-test} \
    AWS_SECRET_ACCESS_KEY=${ANOTE_TEST_S3_SECRET_KEY:-anote-test-secret} \
    AWS_EC2_METADATA_DISABLED=true ANOTE_DATABASE_MAX_CONNECTIONS=8
  cleanups+=("psql '$ANOTE_TEST_DATABASE_URL' -qc 'DROP SCHEMA IF EXISTS $schema CASCADE; DROP SCHEMA IF EXISTS ${schema}_read CASCADE' >/dev/null 2>&1")
  # The SHA-256 of the empty body, which S3 wants spelled out.
  aws_call s3 "$ANOTE_TEST_S3_ENDPOINT/$ANOTE_S3_BUCKET" "" -X PUT \
    -H 'x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'
  "$bin" migrate
  commands=$(free_port)
  queries=$(free_port)
  ANOTE_LISTEN=127.0.0.1:$commands background "$bin" command-api
  wait_ready "http://127.0.0.1:$commands" "$last_pid"
  ANOTE_LISTEN=127.0.0.1:$queries background "$bin" query-api
  wait_ready "http://127.0.0.1:$queries" "$last_pid"
  background "$bin" projector
  fuzz split-commands "http://127.0.0.1:$commands" "http://127.0.0.1:$commands"
  fuzz split-queries "http://127.0.0.1:$queries" "http://127.0.0.1:$commands"
}

case $setups in
  embedded) fuzz_embedded ;;
  split) fuzz_split ;;
  both) fuzz_embedded && fuzz_split ;;
  *) log "unknown setup $setups (embedded, split or both)"; exit 2 ;;
esac
log "fuzzing passed"
