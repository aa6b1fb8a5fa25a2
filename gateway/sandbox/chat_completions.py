"""``/v1/chat/completions``: a completion is answered whole or streamed as chunks, and with
``store: true`` (off by default) it is kept, with its request ``messages`` and ``metadata``, to be
listed, read, updated, deleted and have its messages listed."""

from __future__ import annotations

from aiohttp import web

from . import objects
from .errors import invalid_type, missing_parameter
from .forms import read_json
from .keys import STATE
from .pagination import cursor_list
from .references import check_references, summary
from .state import Stored
from .store import JsonObject
from .stored import Kind, flag, metadata
from .streams import chat_chunks, send_events

NOT_FOUND = "No chat completion found with id '{}'."
METADATA_FILTER = ("metadata[", "]")  # a list's `metadata[key]=value` query parameters


async def create(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    body = await read_json(request)
    messages = body.get("messages")
    if messages is None:
        raise missing_parameter("messages")
    if not isinstance(messages, list):
        raise invalid_type("messages", "an array")
    ids = check_references(state, body)
    store, stream = flag(body, "store", False), flag(body, "stream", False)
    tags = metadata(body)
    model = str(body.get("model") or objects.DEFAULT_MODEL)
    completion = objects.chat_completion(model, summary(ids), state.clock.now())
    if store:
        kept = {**completion, "metadata": tags}
        state.chat_completions[completion["id"]] = Stored(kept, _stored_messages(kept["id"], messages))
    if stream:
        options = body.get("stream_options")
        usage = isinstance(options, dict) and options.get("include_usage") is True
        return await send_events(request, chat_chunks(completion, usage), named=False, done=True)
    return web.json_response(completion)


def _stored_messages(completion_id: str, messages: list[object]) -> list[JsonObject]:
    """Each request message as ``chat.completions.messages.list`` answers it: an id of its own,
    text ``content``, and the parts, when it had parts, in ``content_parts``."""
    stored: list[JsonObject] = []
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            raise invalid_type(f"messages[{index}]", "an object")
        content = message.get("content")
        parts = content if isinstance(content, list) else None
        if parts is not None:
            texts = [p["text"] for p in parts if isinstance(p, dict) and p.get("type") == "text"]
            content = "".join(texts) if texts else None
        stored.append({**message, "id": f"{completion_id}-{index}", "content": content,
                       "content_parts": parts})
    return stored


KIND = Kind(
    lambda state: state.chat_completions, "completion_id", NOT_FOUND,
    lambda object_id: {"object": "chat.completion.deleted", "id": object_id, "deleted": True},
)


async def list_completions(request: web.Request) -> web.Response:
    """Stored completions, oldest first unless ``order=desc``, narrowed by ``model`` and by
    every ``metadata[key]=value`` given."""
    query = request.query
    model = query.get("model")
    opening, closing = METADATA_FILTER
    wanted = {
        key[len(opening):-len(closing)]: value
        for key, value in query.items()
        if key.startswith(opening) and key.endswith(closing)
    }
    kept = [
        stored.object
        for stored in request.app[STATE].chat_completions.values()
        if model in (None, stored.object["model"])
        and all(stored.object["metadata"].get(k) == v for k, v in wanted.items())
    ]
    return web.json_response(cursor_list(request, kept, default_order="asc"))


async def list_messages(request: web.Request) -> web.Response:
    stored = KIND.find(request)[1]
    return web.json_response(cursor_list(request, stored.items, default_order="asc"))


def routes() -> list[web.RouteDef]:
    one = "/v1/chat/completions/{completion_id}"
    return [
        web.post("/v1/chat/completions", create),
        web.get("/v1/chat/completions", list_completions),
        web.get(one, KIND.retrieve),
        web.post(one, KIND.update),
        web.delete(one, KIND.delete),
        web.get(f"{one}/messages", list_messages),
    ]
