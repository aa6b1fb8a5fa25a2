"""``/v1/safety``: safety alerts and cases, which a project only reads, by the id a webhook gave
it (``safety.alert.created``; ``safety.warning_issued`` and ``safety.deactivation_issued``).
OpenAI's reviewers make them; the sandbox's control routes (``control``) stand in for those:
an alert is about one response, a case about one safety identifier (an end user).
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable

from aiohttp import web

from . import objects
from .errors import ApiError, invalid_type, not_one_of
from .keys import STATE
from .state import SandboxState
from .store import JsonObject, new_id
from .stored import flag
from .validation import check_keys, optional_str, require_str

# The customer-safe ``reason`` each ``error_type`` is described by.
REASONS = {
    "potentially_unintended_data_transfer": "Potentially unintended data transfer.",
    "potentially_unintended_data_access": "Potentially unintended data access.",
    "potentially_unintended_destructive_activity": "Potentially unintended destructive activity.",
    "other": "Other potentially unintended activity.",
}
NOTICES = ("warning", "deactivation")


def _hex_id(prefix: str) -> str:
    # OpenAI's alert ids are the prefix and 32 hex digits (38 characters, the documented maximum).
    return prefix + secrets.token_hex(16)


def make_alert(state: SandboxState, body: JsonObject) -> JsonObject:
    """``{"response_id", "error_type", "model", "request_paused"}``: an alert about that response.
    Its model is the stored response's, else the one given, else the sandbox's default."""
    check_keys(body, ("response_id", "error_type", "model", "request_paused"))
    response_id = require_str(body, "response_id")
    error_type = optional_str(body, "error_type") or "other"
    if error_type not in REASONS:
        raise not_one_of(error_type, list(REASONS), "error_type")
    stored = state.responses.get(response_id)
    model = stored.object["model"] if stored else optional_str(body, "model") or objects.DEFAULT_MODEL
    alert: JsonObject = {
        "id": _hex_id("alert_"),
        "object": "safety.alert",
        "created_at": state.clock.now(),
        "request_id": _hex_id("req_"),
        "response_id": response_id,
        "model": model,
        "request_paused": flag(body, "request_paused", True),
        "error_type": error_type,
        "reason": REASONS[error_type],
    }
    state.safety_alerts[alert["id"]] = alert
    return alert


def make_case(state: SandboxState, body: JsonObject) -> JsonObject:
    """``{"entity_identifier", "notice", "reason"}``: a case about that safety identifier; the
    notice is a ``warning`` unless given, the reason null unless given."""
    check_keys(body, ("entity_identifier", "notice", "reason"))
    entity = require_str(body, "entity_identifier")
    notice = optional_str(body, "notice") or "warning"
    if notice not in NOTICES:
        raise not_one_of(notice, NOTICES, "notice")
    reason = body.get("reason")
    if reason is not None and not isinstance(reason, str):
        raise invalid_type("reason", "a string")
    case: JsonObject = {
        "id": new_id("C-", 12),
        "object": "safety.case",
        "created_at": state.clock.now(),
        "entity_identifier": entity,
        "reason": reason,
        "notice": {"type": notice},
    }
    state.safety_cases[case["id"]] = case
    return case


Table = Callable[[SandboxState], dict[str, JsonObject]]


def _retrieve(table: Table, noun: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def retrieve(request: web.Request) -> web.Response:
        object_id = request.match_info["id"]
        found = table(request.app[STATE]).get(object_id)
        if found is None:
            raise ApiError(404, f"{noun} with id '{object_id}' not found.")
        return web.json_response(found)

    return retrieve


def routes() -> list[web.RouteDef]:
    return [
        web.get("/v1/safety/alerts/{id}", _retrieve(lambda state: state.safety_alerts, "Safety alert")),
        web.get("/v1/safety/cases/{id}", _retrieve(lambda state: state.safety_cases, "Safety case")),
    ]
