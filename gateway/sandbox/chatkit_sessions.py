"""``/v1/chatkit/sessions``: the ChatKit beta's sessions, which a server makes so that an end
user's browser can talk to a workflow with the session's ``client_secret``.

A session answers every setting resolved: what was given, else its documented default (tracing
and history on, automatic titling on, uploads off, 10 requests a minute, 10 minutes to live).
The workflow itself is never run and its id never checked: no API lists workflows. A session
past ``expires_at`` answers ``expired``; cancelling an active one makes it ``cancelled``, and an
expired or cancelled one is answered as it is.
"""

from __future__ import annotations

from aiohttp import web

from .agent_common import joined, object_at, text_at
from .errors import ApiError, invalid_type, invalid_value, missing_parameter, not_one_of
from .forms import read_json
from .keys import STATE
from .state import SandboxState, Stored
from .store import JsonObject, new_id
from .stored import lookup
from .validation import check_keys, require_str

NOT_FOUND = "Session with id '{}' not found."
FIELDS = ("user", "workflow", "chatkit_configuration", "expires_after", "rate_limits")
CONFIGURATION = ("automatic_thread_titling", "file_upload", "history")
MAX_EXPIRY = 600  # expires_after.seconds; also the default, "10 minutes"
MAX_FILE_MB = 512  # file_upload.max_file_size; also its default
DEFAULT_MAX_FILES = 10
DEFAULT_PER_MINUTE = 10
MAX_STATE_KEY = 64


def _switch(given: JsonObject, key: str, where: str, default: bool) -> bool:
    value = given.get(key)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise invalid_type(joined(where, key), "a boolean")
    return value


def _count(given: JsonObject, key: str, where: str, most: int | None = None) -> int | None:
    """A positive integer, at most ``most`` where the API caps it; None when not given, so that
    callers can fall back with ``or`` (a given value is never 0)."""
    value, param = given.get(key), joined(where, key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid_type(param, "an integer")
    if most is not None and not 1 <= value <= most:
        raise invalid_value(param, f"expected a value between 1 and {most}, but got {value} instead.")
    if value < 1:
        raise invalid_value(param, f"expected a value of at least 1, but got {value} instead.")
    return value


def _user(body: JsonObject) -> str:
    user = require_str(body, "user")
    if not user:
        raise ApiError(
            400,
            "Invalid 'user': string too short. Expected a string with minimum length 1, "
            "but got an empty string instead.",
            param="user",
            code="string_below_min_length",
        )
    return user


def _state_variables(value: object) -> JsonObject | None:
    """Keys of up to 64 characters, each naming a string, number or boolean; none is null."""
    name = "workflow.state_variables"
    if value is None:
        return None
    if not isinstance(value, dict) or not all(isinstance(v, str | int | float) for v in value.values()):
        raise invalid_type(name, "an object of strings, numbers and booleans")
    for key in value:
        if len(key) > MAX_STATE_KEY:
            raise invalid_value(name, f"a key is longer than {MAX_STATE_KEY} characters: {key!r}.")
    return dict(value)


def _workflow(body: JsonObject) -> JsonObject:
    if body.get("workflow") is None:
        raise missing_parameter("workflow")
    given = object_at(body["workflow"], "workflow")
    check_keys(given, ("id", "version", "state_variables", "tracing"))
    tracing = object_at(given.get("tracing"), "workflow.tracing")
    check_keys(tracing, ("enabled",))
    version = given.get("version")
    if version is not None and not isinstance(version, str):
        raise invalid_type("workflow.version", "a string")
    return {
        "id": text_at(given, "id", "workflow"),
        "version": version,
        "state_variables": _state_variables(given.get("state_variables")),
        "tracing": {"enabled": _switch(tracing, "enabled", "workflow.tracing", True)},
    }


def _configuration(body: JsonObject) -> JsonObject:
    where = "chatkit_configuration"
    given = object_at(body.get(where), where)
    check_keys(given, CONFIGURATION)
    titling, uploads, history = (object_at(given.get(key), joined(where, key)) for key in CONFIGURATION)
    check_keys(titling, ("enabled",))
    check_keys(uploads, ("enabled", "max_file_size", "max_files"))
    check_keys(history, ("enabled", "recent_threads"))
    at_titling, at_uploads, at_history = (joined(where, key) for key in CONFIGURATION)
    return {
        "automatic_thread_titling": {"enabled": _switch(titling, "enabled", at_titling, True)},
        "file_upload": {
            "enabled": _switch(uploads, "enabled", at_uploads, False),
            "max_file_size": _count(uploads, "max_file_size", at_uploads, MAX_FILE_MB) or MAX_FILE_MB,
            "max_files": _count(uploads, "max_files", at_uploads) or DEFAULT_MAX_FILES,
        },
        "history": {
            "enabled": _switch(history, "enabled", at_history, True),
            "recent_threads": _count(history, "recent_threads", at_history),
        },
    }


def _lifetime(body: JsonObject) -> int:
    if body.get("expires_after") is None:
        return MAX_EXPIRY
    given = object_at(body["expires_after"], "expires_after")
    check_keys(given, ("anchor", "seconds"))
    anchor = text_at(given, "anchor", "expires_after")
    if anchor != "created_at":
        raise not_one_of(anchor, ["created_at"], "expires_after.anchor")
    if given.get("seconds") is None:
        raise missing_parameter("expires_after.seconds")
    return _count(given, "seconds", "expires_after", MAX_EXPIRY) or MAX_EXPIRY


def _per_minute(body: JsonObject) -> int:
    given = object_at(body.get("rate_limits"), "rate_limits")
    check_keys(given, ("max_requests_per_1_minute",))
    return _count(given, "max_requests_per_1_minute", "rate_limits") or DEFAULT_PER_MINUTE


def _current(state: SandboxState, session: JsonObject) -> JsonObject:
    """Expiry is noticed when the session is next answered, as the clock may have been moved."""
    if session["status"] == "active" and state.clock.now() >= session["expires_at"]:
        session["status"] = "expired"
    return session


async def create(request: web.Request) -> web.Response:
    state = request.app[STATE]
    body = await read_json(request)
    check_keys(body, FIELDS)
    user, workflow, configuration = _user(body), _workflow(body), _configuration(body)
    lifetime, per_minute = _lifetime(body), _per_minute(body)
    session: JsonObject = {
        "id": new_id("cksess_"),
        "object": "chatkit.session",
        "user": user,
        "workflow": workflow,
        "status": "active",
        "expires_at": state.clock.now() + lifetime,
        # The sandbox's own token: it authenticates nothing, as no browser-facing API is emulated.
        "client_secret": new_id("ek_", 32),
        "rate_limits": {"max_requests_per_1_minute": per_minute},
        "max_requests_per_1_minute": per_minute,
        "chatkit_configuration": configuration,
    }
    state.chatkit_sessions[session["id"]] = Stored(session)
    return web.json_response(session)


async def cancel(request: web.Request) -> web.Response:
    state = request.app[STATE]
    stored = lookup(state.chatkit_sessions, request.match_info["session_id"], NOT_FOUND)
    session = _current(state, stored.object)
    if session["status"] == "active":
        session["status"] = "cancelled"
    return web.json_response(session)


def routes() -> list[web.RouteDef]:
    return [
        web.post("/v1/chatkit/sessions", create),
        web.post("/v1/chatkit/sessions/{session_id}/cancel", cancel),
    ]
