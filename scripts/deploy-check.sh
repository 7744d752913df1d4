#!/usr/bin/env bash
# Checks the CloudFormation templates of deploy/cloudformation/, offline:
#  1. cfn-lint on every template: no error, no warning;
#  2. checkov: no failed check that the template does not skip with a reason;
#  3. every parameter file names only its template's parameters and sets
#     every one without a default (deploy/tests/test_params.py);
#  4. deploys to AWS emulators on 127.0.0.1 and asserts from their APIs
#     (deploy/tests/test_ministack.py, test_moto.py): the root stack of dev,
#     staging and prod on ministack (prod without NAT, which ministack lacks),
#     NAT on moto, the pipeline's resources on ministack.
# The tools live in two virtualenvs under ~/.cache/anote/ (checkov pins a
# boto3 that ministack's botocore excludes), created or brought to the pinned
# versions of deploy/tests/requirements-*.txt when they differ. Idempotent.
#
# Usage: scripts/deploy-check.sh            everything
#        DEPLOY_CHECK_SKIP_EMULATORS=1 ...  only steps 1-3
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CACHE=${ANOTE_CACHE_DIR:-$HOME/.cache/anote}
TESTS=deploy/tests
TEMPLATES=${ANOTE_TEMPLATES_DIR:-deploy/cloudformation}  # a copy to check instead (deploy/tests/cfn.py reads it too)

log() { printf '==> %s\n' "$*" >&2; }
started=$SECONDS
elapsed() { printf '%ss' $((SECONDS - started)); }

# venv DIR REQUIREMENTS: (re)creates DIR when its recorded requirements differ.
venv() {
    local dir=$1 requirements=$2
    if [ -x "$dir/bin/python" ] && cmp -s "$requirements" "$dir/.anote-requirements"; then
        return
    fi
    log "installing $(basename "$requirements") into $dir"
    [ -x "$dir/bin/python" ] || python3 -m venv "$dir"
    "$dir/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
    cp "$requirements" "$dir/.anote-requirements"
}

mkdir -p "$CACHE"
venv "$CACHE/deploy-venv" "$TESTS/requirements-deploy.txt" &
deploy_venv=$!
venv "$CACHE/checkov-venv" "$TESTS/requirements-checkov.txt" &
checkov_venv=$!
wait "$deploy_venv"
wait "$checkov_venv"
DEPLOY_PY=$CACHE/deploy-venv/bin
CHECKOV=$CACHE/checkov-venv/bin/checkov
log "tools ready ($(elapsed))"

WORK=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]+"${pids[@]}"}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

templates=("$TEMPLATES"/*.yaml)

# cfn-lint and checkov run beside the tests; their output is shown at the end.
"$CHECKOV" --framework cloudformation --skip-download --quiet --compact \
    $(printf -- '-f %s ' "${templates[@]}") >"$WORK/checkov.out" 2>&1 &
checkov_pid=$!
pids+=("$checkov_pid")

"$DEPLOY_PY/cfn-lint" "${templates[@]}" >"$WORK/cfn-lint.out" 2>&1 &
cfn_lint_pid=$!
pids+=("$cfn_lint_pid")

export PYTHONDONTWRITEBYTECODE=1  # no __pycache__ in the work tree
pytest_args=(-q -p no:cacheprovider "$TESTS")
if [ "${DEPLOY_CHECK_SKIP_EMULATORS:-0}" = 1 ]; then
    pytest_args+=(-m "not emulator")
fi
log "parameter files and emulator deployments (pytest $TESTS)"
tests_status=0
"$DEPLOY_PY/python" -m pytest "${pytest_args[@]}" || tests_status=$?

# finish PID OUTPUT FAILURE: waits for a background check and returns its
# status; on failure shows its output and FAILURE.
finish() {
    local status=0
    wait "$1" || status=$?
    if [ "$status" != 0 ]; then
        cat "$2" >&2
        log "$3"
    fi
    return "$status"
}
cfn_lint_status=0
finish "$cfn_lint_pid" "$WORK/cfn-lint.out" "cfn-lint: errors or warnings (above) on ${templates[*]}" \
    && log "cfn-lint: no error, no warning on ${#templates[@]} templates" || cfn_lint_status=$?
checkov_status=0
finish "$checkov_pid" "$WORK/checkov.out" "checkov: failed checks (above) — fix them or skip them in the template with a reason" \
    && log "checkov: $(grep -E 'Passed checks' "$WORK/checkov.out" | tr '\n' ' ')" || checkov_status=$?
[ "$tests_status" = 0 ] || log "pytest $TESTS failed (above)"
[ "$tests_status" = 0 ] && [ "$checkov_status" = 0 ] && [ "$cfn_lint_status" = 0 ] || exit 1
log "deploy checks passed in $(elapsed)"
