#!/usr/bin/env bash
# Runs every check and test of Anote: formatting, lints, the whole test
# suite against a real PostgreSQL, a real Kinesis emulator and a real S3
# emulator (scripts/services.sh says how each is found or started), the web
# app's checks and browser tests (scripts/web.sh), a
# fuzz run of both setups against their API document (scripts/fuzz.sh), the
# CloudFormation templates linted, policy-checked and deployed to AWS
# emulators (scripts/deploy-check.sh), and the container image built and
# smoke-tested with compose.yaml checked (scripts/image.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/services.sh
start_services

# Earlier runs leave a schema per test behind; drop them (only names of the
# form the tests make, `t_` and 32 hex digits (anote_testkit::env::fresh_schema),
# or a bench's or the fuzzer's prefix instead of `t`, maybe followed by _read,
# _read_next, _read_old or _rebuilt).
if command -v psql >/dev/null; then
  psql "$ANOTE_TEST_DATABASE_URL" -qAtc "SELECT format('DROP SCHEMA %I CASCADE;', nspname) FROM pg_namespace
      WHERE nspname ~ '^(t|bench|bench_relay|bench_reads|bench_rebuild|bench_lag|bench_docs|bench_replay|bench_others|fuzz)_[0-9a-f]{32}(_read|_read_next|_read_old|_rebuilt)?$'" \
    | psql "$ANOTE_TEST_DATABASE_URL" -q >/dev/null 2>&1 || log "could not drop old test schemas (continuing)"
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
log "the web app: type checks, component tests, build and API drift, browser tests, budgets"
scripts/web.sh
log "fuzzing the API against its document"
scripts/fuzz.sh both
log "checking the CloudFormation templates"
scripts/deploy-check.sh
log "building and smoke-testing the container image"
scripts/image.sh
