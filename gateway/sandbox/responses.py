"""``/v1/responses``: a response is answered whole or as named events, and unless
``store: false`` it is kept with its input items, to be read (or replayed as events), deleted,
cancelled and continued with ``previous_response_id``. A response in a ``conversation`` adds its
input and output items to it."""

from __future__ import annotations

from aiohttp import web

from . import objects
from .conversations import NOT_FOUND as CONVERSATION_NOT_FOUND
from .errors import ApiError, invalid_type
from .forms import read_json
from .keys import STATE
from .pagination import cursor_list
from .references import check_references, summary
from .skills import check_skill_references
from .state import SandboxState, Stored
from .store import JsonObject
from .stored import Kind, flag, input_items, lookup, metadata
from .streams import response_events, send_events

NOT_FOUND = "Response with id '{}' not found."


async def create(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    body = await read_json(request)
    # An unknown file is refused before anything else, as by every API that references files.
    ids = check_references(state, body)
    check_skill_references(state, {"tools": body.get("tools", [])})
    items = input_items(body.get("input"), "input")
    previous = _previous(state, body.get("previous_response_id"))
    conversation = _conversation(state, body.get("conversation"))
    if previous is not None and conversation is not None:
        raise ApiError(
            400,
            "Mutually exclusive parameters: Ensure you are only providing one of: "
            "'previous_response_id' or 'conversation'.",
        )
    store, stream = flag(body, "store", True), flag(body, "stream", False)
    model = str(body.get("model") or objects.DEFAULT_MODEL)
    response = objects.response(model, summary(ids), state.clock.now())
    response.update(
        previous_response_id=previous,
        store=store,
        background=flag(body, "background", False),
        metadata=metadata(body),
        instructions=body.get("instructions"),
    )
    if conversation is not None:
        response["conversation"] = {"id": conversation.object["id"]}
        conversation.items.extend(items + response["output"])
    if store:
        state.responses[response["id"]] = Stored(response, items)
    if stream:
        return await send_events(request, response_events(response), named=True, done=False)
    return web.json_response(response)


async def count_input_tokens(request: web.Request) -> web.Response:
    """What a response's input would cost; its files and the response it continues must exist."""
    state = request.app[STATE]
    body = await read_json(request)
    check_references(state, body)
    _previous(state, body.get("previous_response_id"))
    _conversation(state, body.get("conversation"))
    return web.json_response({"object": "response.input_tokens", "input_tokens": 10})


async def compact(request: web.Request) -> web.Response:
    """A conversation's context compacted into one item; nothing is stored."""
    state = request.app[STATE]
    body = await read_json(request)
    ids = check_references(state, body)
    _previous(state, body.get("previous_response_id"))
    made = objects.response(str(body.get("model") or objects.DEFAULT_MODEL), summary(ids),
                            state.clock.now())
    return web.json_response({
        "id": made["id"], "object": "response.compaction", "created_at": made["created_at"],
        "output": made["output"], "usage": made["usage"],
    })


def _previous(state: SandboxState, value: object) -> str | None:
    """A stored response's id; an unknown one is OpenAI's 400 ``previous_response_not_found``."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid_type("previous_response_id", "a string")
    if value not in state.responses:
        raise ApiError(
            400,
            f"Previous response with id '{value}' not found.",
            param="previous_response_id",
            code="previous_response_not_found",
        )
    return value


def _conversation(state: SandboxState, value: object) -> Stored | None:
    """``conversation`` is an id or ``{"id": ...}``; an unknown one is a 404 with no param."""
    if isinstance(value, dict):
        value = value.get("id")
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid_type("conversation", "one of a string or an object")
    return lookup(state.conversations, value, CONVERSATION_NOT_FOUND)


KIND = Kind(
    lambda state: state.responses, "response_id", NOT_FOUND,
    lambda object_id: {"id": object_id, "object": "response", "deleted": True},
)


async def retrieve(request: web.Request) -> web.StreamResponse:
    """The stored response; with ``stream=true``, its events replayed after ``starting_after``.

    (OpenAI streams a retrieve only for background responses, which it is still generating;
    the sandbox replays any stored response, since each is finished when created.)
    """
    stored = KIND.find(request)[1]
    if request.query.get("stream") != "true":
        return web.json_response(stored.object)
    after = request.query.get("starting_after", "-1")
    if not after.lstrip("-").isdigit():
        raise invalid_type("starting_after", "an integer")
    events = [e for e in response_events(stored.object) if e["sequence_number"] > int(after)]
    return await send_events(request, events, named=True, done=False)


async def cancel(request: web.Request) -> web.Response:
    """Only a background response can be cancelled. The sandbox finishes every response when it
    creates it, so a background one is answered as it is, as OpenAI answers a finished one."""
    stored = KIND.find(request)[1]
    if not stored.object["background"]:
        raise ApiError(400, "Cannot cancel a synchronous response.")
    return web.json_response(stored.object)


async def list_input_items(request: web.Request) -> web.Response:
    items: list[JsonObject] = KIND.find(request)[1].items
    return web.json_response(cursor_list(request, items))


def routes() -> list[web.RouteDef]:
    one = "/v1/responses/{response_id}"
    return [
        web.post("/v1/responses", create),
        web.post("/v1/responses/input_tokens", count_input_tokens),
        web.post("/v1/responses/compact", compact),
        web.get(one, retrieve),
        web.delete(one, KIND.delete),
        web.post(f"{one}/cancel", cancel),
        web.get(f"{one}/input_items", list_input_items),
    ]
