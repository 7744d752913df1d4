#!/usr/bin/env bash
# Rehearses exam week on this machine: builds Anote (release), starts one
# setup, and runs `anote loadtest` against it. Arguments after the setup go
# to `anote loadtest` (default: --profile exam-spike); the reports land in
# ./loadtest-report.
#   scripts/loadtest.sh embedded [args…]  `anote serve` on a fresh data folder
#   scripts/loadtest.sh split [args…]     command API, relay, projector (through
#                                         the Kinesis emulator) and query API on
#                                         PostgreSQL, documents on the S3 emulator
#   scripts/loadtest.sh ceiling [args…]   a bare axum handler inside the load
#                                         tester, loaded with the same profile
# ANOTE_BIN=path runs that binary (one built before, to compare two builds)
# instead of building this checkout.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/services.sh

setup=${1:?"usage: scripts/loadtest.sh embedded|split|ceiling [anote loadtest arguments]"}
shift
[ $# -gt 0 ] || set -- --profile exam-spike

if [ -n "${ANOTE_BIN:-}" ]; then
  bin=$ANOTE_BIN
else
  log "building anote (release)"
  cargo build --release --locked --bin anote
  bin=${CARGO_TARGET_DIR:-target}/release/anote
fi

export ANOTE_LOG=${ANOTE_LOG:-warn}
# The load tester is one address standing for a whole campus, as the load
# balancer is on AWS, where the per-address cap is off too.
export ANOTE_MAX_CONNECTIONS_PER_CLIENT=${ANOTE_MAX_CONNECTIONS_PER_CLIENT:-0}
case $setup in
  ceiling)
    "$bin" loadtest --ceiling "$@"
    ;;
  embedded)
    dir=$(mktemp -d /tmp/anote-loadtest.XXXXXX)
    cleanups+=("rm -rf '$dir'")
    port=$(free_port)
    metrics=$(free_port)
    ANOTE_DATA_DIR=$dir ANOTE_LISTEN=127.0.0.1:$port ANOTE_METRICS_LISTEN=127.0.0.1:$metrics background "$bin" serve
    wait_ready "http://127.0.0.1:$port" "$last_pid"
    "$bin" loadtest --target "http://127.0.0.1:$port" --metrics "http://127.0.0.1:$metrics" "$@"
    ;;
  split)
    start_services
    schema=loadtest_$(python3 -c 'import uuid; print(uuid.uuid4().hex)')
    export ANOTE_DATABASE_URL=$ANOTE_TEST_DATABASE_URL ANOTE_DATABASE_SCHEMA=$schema \
      ANOTE_READ_DATABASE_SCHEMA=${schema}_read ANOTE_TOKEN_SECRET=loadtest-secret-loadtest-secret-32b \
      ANOTE_KINESIS_STREAM=$schema ANOTE_KINESIS_ENDPOINT=$ANOTE_TEST_KINESIS_ENDPOINT \
      ANOTE_S3_BUCKET=${schema//_/-} ANOTE_S3_ENDPOINT=$ANOTE_TEST_S3_ENDPOINT AWS_REGION=us-east-1 \
      AWS_ACCESS_KEY_ID=${ANOTE_TEST_S3_ACCESS_KEY:-anote-test} \
      AWS_SECRET_ACCESS_KEY=${ANOTE_TEST_S3_SECRET_KEY:-anote-test-secret} AWS_EC2_METADATA_DISABLED=true
    cleanups+=("psql '$ANOTE_TEST_DATABASE_URL' -qc 'DROP SCHEMA IF EXISTS $schema CASCADE; DROP SCHEMA IF EXISTS ${schema}_read CASCADE' >/dev/null 2>&1")
    log "creating the Kinesis stream and the S3 bucket $schema"
    aws_call kinesis "$ANOTE_TEST_KINESIS_ENDPOINT/" "{\"StreamName\":\"$schema\",\"ShardCount\":2}" \
      -H 'X-Amz-Target: Kinesis_20131202.CreateStream' -H 'Content-Type: application/x-amz-json-1.1'
    # The SHA-256 of the empty body, which S3 wants spelled out.
    aws_call s3 "$ANOTE_TEST_S3_ENDPOINT/$ANOTE_S3_BUCKET" "" -X PUT \
      -H 'x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'
    "$bin" migrate
    commands=$(free_port)
    queries=$(free_port)
    command_metrics=$(free_port)
    query_metrics=$(free_port)
    ANOTE_LISTEN=127.0.0.1:$commands ANOTE_METRICS_LISTEN=127.0.0.1:$command_metrics background "$bin" command-api
    command_pid=$last_pid
    ANOTE_LISTEN=127.0.0.1:$queries ANOTE_METRICS_LISTEN=127.0.0.1:$query_metrics background "$bin" query-api
    query_pid=$last_pid
    background "$bin" relay
    background "$bin" projector
    wait_ready "http://127.0.0.1:$commands" "$command_pid"
    wait_ready "http://127.0.0.1:$queries" "$query_pid"
    "$bin" loadtest --target "http://127.0.0.1:$commands" --read-target "http://127.0.0.1:$queries" \
      --metrics "http://127.0.0.1:$command_metrics" --metrics "http://127.0.0.1:$query_metrics" "$@"
    ;;
  *)
    log "unknown setup $setup (embedded, split or ceiling)"
    exit 2
    ;;
esac
