"""ChatKit: a server creates sessions for its end users (`user`), whose browsers then talk to
the upstream with the session's client secret; their threads keep what the end user said. The
gateway never sees a thread made, so it owns the end users instead: the first org to open a
session for a `user` owns that end user, and no other org can open a session as them (which
would hand its browser their threads) or read, list or delete their threads."""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from aiohttp.typedefs import Handler

from gateway import keys
from gateway.decisions import DecisionScope
from gateway.enforce import decide_file, decide_record, plain_or_refused, scope
from gateway.errors import invalid_request, upstream_unavailable
from gateway.http_client import UpstreamResponse
from gateway.policy import Action
from gateway.routes import objects
from gateway.routes.forward import fetch, read_body, send
from gateway.routes.holders import Holder, new_record
from gateway.routes.paged import ListSpec, filtered_list
from gateway.routes.responses import json_response, upstream_json
from gateway.upstream import relay

API = "chatkit"
USER_KIND = "chatkit.user"
SESSIONS = Holder("chatkit.session", API, "/v1/chatkit/sessions", None, deletable=False,
                  stop_step="cancel")
THREADS = "/v1/chatkit/threads"
THREAD = THREADS + "/{thread_id}"
# `before` pages backwards, which a filtered list cannot; `user` narrows it upstream.
THREAD_LIST = ListSpec(THREADS, THREADS, 100, 20, ("order",))


def user_record_id(user: object) -> str:
    """An end user's record: named by a digest, since `user` is any string the server chose."""
    if not isinstance(user, str) or not user:
        raise invalid_request("user must be a non-empty string", param="user")
    return "chatkit-user-" + hashlib.sha256(user.encode()).hexdigest()[:40]


def thread_end_user(item: dict[str, Any]) -> str:
    """The record of the end user a thread belongs to; empty when it names none."""
    user = item.get("user")
    return user_record_id(user) if isinstance(user, str) and user else ""


async def create_session(request: web.Request) -> web.StreamResponse:
    raw, body = await read_body(request)
    user = body.get("user") if isinstance(body, dict) else None
    end_user = user_record_id(user)
    async with scope(request, Action.REFERENCE, end_user, api=API) as decision:
        store = request.app[keys.STORE]
        # First sight wins: whoever opens the first session for a new end user owns them. One
        # with threads from before the gateway stays untracked until backfill says whose: else
        # any org could open a session first and take those threads.
        known = await store.get(end_user)
        if known is None and not await _has_threads(request, str(user)):
            claim = new_record(request, end_user, USER_KIND, "", frozenset())
            # Another org's session may have claimed them just before: whoever did, owns them.
            known = claim if await store.put_if_absent(claim) else await store.get(end_user)
        owner = decide_record(request, decision, Action.REFERENCE, end_user, known)
    response = await send(request, SESSIONS.collection, body=raw)
    if response.status != 200:
        return await relay(request, response)
    obj = await upstream_json(response)
    await objects.record_created(request, SESSIONS, response, obj.get("id"),
                                 owner.flags if owner is not None else frozenset())
    return json_response(request, obj, response)


async def _has_threads(request: web.Request, user: str) -> bool:
    listed = await fetch(request, "GET", f"{THREADS}?{urlencode({'user': user, 'limit': 1})}",
                         THREADS)
    if listed.status != 200:
        listed.release()
        raise upstream_unavailable()
    page = await upstream_json(listed)
    return bool(page.get("data")) if isinstance(page, dict) else True


async def _upstream_thread(request: web.Request, thread_id: str) -> UpstreamResponse:
    return await fetch(request, "GET", f"{THREADS}/{thread_id}", THREAD)


async def _decide_thread(
    request: web.Request, decision: DecisionScope, action: Action, thread_id: str,
    response: UpstreamResponse,
) -> Any:
    """The thread as the upstream answered it, once its end user's owner decided `action`. A
    thread naming no end user is decided by its own id, so refused as untracked."""
    thread = await upstream_json(response)
    owner = thread_end_user(thread) if isinstance(thread, dict) else ""
    decision.upstream_status = response.status
    await decide_file(request, decision, action, owner or thread_id)
    return thread


def thread(route: str) -> Handler:
    """A thread or anything below it: the thread is read first, for the end user it belongs
    to; reads are decided as retrieves, anything else as a change."""

    async def handler(request: web.Request) -> web.StreamResponse:
        action = Action.RETRIEVE if request.method in ("GET", "HEAD") else Action.DELETE
        thread_id = await plain_or_refused(request, action, request.match_info["thread_id"], API)
        response = await _upstream_thread(request, thread_id)
        if response.status != 200:
            return await relay(request, response)
        async with scope(request, action, thread_id, api=API) as decision:
            found = await _decide_thread(request, decision, action, thread_id, response)
        if request.method == "GET" and route == THREAD:
            return json_response(request, found, response)
        return await relay(request, await send(request, route))

    return handler


async def list_threads(request: web.Request) -> web.StreamResponse:
    user = request.query.get("user")
    if len(request.query.getall("user", ())) > 1:
        # The query goes up as sent, and an upstream may read the last of them.
        raise invalid_request("`user` may be given once", param="user")
    if user is not None:
        # One end user's threads: the caller's to list if that end user is their org's.
        end_user = user_record_id(user)
        async with scope(request, Action.LIST, end_user, api=API) as decision:
            await decide_file(request, decision, Action.LIST, end_user)
            response = await send(request, THREADS, decision)
        return await relay(request, response)
    if "before" in request.query:
        raise invalid_request("Page backwards with `before` only with `user`", param="before")
    after = request.query.get("after")
    cursor: UpstreamResponse | None = None
    if after is not None:
        cursor = await _upstream_thread(
            request, await plain_or_refused(request, Action.LIST, after, API))
        if cursor.status != 200:
            return await relay(request, cursor)
    async with scope(request, Action.LIST, after, api=API) as listed:
        if after is not None and cursor is not None:
            # A cursor is a thread: one of another org's end users' is refused like a read of
            # it, in the list's one decision.
            await _decide_thread(request, listed, Action.LIST, after, cursor)
        return await filtered_list(request, listed, THREAD_LIST, owner_of=thread_end_user)


def add_routes(router: web.UrlDispatcher) -> None:
    objects.add_routes(router, SESSIONS, creating=create_session)
    router.add_get(THREADS, list_threads)
    for route in (THREAD, THREAD + "/{rest}"):
        router.add_route("*", route.replace("{rest}", "{rest:.+}"), thread(route))
