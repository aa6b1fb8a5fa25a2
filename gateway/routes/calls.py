"""Live sessions and Realtime calls: voice sessions a server starts over HTTP (with a browser's
WebRTC offer), or that a phone call starts (SIP, announced to the project only by webhook).

Upstream, whoever holds an id can download a stored Live session's recording, fork it to go on
with what was said, or hang up or transfer (`refer`) the call. Here each is its starter's, like
a file: the recording downloads like a skill's bundle, a fork is a reference to the session, and
the rest are changes. One the gateway never saw start (a SIP call,
or a WebRTC call a browser made with a client secret) is untracked, so refused, until an org
accepts or rejects it: the first answer the upstream takes makes it that org's."""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.typedefs import Handler

from gateway import keys
from gateway.enforce import decide_file, path_id, raw_id, scope
from gateway.errors import store_unavailable
from gateway.http_client import UpstreamResponse
from gateway.policy import Action
from gateway.records import INHERITED_FLAGS, FileRecord
from gateway.references import inherited_flags
from gateway.routes import objects, passthrough
from gateway.routes.forward import checked_json, send
from gateway.routes.holders import Holder, new_record
from gateway.routes.responses import json_response, upstream_json
from gateway.store import StoreUnavailable
from gateway.upstream import relay

# Neither API is in the purpose matrix: files named there are checked for use, not purpose.
LIVE = Holder("live.session", "live", "/v1/live/sessions", None, deletable=False,
              stop_step="hangup", checks_purpose=False)
CALLS = Holder("realtime.call", "realtime", "/v1/realtime/calls", None, deletable=False,
               stop_step="hangup", checks_purpose=False)
OBJECT = "/{object_id}"


async def create_live_session(request: web.Request) -> web.StreamResponse:
    raw, _, records = await checked_json(request, LIVE.refs)
    response = await send(request, LIVE.collection, body=raw)
    return await _recorded_session(request, response, inherited_flags(records))


async def fork_live_session(request: web.Request) -> web.StreamResponse:
    """A new session that goes on from a stored one: a reference to the one forked, whose
    restrictions the new one takes over with those of the files its body names."""
    forked = await objects.decided(request, LIVE, Action.REFERENCE)
    raw: bytes | None = None
    records: dict[str, FileRecord] = {}
    if request.body_exists:
        raw, _, records = await checked_json(request, LIVE.refs)
    response = await send(request, LIVE.collection + OBJECT + "/fork", body=raw)
    flags = inherited_flags(records) | (forked.flags & INHERITED_FLAGS if forked else frozenset())
    return await _recorded_session(request, response, flags)


async def _recorded_session(
    request: web.Request, response: UpstreamResponse, flags: frozenset[str]
) -> web.StreamResponse:
    if response.status not in (200, 201):
        return await relay(request, response)
    obj = await upstream_json(response)
    session = obj.get("session") if isinstance(obj, dict) else None
    await objects.record_created(request, LIVE, response,
                                 session.get("id") if isinstance(session, dict) else None, flags)
    return json_response(request, obj, response)


async def create_call(request: web.Request) -> web.StreamResponse:
    """A WebRTC call: an SDP offer (alone, or in a form with the session's configuration). Its
    id comes back only in `Location`; the answer is the upstream's SDP, relayed as it is."""
    response, records = await passthrough.send_checked(request, CALLS.collection, CALLS.api)
    if response.status not in (200, 201):
        return await relay(request, response)
    call_id = call_id_of(response.headers.get("Location", ""))
    try:
        await objects.record_created(request, CALLS, response, call_id, inherited_flags(records))
    except BaseException:
        response.release()
        raise
    return await relay(request, response)


def call_id_of(location: str) -> str | None:
    """The call a `Location` names: `/v1/realtime/calls/{id}`, or the same as an absolute URL
    or below an upstream's own path prefix (an OpenAI-compatible upstream's choice)."""
    head, _, call_id = urlsplit(location).path.rstrip("/").rpartition("/")
    return call_id if head.endswith("/realtime/calls") and call_id else None


def claiming(holder: Holder, route: str) -> Handler:
    """Accept or reject an incoming call: the upstream announced it by webhook, never through
    the gateway, so an unclaimed one is the caller's if the upstream takes their answer. It is
    recorded only then: one phone call has an id in each API, and the upstream takes the first
    answer through either, so a refused answer must not make the other id the refused org's."""

    async def handler(request: web.Request) -> web.StreamResponse:
        # The decision's one audit event says how it ended: with the upstream's answer, or the
        # store's failure to keep a claim the upstream already took.
        async with scope(request, Action.DELETE, raw_id(request, "object_id"),
                         api=holder.api) as decision:
            object_id = path_id(request, "object_id")
            claim = new_record(request, object_id, holder.kind, "", frozenset())
            record = await decide_file(request, decision, Action.DELETE, object_id, fallback=claim)
            claimed = record is claim
            raw: bytes | None = None
            if request.body_exists:
                raw, _, records = await checked_json(request, holder.refs,
                                                     holder=None if claimed else record)
                claim = replace(claim, flags=inherited_flags(records))
            response = await send(request, route, decision, body=raw)
            # Whatever success it answers with: the SDK reads no body here.
            if claimed and 200 <= response.status < 300:
                try:
                    await request.app[keys.STORE].put_if_absent(claim)
                except StoreUnavailable as exc:
                    response.release()
                    raise decision.refused(store_unavailable()) from exc
        return await relay(request, response)

    return handler


def add_routes(router: web.UrlDispatcher) -> None:
    """Named steps first, before each holder's own catch-all takes them for a change. Hang-up,
    refer and anything else below a call or session are changes of it (objects.object_routes)."""
    content = LIVE.collection + OBJECT + "/content"
    router.add_get(content, objects.bundle_content(LIVE, content))
    router.add_post(LIVE.collection + OBJECT + "/fork", fork_live_session)
    for holder in (LIVE, CALLS):
        for step in ("accept", "reject"):
            route = holder.collection + OBJECT + "/" + step
            router.add_post(route, claiming(holder, route))
    objects.add_routes(router, LIVE, creating=create_live_session)
    objects.add_routes(router, CALLS, creating=create_call)
