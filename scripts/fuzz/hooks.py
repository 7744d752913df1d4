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
a real position (the note's), no cursor and no `at` beside a `version`;
requests meant to be invalid keep whatever was generated.
"""

import os
import random
import uuid

import requests
import schemathesis

COMMAND_URL = os.environ["ANOTE_FUZZ_COMMAND_URL"]
PASSWORD = "fuzz correct horse battery"
# The newest account's note, and the position of its creation: an event
# the log has.
known_note = None
known_position = "0-0"


@schemathesis.auth(refresh_interval=60)
class FreshAccount:
    """A bearer token of an account registered for it."""

    def get(self, case, context):
        global known_note, known_position
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
        known_note, known_position = note.json()["id"], note.json()["position"]
        return token

    def set(self, case, data, context):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"


@schemathesis.hook
def before_call(context, case, kwargs):
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return
    for name in list(case.headers or {}):
        if name.lower() == "anote-min-position":
            case.headers[name] = known_position
    if case.query and "cursor" in case.query:
        del case.query["cursor"]
    if case.query and "version" in case.query and "at" in case.query:
        del case.query["at"]
    if known_note and case.path_parameters and "id" in case.path_parameters and random.random() < 0.5:
        case.path_parameters["id"] = known_note
