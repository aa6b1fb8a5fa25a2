"""Checks the Agents beta modules share: nested params, objects named in a body, metadata filters.

A body's nested field is named in errors by its path (``environment.files[0].path``), as OpenAI
names it; an object a body names by id and the sandbox lacks is a 404 pointing at that field.
"""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web

from .chat_completions import METADATA_FILTER
from .errors import ApiError, invalid_type, missing_parameter
from .state import Stored
from .store import JsonObject


def joined(where: str, key: str) -> str:
    """The param of ``key`` inside the field ``where`` ("" for the body itself)."""
    return f"{where}.{key}" if where else key


def object_at(value: object, name: str) -> JsonObject:
    """An optional object field; null counts as empty."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise invalid_type(name, "an object")
    return value


def strings(value: object, name: str) -> list[str]:
    """An optional array of strings; null counts as empty."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise invalid_type(name, "an array of strings")
    return list(value)


def text_at(body: Mapping[str, object], key: str, where: str) -> str:
    """A required string field of a nested object."""
    value = body.get(key)
    if value is None:
        raise missing_parameter(joined(where, key))
    if not isinstance(value, str):
        raise invalid_type(joined(where, key), "a string")
    return value


def named(table: Mapping[str, Stored], object_id: object, message: str, param: str) -> Stored:
    """The object a body names by id, or the kind's 404 with ``param`` pointing at the id."""
    if not isinstance(object_id, str):
        raise invalid_type(param, "a string")
    stored = table.get(object_id)
    if stored is None:
        raise ApiError(404, message.format(object_id), param=param)
    return stored


def metadata_matches(request: web.Request, metadata: Mapping[str, str]) -> bool:
    """Whether ``metadata`` has every ``metadata[key]=value`` pair the list's query asks for."""
    opening, closing = METADATA_FILTER
    return all(
        metadata.get(key[len(opening):-len(closing)]) == value
        for key, value in request.query.items()
        if key.startswith(opening) and key.endswith(closing)
    )
