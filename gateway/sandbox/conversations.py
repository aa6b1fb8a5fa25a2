"""``/v1/conversations``: a conversation, its metadata and its items. Items come in at create,
through ``/items``, or from a response created in the conversation (see ``responses``)."""

from __future__ import annotations

from aiohttp import web

from .errors import ApiError, invalid_type, missing_parameter
from .forms import read_json
from .keys import STATE
from .pagination import cursor_list, page
from .references import check_references
from .state import SandboxState, Stored
from .store import JsonObject, new_id
from .stored import Kind, input_items, metadata

NOT_FOUND = "Conversation with id '{}' not found."
ITEM_NOT_FOUND = "Item with id '{}' not found."
MAX_NEW_ITEMS = 20  # "You may add up to 20 items at a time."


def _new_items(state: SandboxState, body: JsonObject, *, required: bool) -> list[JsonObject]:
    """The body's ``items``, stored-shaped, once every file they name is known to exist."""
    value = body.get("items")
    if value is None:
        if required:
            raise missing_parameter("items")
        return []
    if not isinstance(value, list):
        raise invalid_type("items", "an array of input items")
    if len(value) > MAX_NEW_ITEMS:
        raise ApiError(
            400,
            "Invalid 'items': array too long. Expected an array with maximum length "
            f"{MAX_NEW_ITEMS}, but got an array with length {len(value)} instead.",
            param="items",
            code="array_above_max_length",
        )
    check_references(state, value)
    return input_items(value, "items")


KIND = Kind(
    lambda state: state.conversations, "conversation_id", NOT_FOUND,
    lambda object_id: {"id": object_id, "object": "conversation.deleted", "deleted": True},
)


async def create(request: web.Request) -> web.Response:
    state = request.app[STATE]
    body = await read_json(request)
    items = _new_items(state, body, required=False)
    conversation: JsonObject = {
        "id": new_id("conv_"),
        "object": "conversation",
        "created_at": state.clock.now(),
        "metadata": metadata(body),
    }
    state.conversations[conversation["id"]] = Stored(conversation, items)
    return web.json_response(conversation)


async def list_items(request: web.Request) -> web.Response:
    return web.json_response(cursor_list(request, KIND.find(request)[1].items))


async def add_items(request: web.Request) -> web.Response:
    """The answer lists only the items just added, in the order given."""
    state, stored = KIND.find(request)
    items = _new_items(state, await read_json(request), required=True)
    stored.items.extend(items)
    return web.json_response(page(items, has_more=False))


def _item(request: web.Request) -> tuple[Stored, int]:
    """The conversation and the position of the item named in the path."""
    stored = KIND.find(request)[1]
    item_id = request.match_info["item_id"]
    for index, item in enumerate(stored.items):
        if item["id"] == item_id:
            return stored, index
    raise ApiError(404, ITEM_NOT_FOUND.format(item_id))


async def retrieve_item(request: web.Request) -> web.Response:
    stored, index = _item(request)
    return web.json_response(stored.items[index])


async def delete_item(request: web.Request) -> web.Response:
    """OpenAI answers an item's deletion with the conversation it was deleted from."""
    stored, index = _item(request)
    del stored.items[index]
    return web.json_response(stored.object)


def routes() -> list[web.RouteDef]:
    one = "/v1/conversations/{conversation_id}"
    item = one + "/items/{item_id}"
    return [
        web.post("/v1/conversations", create),
        web.get(one, KIND.retrieve),
        web.post(one, KIND.update),
        web.delete(one, KIND.delete),
        web.get(f"{one}/items", list_items),
        web.post(f"{one}/items", add_items),
        web.get(item, retrieve_item),
        web.delete(item, delete_item),
    ]
