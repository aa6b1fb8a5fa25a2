"""``/v1/live/sessions``: Live sessions. A WebRTC session is made by ``POST /v1/live/sessions``
(or by forking a stored one) and answered with its id and an SDP answer; a SIP session is made by
a phone call, which the sandbox stands in for with ``POST /__sandbox/live/incoming``
(``control``), and is then accepted, rejected, referred or hung up (``call_common``).

Only a stored session (``session.store: true``; the SDK documents false as the default) can be
forked or have its recording downloaded; a session that never connected (an incoming SIP call,
or one rejected) has no recording. The recording is a short WAV naming the session.
"""

from __future__ import annotations

import struct

from aiohttp import web

from .agent_common import object_at, text_at
from .call_common import CallKind, check_offer, sdp_answer
from .errors import ApiError, invalid_type, missing_parameter, not_one_of
from .forms import read_json
from .keys import STATE
from .state import Call, SandboxState
from .store import JsonObject, new_id
from .validation import check_keys

KIND = CallKind(lambda state: state.live_sessions, "session_id", "Live session", reject_default=None)
FORK_OVERRIDES = ("client", "delegation", "store")
SAMPLE_RATE = 24000  # Hz, 16-bit mono PCM, as Live audio is
SILENCE = SAMPLE_RATE // 10 * 2  # bytes: a tenth of a second


def _store(config: JsonObject, where: str, default: bool) -> bool:
    value = config.get("store")
    if value is None:
        return default
    if not isinstance(value, bool):
        raise invalid_type(f"{where}.store", "a boolean")
    return value


def _offer(body: JsonObject) -> str:
    """The SDP offer of a body's ``transport``, which must be WebRTC."""
    if body.get("transport") is None:
        raise missing_parameter("transport")
    transport = object_at(body["transport"], "transport")
    check_keys(transport, ("type", "sdp"))
    kind = text_at(transport, "type", "transport")
    if kind != "webrtc":
        raise not_one_of(kind, ["webrtc"], "transport.type")
    offer = text_at(transport, "sdp", "transport")
    check_offer(offer, "transport.sdp")
    return offer


def _started(state: SandboxState, offer: str, config: JsonObject, store: bool,
             forked_from: str | None = None) -> JsonObject:
    """Keep a new, connected WebRTC session; answer its id and the SDP answer to ``offer``."""
    session = Call(new_id("live_"), "webrtc", "active", state.clock.now(), config, store, forked_from)
    state.live_sessions[session.id] = session
    return {"session": {"id": session.id},
            "transport": {"type": "webrtc", "sdp": sdp_answer(offer, session.id)}}


def incoming(state: SandboxState, store: bool) -> str:
    """A SIP session waiting to be accepted, as a phone call to the project's number makes one."""
    session = Call(new_id("live_"), "sip", "incoming", state.clock.now(), store=store)
    state.live_sessions[session.id] = session
    return session.id


def _stored(session: Call) -> Call:
    if not session.store:
        raise ApiError(404, f"Live session '{session.id}' was not stored: only a session started "
                            "with session.store=true can be forked or downloaded.")
    if not session.answered:
        raise ApiError(404, f"Live session '{session.id}' never connected, so it has no recording.")
    return session


async def create(request: web.Request) -> web.Response:
    body = await read_json(request)
    check_keys(body, ("session", "transport"))
    if body.get("session") is None:
        raise missing_parameter("session")
    config = object_at(body["session"], "session")
    text_at(config, "model", "session")
    offer = _offer(body)
    answer = _started(request.app[STATE], offer, config, _store(config, "session", False))
    return web.json_response(answer)


async def fork(request: web.Request) -> web.Response:
    """A new WebRTC session continuing a stored one: its settings, but for the overrides given;
    ``store`` is inherited unless given."""
    parent = _stored(KIND.find(request))
    body = await read_json(request)
    check_keys(body, ("transport", "session"))
    overrides = object_at(body.get("session"), "session")
    check_keys(overrides, FORK_OVERRIDES)
    offer = _offer(body)
    store = _store(overrides, "session", parent.store)
    config = {**parent.config, **overrides, "store": store}
    return web.json_response(_started(request.app[STATE], offer, config, store, parent.id))


async def download_recording(request: web.Request) -> web.Response:
    session = _stored(KIND.find(request))
    return web.Response(body=recording(session), content_type="audio/wav")


def recording(session: Call) -> bytes:
    """A WAV file (RIFF; 16-bit mono PCM at 24 kHz): a tenth of a second of silence, and an INFO
    list whose comment is the session's id, so a download shows which session it came from."""
    info = _info(b"ICMT", session.id) + _info(b"ISFT", "files-gateway sandbox")
    chunks = (
        _chunk(b"fmt ", struct.pack("<HHIIHH", 1, 1, SAMPLE_RATE, SAMPLE_RATE * 2, 2, 16))
        + _chunk(b"LIST", b"INFO" + info)
        + _chunk(b"data", bytes(SILENCE))
    )
    return _chunk(b"RIFF", b"WAVE" + chunks)


def _chunk(tag: bytes, data: bytes) -> bytes:
    # RIFF chunks are word-aligned: an odd-sized one is followed by a pad byte.
    return tag + struct.pack("<I", len(data)) + data + b"\0" * (len(data) % 2)


def _info(tag: bytes, text: str) -> bytes:
    return _chunk(tag, text.encode() + b"\0")


async def accept(request: web.Request) -> web.Response:
    """The accept body's ``session`` becomes the session's settings; its ``store`` (when given)
    decides whether the session is stored."""
    session = KIND.find(request)
    body = await read_json(request)
    check_keys(body, ("session",))
    if body.get("session") is None:
        raise missing_parameter("session")
    config = object_at(body["session"], "session")
    text_at(config, "model", "session")
    kind = text_at(config, "type", "session")
    if kind != "live":
        raise not_one_of(kind, ["live"], "session.type")
    store = _store(config, "session", session.store)
    answered = KIND.accept(session, config)
    session.store = store
    return answered


def routes() -> list[web.RouteDef]:
    one = "/v1/live/sessions/{session_id}"
    return [
        web.post("/v1/live/sessions", create),
        web.get(one + "/content", download_recording),
        web.post(one + "/fork", fork),
        web.post(one + "/accept", accept),
        web.post(one + "/hangup", KIND.hangup),
        web.post(one + "/refer", KIND.refer),
        web.post(one + "/reject", KIND.reject),
    ]
