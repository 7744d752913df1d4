#!/usr/bin/env bash
# Checks the web app in web/ (called by scripts/test.sh after the Rust tests):
#
#   scripts/web.sh            # everything below, in this order
#   scripts/web.sh build      # rebuild the committed web/dist in place
#   scripts/web.sh e2e [args] # only the browser tests (args go to Playwright)
#   scripts/web.sh budgets    # only the budgets (size, 1,000-note list, Lighthouse)
#
# 1. Debian's chromium and fonts-liberation are installed with apt when
#    /usr/bin/chromium is missing; npm ci runs when node_modules does not
#    match package.json and package-lock.json (a stamp of their hash says so).
# 2. Type checks (the app, the browser tests and these scripts), the
#    component tests (vitest).
# 3. The committed web/dist equals a fresh `vite build` (that is what the
#    binary embeds), and the committed API types src/api/schema.d.ts equal
#    those generated from `anote openapi`, so the app cannot drift from the API.
# 4. The browser tests (Playwright in Debian's Chromium against a real
#    `anote serve` with a fresh data folder) and the budgets.
#
# The anote binary is ANOTE_BIN, by default the debug build in
# $CARGO_TARGET_DIR (or target/), which the Rust tests build.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/services.sh

root=$(pwd)
export ANOTE_BIN=${ANOTE_BIN:-${CARGO_TARGET_DIR:-$root/target}/debug/anote}
case "$ANOTE_BIN" in /*) ;; *) ANOTE_BIN="$root/$ANOTE_BIN" ;; esac

timings=()
step() { # name command…: runs a step, logging its name and then how long it took
  local name=$1 started=$SECONDS
  shift
  log "web: $name"
  "$@"
  timings+=("$name $((SECONDS - started)) s")
  log "web: $name: done in $((SECONDS - started)) s"
}

ensure_node() {
  local version
  version=$(node -v 2>/dev/null || true)
  if ! printf '%s\n' "${version#v}" | awk -F. '{ exit !($1 > 20 || ($1 == 20 && $2 >= 19)) }'; then
    log "web: Node.js 20.19 or later is needed (found ${version:-none}); install it, then run again"
    exit 1
  fi
}

ensure_chromium() {
  if [ ! -x /usr/bin/chromium ]; then
    log "web: installing Debian's chromium and fonts-liberation"
    install_debian chromium fonts-liberation
  fi
}

# npm ci, unless node_modules was installed from this very package.json and
# lockfile (with this Node.js).
ensure_node_modules() {
  local stamp=web/node_modules/.anote-lock-sha256 want
  want="$(cat web/package.json web/package-lock.json | sha256sum | cut -d' ' -f1) $(node -v)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    return
  fi
  log "web: npm ci"
  (cd web && npm ci --no-audit --no-fund --prefer-offline --loglevel=error)
  printf '%s\n' "$want" >"$stamp"
}

need_binary() { # exits unless ANOTE_BIN is an executable
  if [ ! -x "$ANOTE_BIN" ]; then
    log "web: no anote binary at $ANOTE_BIN: run cargo build, or set ANOTE_BIN"
    exit 1
  fi
}

check_dist() {
  local fresh
  fresh=$(mktemp -d)
  cleanups+=("rm -rf '$fresh'")
  (cd web && node_modules/.bin/vite build --outDir "$fresh" --emptyOutDir --logLevel warn)
  if ! diff -r web/dist "$fresh" >"$fresh.diff" 2>&1; then
    log "web: the committed web/dist differs from a fresh build:"
    grep -E '^(Only in|diff -r|Files )' "$fresh.diff" | sed -e "s#$fresh#(fresh build)#g" | head -n 40 >&2
    rm -f "$fresh.diff"
    log "web: fix: scripts/web.sh build, then commit web/dist"
    exit 1
  fi
  rm -f "$fresh.diff"
}

check_api_types() {
  local document
  document=$(mktemp)
  cleanups+=("rm -f '$document'")
  if ! "$ANOTE_BIN" openapi >"$document"; then
    log "web: $ANOTE_BIN openapi failed: is the binary older than the app?"
    exit 1
  fi
  if ! (cd web && scripts/gen-api.sh --check "$document") >"$document.diff" 2>&1; then
    head -n 60 "$document.diff" >&2
    rm -f "$document.diff"
    log "web: web/src/api/schema.d.ts does not match the server's API document (anote openapi)"
    log "web: fix: (cd web && ANOTE_BIN=$ANOTE_BIN npm run gen:api), then check the app still type checks and commit it"
    exit 1
  fi
  rm -f "$document.diff"
}

run_e2e() {
  [ -n "${ANOTE_E2E_BASE_URL:-}" ] || need_binary
  (cd web && node_modules/.bin/playwright test "$@")
}

run_budgets() {
  [ -n "${ANOTE_E2E_BASE_URL:-}" ] || need_binary
  (cd web && node scripts/budgets.mjs)
}

ensure_tools() {
  ensure_chromium
  ensure_node_modules
}

type_check() {
  (cd web && node_modules/.bin/tsc -b && node_modules/.bin/tsc -p e2e/tsconfig.json)
}

component_tests() {
  (cd web && npm test --silent)
}

ensure_node
case "${1:-all}" in
  build)
    ensure_node_modules
    (cd web && npm run build)
    ;;
  e2e)
    shift
    ensure_tools
    run_e2e "$@"
    ;;
  budgets)
    ensure_tools
    run_budgets
    ;;
  all)
    started=$SECONDS
    need_binary
    step "Chromium and node_modules" ensure_tools
    step "type checks" type_check
    step "component tests" component_tests
    step "the committed web/dist matches a fresh build" check_dist
    step "the API types match anote openapi" check_api_types
    step "browser tests" run_e2e
    step "budgets" run_budgets
    log "web: all checks passed in $((SECONDS - started)) s (${timings[*]/%/;})"
    ;;
  *)
    log "usage: scripts/web.sh [all|build|e2e [playwright args]|budgets]"
    exit 2
    ;;
esac
