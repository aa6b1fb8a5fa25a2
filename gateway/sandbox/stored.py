"""What stored Chat Completions, Responses and Conversations share: their 404, flags, metadata,
and the items listed under them (request messages, input items, conversation items)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from aiohttp import web

from .errors import ApiError, invalid_type, missing_parameter
from .forms import read_json
from .keys import STATE
from .state import SandboxState, Stored
from .store import JsonObject, new_id

MAX_METADATA_KEYS = 16
ROLES = ("assistant", "system", "developer", "user")  # of an input message, in OpenAI's order
# Item ids OpenAI issues by item type; any other type gets the generic prefix.
ITEM_PREFIXES = {"message": "msg_", "function_call": "fc_", "function_call_output": "fc_"}


def lookup(table: Mapping[str, Stored], object_id: str, message: str) -> Stored:
    """The stored object, or OpenAI's 404 for its kind; ``message`` has one ``{}`` for the id.

    An object created with ``store: false`` was never put in ``table``, so it is unknown too.
    """
    stored = table.get(object_id)
    if stored is None:
        raise ApiError(404, message.format(object_id))
    return stored


@dataclass(frozen=True)
class Kind:
    """One kind of stored object: where it is kept, its path parameter, its 404 and what its
    deletion answers; with the handlers every kind shares."""

    table: Callable[[SandboxState], dict[str, Stored]]
    param: str
    not_found: str
    deleted: Callable[[str], JsonObject]

    def find(self, request: web.Request) -> tuple[SandboxState, Stored]:
        state = request.app[STATE]
        return state, lookup(self.table(state), request.match_info[self.param], self.not_found)

    async def retrieve(self, request: web.Request) -> web.Response:
        return web.json_response(self.find(request)[1].object)

    async def update(self, request: web.Request) -> web.Response:
        """Only ``metadata`` can change; the answer is the whole stored object."""
        stored = self.find(request)[1]
        stored.object["metadata"] = metadata(await read_json(request), required=True)
        return web.json_response(stored.object)

    async def delete(self, request: web.Request) -> web.Response:
        state, stored = self.find(request)
        object_id = stored.object["id"]
        del self.table(state)[object_id]
        return web.json_response(self.deleted(object_id))


def flag(body: Mapping[str, object], name: str, default: bool) -> bool:
    value = body.get(name)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise invalid_type(name, "a boolean")
    return value


def metadata(body: Mapping[str, object], *, required: bool = False) -> dict[str, str]:
    """``metadata``: at most 16 string values; null clears it (update bodies must name it)."""
    if required and "metadata" not in body:
        raise missing_parameter("metadata")
    value = body.get("metadata")
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise invalid_type("metadata", "a metadata object")
    if len(value) > MAX_METADATA_KEYS:
        raise ApiError(
            400,
            "Invalid 'metadata': too many properties. Expected an object with at most "
            f"{MAX_METADATA_KEYS} properties, but got an object with {len(value)} properties instead.",
            param="metadata",
            code="object_above_max_properties",
        )
    return dict(value)


def input_items(value: object, name: str) -> list[JsonObject]:
    """Items as OpenAI stores them: a string is one user message, and every item gets an id."""
    if value is None:
        return []
    if isinstance(value, str):
        return [message("user", value)]
    if not isinstance(value, list):
        raise invalid_type(name, "one of a string or array of input items")
    return [_stored_item(item, f"{name}[{index}]") for index, item in enumerate(value)]


def message(role: str, content: object, item_id: str | None = None) -> JsonObject:
    """A message item; string content becomes one text part, as retrieval answers it."""
    if isinstance(content, str):
        kind = "output_text" if role == "assistant" else "input_text"
        part: JsonObject = {"type": kind, "text": content}
        if kind == "output_text":
            part["annotations"] = []
        content = [part]
    return {
        "id": item_id or new_id("msg_"),
        "type": "message",
        "status": "completed",
        "role": role,
        "content": content,
    }


def _stored_item(item: object, name: str) -> JsonObject:
    if not isinstance(item, dict):
        raise invalid_type(name, "an input item")
    kind = item.get("type", "message")
    if kind == "message":
        role = item.get("role")
        if role not in ROLES:
            listed = ", ".join(f"'{r}'" for r in ROLES[:-1]) + f", and '{ROLES[-1]}'"
            raise ApiError(
                400,
                f"Invalid value: '{role if isinstance(role, str) else ''}'. "
                f"Supported values are: {listed}.",
                param=name,
                code="invalid_value",
            )
        return message(str(role), item.get("content"), item.get("id"))
    return {"id": new_id(ITEM_PREFIXES.get(str(kind), "item_")), **item}
