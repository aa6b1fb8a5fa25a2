"""``/v1/realtime/calls``: Realtime calls. ``POST /v1/realtime/calls`` takes a WebRTC SDP offer
and answers ``201 Created`` with the SDP answer as the body (``application/sdp``) and the new
call's URL in ``Location``, the only place its ``rtc_`` id appears. A SIP call is made by a phone
call, which the sandbox stands in for with ``POST /__sandbox/realtime/incoming`` (``control``),
and is then accepted, rejected, referred or hung up (``call_common``).

The offer comes either as multipart/form-data (an ``sdp`` part and an optional JSON ``session``
part), or as the bare offer with ``Content-Type: application/sdp``, as browsers send it and as
the SDK does when no ``session`` is given.
"""

from __future__ import annotations

import json

from aiohttp import web

from .call_common import CallKind, check_offer, sdp_answer
from .errors import ApiError, invalid_type, missing_parameter, not_one_of, unexpected_properties
from .forms import read_form, read_json
from .keys import STATE
from .state import Call, SandboxState
from .store import JsonObject, new_id

# With no status given, a rejection declines the call: SIP 603 Decline.
KIND = CallKind(lambda state: state.realtime_calls, "call_id", "Call", reject_default=603)
MAX_OFFER_BYTES = 1 << 20


def _session_type(config: JsonObject, param: str) -> None:
    value = config.get("type")
    if value is None:
        raise missing_parameter(param)
    if value != "realtime":
        raise not_one_of(value, ["realtime"], param)


async def _offer_and_session(request: web.Request) -> tuple[str, JsonObject]:
    if request.content_type == "application/sdp":
        raw = await request.read()
        if len(raw) > MAX_OFFER_BYTES:
            raise ApiError(400, "The SDP offer is too large.", param="sdp")
        offer, config = raw.decode("utf-8", errors="replace"), {}
    elif request.content_type == "multipart/form-data":
        form = await read_form(request)
        unexpected = [name for name in form.names if name not in ("sdp", "session")]
        if unexpected:
            raise unexpected_properties(unexpected)
        offer = form.fields.get("sdp") or ""
        if not offer:
            raise missing_parameter("sdp")
        config = _session(form.fields.get("session"))
    else:
        raise ApiError(400, f"Invalid Content-Type header ({request.content_type}), expected "
                            "multipart/form-data or application/sdp.")
    check_offer(offer, "sdp")
    return offer, config


def _session(text: str | None) -> JsonObject:
    """The ``session`` part: a JSON object whose ``type`` is ``realtime``."""
    if text is None:
        return {}
    try:
        config = json.loads(text)
    except ValueError:
        raise invalid_type("session", "a JSON object") from None
    if not isinstance(config, dict):
        raise invalid_type("session", "a JSON object")
    _session_type(config, "session.type")
    return config


async def create(request: web.Request) -> web.Response:
    offer, config = await _offer_and_session(request)
    state = request.app[STATE]
    call = Call(new_id("rtc_"), "webrtc", "active", state.clock.now(), config)
    state.realtime_calls[call.id] = call
    return web.Response(
        status=201,
        body=sdp_answer(offer, call.id).encode(),
        content_type="application/sdp",
        headers={"Location": f"/v1/realtime/calls/{call.id}"},
    )


def incoming(state: SandboxState) -> str:
    """A SIP call waiting to be accepted, as a phone call to the project's number makes one."""
    call = Call(new_id("rtc_"), "sip", "incoming", state.clock.now())
    state.realtime_calls[call.id] = call
    return call.id


async def accept(request: web.Request) -> web.Response:
    """The accept body is the session's configuration, ``type: realtime`` and all."""
    call = KIND.find(request)
    config = await read_json(request)
    _session_type(config, "type")
    return KIND.accept(call, config)


def routes() -> list[web.RouteDef]:
    one = "/v1/realtime/calls/{call_id}"
    return [
        web.post("/v1/realtime/calls", create),
        web.post(one + "/accept", accept),
        web.post(one + "/hangup", KIND.hangup),
        web.post(one + "/refer", KIND.refer),
        web.post(one + "/reject", KIND.reject),
    ]
