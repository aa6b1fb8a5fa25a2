"""``/v1/chatkit/threads``: the ChatKit beta's threads and their items, which a server only reads
and deletes. ChatKit frontends make threads in end users' browsers, which the sandbox does not
emulate; tests make them through ``POST /__sandbox/chatkit/threads`` (``control``) instead.

A thread made so has had one turn: the user's message and the workflow's reply, oldest first.
Its title stays null, as before any title is generated. Threads are listed newest first unless
``order=asc``, narrowed by ``user``; both lists page by ``after`` and by ``before``.
"""

from __future__ import annotations

from collections.abc import Sequence

from aiohttp import web

from .keys import STATE
from .pagination import cursor_list, page
from .state import SandboxState, Stored
from .store import JsonObject, new_id
from .stored import Kind
from .validation import list_limit, list_order

NOT_FOUND = "Thread with id '{}' not found."
REPLY = "Hello from the sandbox's ChatKit workflow."


def deleted(thread_id: str) -> JsonObject:
    return {"id": thread_id, "object": "chatkit.thread.deleted", "deleted": True}


KIND = Kind(lambda state: state.chatkit_threads, "thread_id", NOT_FOUND, deleted)


def start(state: SandboxState, user: str, text: str) -> JsonObject:
    """A new thread of ``user``'s, whose first message says ``text``."""
    thread_id, now = new_id("cthr_"), state.clock.now()
    thread: JsonObject = {
        "id": thread_id,
        "object": "chatkit.thread",
        "created_at": now,
        "status": {"type": "active"},
        "title": None,
        "user": user,
    }
    common = {"object": "chatkit.thread_item", "thread_id": thread_id, "created_at": now}
    asked: JsonObject = {
        "id": new_id("cthi_"),
        **common,
        "type": "chatkit.user_message",
        "content": [{"type": "input_text", "text": text}],
        "attachments": [],
        "inference_options": None,
    }
    answered: JsonObject = {
        "id": new_id("cthi_"),
        **common,
        "type": "chatkit.assistant_message",
        "content": [{"type": "output_text", "text": REPLY, "annotations": []}],
    }
    state.chatkit_threads[thread_id] = Stored(thread, [asked, answered])
    return thread


def _paged(request: web.Request, oldest_first: Sequence[JsonObject]) -> JsonObject:
    """``cursor_list``, which pages forward only, and ``before``: the page that precedes that id in
    the list's order (the nearest ``limit`` objects), as ``after`` gives the one that follows it."""
    query = request.query
    before = query.get("before")
    if before is None:
        return cursor_list(request, oldest_first)
    limit = list_limit(query.get("limit"), 20, 100)
    ascending = list_order(query.get("order")) == "asc"
    ordered = list(oldest_first) if ascending else list(reversed(oldest_first))
    ids = [item["id"] for item in ordered]
    # As with an unknown ``after``, an unknown cursor has no place in the list: an empty page.
    preceding = ordered[: ids.index(before)] if before in ids else []
    after = query.get("after")
    if after is not None:
        kept = ids[: len(preceding)]
        preceding = preceding[kept.index(after) + 1 :] if after in kept else []
    return page(preceding[-limit:], len(preceding) > limit)


async def list_threads(request: web.Request) -> web.Response:
    user = request.query.get("user")
    kept = [
        thread.object
        for thread in request.app[STATE].chatkit_threads.values()
        if user in (None, thread.object["user"])
    ]
    return web.json_response(_paged(request, kept))


async def list_items(request: web.Request) -> web.Response:
    return web.json_response(_paged(request, KIND.find(request)[1].items))


def routes() -> list[web.RouteDef]:
    one = "/v1/chatkit/threads/{thread_id}"
    return [
        web.get("/v1/chatkit/threads", list_threads),
        web.get(one, KIND.retrieve),
        web.delete(one, KIND.delete),
        web.get(one + "/items", list_items),
    ]
