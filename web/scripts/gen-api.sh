#!/usr/bin/env bash
# Regenerates src/api/schema.d.ts, the TypeScript types of the API, from the
# server's OpenAPI document.
#
#   scripts/gen-api.sh                       # `anote openapi` ($ANOTE_BIN, default `anote` on PATH)
#   scripts/gen-api.sh path/to/openapi.json  # a saved document
#   scripts/gen-api.sh http://127.0.0.1:8080 # a running server (its /openapi.json)
#   scripts/gen-api.sh --check [source]      # exit 1 when the committed file differs
#
# The output depends only on the document, so the same document always gives
# the same bytes.
set -euo pipefail
cd "$(dirname "$0")/.."

check=false
if [[ ${1:-} == --check ]]; then
  check=true
  shift
fi
source=${1:-}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
document="$work/openapi.json"

case "$source" in
  "")
    "${ANOTE_BIN:-anote}" openapi >"$document"
    ;;
  http://* | https://*)
    url=$source
    [[ $url == *.json ]] || url="${url%/}/openapi.json"
    curl -fsS "$url" -o "$document"
    ;;
  *)
    cp "$source" "$document"
    ;;
esac

# Operation ids name the types of `operations`; where two operations share one
# (e.g. `list` of documents and of shares), each is prefixed with its tag.
node - "$document" <<'JS'
const fs = require("fs");
const file = process.argv[2];
const doc = JSON.parse(fs.readFileSync(file, "utf8"));
const operations = Object.values(doc.paths).flatMap((item) =>
  ["get", "put", "post", "delete", "patch"].map((method) => item[method]).filter(Boolean),
);
const count = {};
for (const op of operations) if (op.operationId) count[op.operationId] = (count[op.operationId] ?? 0) + 1;
for (const op of operations) {
  if (count[op.operationId] > 1) op.operationId = `${op.tags?.[0] ?? "api"}_${op.operationId}`;
}
fs.writeFileSync(file, JSON.stringify(doc));
JS

generated="$work/schema.d.ts"
node_modules/.bin/openapi-typescript "$document" --output "$generated" >/dev/null

target=src/api/schema.d.ts
if $check; then
  if ! diff -u "$target" "$generated"; then
    echo "$target does not match the server's OpenAPI document: run npm run gen:api" >&2
    exit 1
  fi
else
  cp "$generated" "$target"
  echo "wrote $target"
fi
