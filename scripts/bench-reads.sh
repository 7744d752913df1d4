#!/usr/bin/env bash
# Query API benchmark: installs wrk (Debian) when missing, then runs the
# bench against PostgreSQL at ANOTE_TEST_DATABASE_URL.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v wrk >/dev/null; then
  if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq wrk >/dev/null
fi
exec cargo bench -p anote-query-api --bench reads
