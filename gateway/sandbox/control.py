"""``/__sandbox/*``: what tests use to look inside and steer the sandbox. No key needed.

- ``GET /__sandbox/requests`` lists every API request that reached the sandbox, in order;
  ``DELETE`` clears that log.
- ``POST /__sandbox/files`` seeds a file with any purpose, server-made ones included.
- ``GET|POST /__sandbox/faults`` reads or replaces the injected faults, each a table of
  ``"<METHOD> <path prefix>"`` to a value: ``delay`` (seconds before handling), ``status`` (an
  error answered without handling), ``drop_header`` (a header taken off the answer, as a proxy
  on the way might) and ``idempotent`` (``true``: a repeated ``Idempotency-Key`` from the same
  bearer key replays the first answer, as some OpenAI-compatible upstreams do).
- ``POST /__sandbox/clock`` ``{"advance": seconds}`` moves the sandbox clock forward, to
  reach ``expires_at`` without waiting.
- ``POST /__sandbox/chatkit/threads`` ``{"user", "text"}`` makes a ChatKit thread as an end
  user's browser would, ``text`` its first message, and answers the thread.
- ``POST /__sandbox/live/incoming`` ``{"store": bool}`` and ``POST /__sandbox/realtime/incoming``
  ``{}`` make an incoming SIP call, as a phone call does upstream (announced there by a webhook,
  never made by an API call), and answer ``{"id"}``: the Live session's or the Realtime call's.
- ``POST /__sandbox/safety/alerts`` ``{"response_id", "error_type", "model", "request_paused"}``
  and ``POST /__sandbox/safety/cases`` ``{"entity_identifier", "notice", "reason"}`` make what
  OpenAI's safety reviewers make, and answer the alert or the case.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from . import live_sessions, realtime_calls, safety
from .chatkit_threads import start
from .errors import ApiError, invalid_type
from .forms import read_json
from .keys import FAULTS, REQUEST_LOG, STATE
from .state import FaultRule, FaultSet
from .stored import flag
from .validation import check_keys, optional_str, require_str


async def list_requests(request: web.Request) -> web.Response:
    return web.json_response([entry.to_json() for entry in request.app[REQUEST_LOG]])


async def clear_requests(request: web.Request) -> web.Response:
    request.app[REQUEST_LOG].clear()
    return web.Response(status=204)


async def seed_file(request: web.Request) -> web.Response:
    """Create a file the gateway never saw: ``{"purpose", "filename", "content", "expires_in"}``."""
    body = await read_json(request)
    check_keys(body, ("purpose", "filename", "content", "expires_in"))
    purpose = require_str(body, "purpose")
    filename = optional_str(body, "filename") or "seed.txt"
    content = optional_str(body, "content") or ""
    ttl = body.get("expires_in")
    if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, int)):
        raise invalid_type("expires_in", "an integer")
    record = await request.app[STATE].files.add_bytes(
        content.encode(), filename=filename, purpose=purpose, ttl=ttl
    )
    return web.json_response(record.to_json())


async def get_faults(request: web.Request) -> web.Response:
    return web.json_response(request.app[FAULTS].to_json())


async def set_faults(request: web.Request) -> web.Response:
    """Replace the whole fault set; ``{}`` clears it. Every problem is reported at once."""
    request.app[FAULTS].replace(parse_faults(await read_json(request)))
    return web.json_response(request.app[FAULTS].to_json())


KINDS = ("delay", "status", "drop_header", "idempotent")


def parse_faults(body: dict[str, Any]) -> FaultSet:
    problems = [f"unknown key {k!r}" for k in body if k not in KINDS]
    parsed: dict[str, list[FaultRule]] = {kind: [] for kind in KINDS}
    for kind, rules in parsed.items():
        table = body.get(kind, {})
        if not isinstance(table, dict):
            problems.append(f"{kind}: expected an object")
            continue
        for key, value in table.items():
            method, _, prefix = str(key).partition(" ")
            if not method or not prefix.startswith("/"):
                problems.append(f"{kind} {key!r}: expected '<METHOD> <path-prefix>'")
            elif not _valid_fault_value(kind, value):
                problems.append(f"{kind} {key!r}: bad value {value!r}")
            else:
                rules.append(FaultRule(method.upper(), prefix,
                                       value if isinstance(value, str) else float(value)))
    if problems:
        raise ApiError(400, "Invalid fault set: " + "; ".join(problems))
    return FaultSet(delays=parsed["delay"], statuses=parsed["status"],
                    dropped_headers=parsed["drop_header"], idempotent=parsed["idempotent"])


def _valid_fault_value(kind: str, value: object) -> bool:
    if kind == "drop_header":
        return isinstance(value, str) and bool(value)
    if kind == "idempotent":
        return value is True
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if kind == "delay":
        return value >= 0
    return isinstance(value, int) and 400 <= value <= 599


async def advance_clock(request: web.Request) -> web.Response:
    body = await read_json(request)
    check_keys(body, ("advance",))
    advance = body.get("advance", 0)
    if isinstance(advance, bool) or not isinstance(advance, int | float):
        raise invalid_type("advance", "a number")
    clock = request.app[STATE].clock
    clock.offset += float(advance)
    return web.json_response({"now": clock.now(), "offset": clock.offset})


async def seed_chatkit_thread(request: web.Request) -> web.Response:
    """No API route makes a thread: ChatKit frontends do, in the browser."""
    body = await read_json(request)
    check_keys(body, ("user", "text"))
    user, text = require_str(body, "user"), require_str(body, "text")
    return web.json_response(start(request.app[STATE], user, text))


async def seed_live_call(request: web.Request) -> web.Response:
    body = await read_json(request)
    check_keys(body, ("store",))
    return web.json_response({"id": live_sessions.incoming(request.app[STATE], flag(body, "store", False))})


async def seed_realtime_call(request: web.Request) -> web.Response:
    check_keys(await read_json(request), ())
    return web.json_response({"id": realtime_calls.incoming(request.app[STATE])})


async def seed_safety_alert(request: web.Request) -> web.Response:
    return web.json_response(safety.make_alert(request.app[STATE], await read_json(request)))


async def seed_safety_case(request: web.Request) -> web.Response:
    return web.json_response(safety.make_case(request.app[STATE], await read_json(request)))


def routes() -> list[web.RouteDef]:
    return [
        web.get("/__sandbox/requests", list_requests),
        web.delete("/__sandbox/requests", clear_requests),
        web.post("/__sandbox/files", seed_file),
        web.get("/__sandbox/faults", get_faults),
        web.post("/__sandbox/faults", set_faults),
        web.post("/__sandbox/clock", advance_clock),
        web.post("/__sandbox/chatkit/threads", seed_chatkit_thread),
        web.post("/__sandbox/live/incoming", seed_live_call),
        web.post("/__sandbox/realtime/incoming", seed_realtime_call),
        web.post("/__sandbox/safety/alerts", seed_safety_alert),
        web.post("/__sandbox/safety/cases", seed_safety_case),
    ]
