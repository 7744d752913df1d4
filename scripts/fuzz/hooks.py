"""Authentication and state for the API fuzz run (scripts/fuzz.sh).

Every token comes from a fresh account registered on the command API
(ANOTE_FUZZ_COMMAND_URL): the fuzzer may log a session out, change its
password or delete its account, and a 401 then fetches a new one.

Each account gets a note, and half of the requests meant to be valid name
it instead of a random id, so that the routes of a note answer with real
data rather than 404. What a valid request needs beyond what OpenAPI can
state is given here: an `Anote-Min-Position` is valid only if the log has an
event there, a list `cursor` only as the previous page returned it, and a
note's `version` and `at` exclude each other. Requests meant to be valid get
the newest position a command replied with (so that, as the API promises, a
read sees every write before it), no cursor and no `at` beside a `version`;
requests meant to be invalid keep whatever was generated.
"""

import io
import os
import random
import uuid
import zipfile

import requests
import schemathesis

COMMAND_URL = os.environ["ANOTE_FUZZ_COMMAND_URL"]
PASSWORD = "fuzz correct horse battery"
# The server's default ANOTE_DOCUMENT_MAX_BYTES.
DOCUMENT_MAX_BYTES = 50 * 1024 * 1024
# The newest account's note, and the newest position a command replied
# with: an event the log has.
known_note = None
known_position = "0-0"


def note_position(position):
    """Remembers `position` if it is newer than the one known."""
    global known_position

    def key(p):
        return tuple(int(part) for part in p.split("-"))

    if key(position) > key(known_position):
        known_position = position


@schemathesis.serializer("application/zip")
def zip_of_generated(ctx, value):
    """An import's archive: a zip whose Markdown files hold the generated
    bytes (so the front matter and body parsers see them), or, for bytes of
    an odd length and for values that are not bytes (a request meant to be
    invalid), the value as it is (not an archive)."""
    if not isinstance(value, bytes):
        return str(value).encode("utf-8", "surrogatepass")  # not a zip: refused
    data = value
    if len(data) % 2:
        return data
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("Fuzz/note.md", data)
        archive.writestr("Fuzz/front.md", b"---\n" + data + b"\n---\nbody")
        archive.writestr("Fuzz/note files/doc.txt", data)
    return out.getvalue()


@schemathesis.auth(refresh_interval=60)
class FreshAccount:
    """A bearer token of an account registered for it."""

    def get(self, case, context):
        global known_note
        name = "fuzz" + uuid.uuid4().hex[:12]
        registered = requests.post(
            f"{COMMAND_URL}/v1/accounts",
            json={"username": name, "password": PASSWORD, "display_name": "Fuzz"},
            timeout=30,
        )
        registered.raise_for_status()
        session = requests.post(
            f"{COMMAND_URL}/v1/sessions",
            json={"username": name, "password": PASSWORD},
            timeout=30,
        )
        session.raise_for_status()
        token = session.json()["access_token"]
        note = requests.post(
            f"{COMMAND_URL}/v1/notes",
            json={"title": "Fuzz", "body": "# Fuzz\n\nsome *text*", "tags": ["fuzz"]},
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        note.raise_for_status()
        known_note = note.json()["id"]
        note_position(note.json()["position"])
        return token

    def set(self, case, data, context):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"


@schemathesis.hook
def before_call(context, case, kwargs):
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return
    if "Anote-Min-Position" in case.operation.headers:
        case.headers = case.headers or {}
        case.headers["Anote-Min-Position"] = known_position
    if case.query and "cursor" in case.query:
        del case.query["cursor"]
    if case.query and "version" in case.query and "at" in case.query:
        del case.query["at"]
    if known_note and case.path_parameters and "id" in case.path_parameters and random.random() < 0.5:
        case.path_parameters["id"] = known_note
    # A document's size is limited by the server's settings (50 MiB by
    # default), which the document cannot state.
    body = case.body if isinstance(case.body, dict) else None
    if case.path.endswith("/documents") and body and isinstance(body.get("size"), int):
        body["size"] = min(body["size"], DOCUMENT_MAX_BYTES)


@schemathesis.hook
def after_call(context, case, response):
    if response.status_code >= 300:
        return
    for name, value in response.headers.items():
        if name.lower() == "anote-position":
            note_position(value[0] if isinstance(value, list) else value)
