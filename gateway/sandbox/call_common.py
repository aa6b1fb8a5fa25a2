"""What Live sessions and Realtime calls share: the SDP answer to a WebRTC offer, finding a call
by id, and the SIP controls (accept, reject, refer, hang up) with the state each one needs.

A WebRTC call is active from the moment it is made. A SIP call starts ``incoming``: only then
can it be accepted, which makes it active, or rejected, which ends it as ``rejected`` (the SDK
documents both as for an incoming SIP call). Any active call can be referred and hung up: the SDK
describes referring as for SIP calls only, but what the upstream answers for a WebRTC one is not
known, so the sandbox does not guess. A referred call stays active (the transfer completes, or
fails, later); hanging up ends it. Every control answers 200 with an empty body: the SDK sends
``Accept: */*`` and returns None.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from .errors import ApiError, invalid_type, invalid_value, missing_parameter
from .forms import read_json
from .keys import STATE
from .state import Call, SandboxState
from .validation import check_keys, require_str

CRLF = "\r\n"
SIP_STATUSES = range(300, 700)  # a rejection is a SIP final response, 3xx to 6xx


def check_offer(offer: str, param: str) -> None:
    """Refuse what is no SDP at all (RFC 8866: it opens with ``v=0``); an offer is not checked
    further, and one without media sections gets an answer without any."""
    if offer.lstrip().split("\n", 1)[0].strip() != "v=0":
        raise invalid_value(param, "expected an SDP offer, which begins with 'v=0'.")
    if any(line.startswith("m=") and len(line.split()) < 3 for line in offer.split("\n")):
        raise invalid_value(param, "expected every 'm=' line to name a media, a port and a protocol.")


def sdp_answer(offer: str, call_id: str) -> str:
    """An answer with one section per section of the offer, in its order and with its mids, as a
    browser's ``setRemoteDescription`` requires. ICE and DTLS values derive from the call's id,
    so the same call always answers the same."""
    digest = hashlib.sha256(call_id.encode()).hexdigest()
    fingerprint = ":".join(digest[i : i + 2] for i in range(0, 64, 2)).upper()
    sections = _sections(offer)
    mids = [mid for _, mid, _ in sections]
    lines = ["v=0", f"o=- {int(digest[:15], 16)} 2 IN IP4 127.0.0.1", "s=-", "t=0 0"]
    if mids:
        lines.append(f"a=group:BUNDLE {' '.join(mids)}")
    for media, mid, rtpmaps in sections:
        kind, _port, proto, *formats = media.split()
        # An audio answer picks one codec: Opus when offered, as OpenAI's does.
        chosen = next((pt for pt, name in rtpmaps.items() if name.lower().startswith("opus/")),
                      formats[0] if formats else "0")
        answered = formats if "SCTP" in proto else [chosen]
        lines += [f"{kind} 9 {proto} {' '.join(answered)}", "c=IN IP4 0.0.0.0", f"a=mid:{mid}",
                  f"a=ice-ufrag:{digest[:8]}", f"a=ice-pwd:{digest[8:32]}",
                  f"a=fingerprint:sha-256 {fingerprint}", "a=setup:active"]
        if "SCTP" in proto:
            lines.append("a=sctp-port:5000")
        else:
            lines += ["a=rtcp-mux", "a=sendrecv"]
            if chosen in rtpmaps:
                lines.append(f"a=rtpmap:{chosen} {rtpmaps[chosen]}")
    return CRLF.join(lines) + CRLF


def _sections(offer: str) -> list[tuple[str, str, dict[str, str]]]:
    """Each media section of the offer: its ``m=`` line, its mid (else its index) and its
    payload types' ``rtpmap`` names."""
    found: list[tuple[str, str, dict[str, str]]] = []
    for line in (raw.strip() for raw in offer.replace(CRLF, "\n").split("\n")):
        if line.startswith("m="):
            found.append((line, str(len(found)), {}))
        elif found and line.startswith("a=mid:"):
            media, _, rtpmaps = found[-1]
            found[-1] = (media, line[len("a=mid:"):], rtpmaps)
        elif found and line.startswith("a=rtpmap:"):
            pt, _, name = line[len("a=rtpmap:"):].partition(" ")
            found[-1][2][pt] = name
    return found


def no_content() -> web.Response:
    return web.Response(status=200)


@dataclass(frozen=True)
class CallKind:
    """Live sessions or Realtime calls: where they are kept, their path parameter, what errors
    call them, and the SIP status a rejection sends when none is given (None: it is required)."""

    table: Callable[[SandboxState], dict[str, Call]]
    param: str
    noun: str
    reject_default: int | None

    def find(self, request: web.Request) -> Call:
        call_id = request.match_info[self.param]
        call = self.table(request.app[STATE]).get(call_id)
        if call is None:
            raise ApiError(404, f"{self.noun} with id '{call_id}' not found.")
        return call

    def expect(self, call: Call, status: str, verb: str, *, sip_only: bool) -> None:
        """A 400 unless ``call`` is ``status`` (and over SIP, when ``sip_only``)."""
        if sip_only and call.transport != "sip":
            raise ApiError(400, f"{self.noun} '{call.id}' is a WebRTC call; only an {status} SIP "
                                f"call can be {verb}.")
        if call.status != status:
            kind = "SIP call" if sip_only else "call"
            raise ApiError(400, f"{self.noun} '{call.id}' is {call.status}; only an {status} {kind} "
                                f"can be {verb}.")

    async def reject(self, request: web.Request) -> web.Response:
        call = self.find(request)
        body = await read_json(request)
        check_keys(body, ("status_code",))
        code = body.get("status_code", self.reject_default)
        if code is None:
            raise missing_parameter("status_code")
        if isinstance(code, bool) or not isinstance(code, int):
            raise invalid_type("status_code", "an integer")
        if code not in SIP_STATUSES:
            raise invalid_value("status_code", f"expected a value between 300 and 699, but got {code} "
                                               "instead.")
        self.expect(call, "incoming", "rejected", sip_only=True)
        call.status = "rejected"
        return no_content()

    async def refer(self, request: web.Request) -> web.Response:
        call = self.find(request)
        body = await read_json(request)
        check_keys(body, ("target_uri",))
        if not require_str(body, "target_uri").strip():
            raise invalid_value("target_uri", "expected a nonblank URI such as tel:+14155550123 or "
                                              "sip:agent@example.com.")
        self.expect(call, "active", "referred", sip_only=False)
        return no_content()

    async def hangup(self, request: web.Request) -> web.Response:
        """Any active call, SIP or WebRTC, can be ended this way."""
        call = self.find(request)
        check_keys(await read_json(request), ())
        self.expect(call, "active", "hung up", sip_only=False)
        call.status = "ended"
        return no_content()

    def accept(self, call: Call, config: dict[str, object]) -> web.Response:
        """Answer an incoming SIP call with the settings the accept request gave."""
        self.expect(call, "incoming", "accepted", sip_only=True)
        call.config = dict(config)
        call.status = "active"
        return no_content()
