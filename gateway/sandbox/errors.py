"""OpenAI-shaped errors for the sandbox.

Every error body has all four keys of OpenAI's ``Error`` schema: ``message``,
``type``, ``param`` and ``code`` (openai-api-facts §6).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypeVar

from aiohttp import web

INVALID_REQUEST = "invalid_request_error"
T = TypeVar("T")

MISSING_KEY_MESSAGE = (
    "You didn't provide an API key. You need to provide your API key in an Authorization "
    "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field "
    "(with blank username) if you're accessing the API from your browser and are prompted for "
    "a username and password. You can obtain an API key from "
    "https://platform.openai.com/account/api-keys."
)

INVALID_JSON_MESSAGE = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't "
    "using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was "
    "sent was not valid JSON. If you have trouble figuring out how to fix this, please contact "
    "us through our help center at help.openai.com.)"
)


def error_body(
    message: str, type_: str = INVALID_REQUEST, param: str | None = None, code: str | None = None
) -> dict[str, dict[str, str | None]]:
    """Build ``{"error": {...}}`` with all four keys present."""
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


class ApiError(Exception):
    """An error answered to the client as OpenAI would answer it."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type_: str = INVALID_REQUEST,
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type_ = type_
        self.param = param
        self.code = code

    def response(self) -> web.Response:
        body = error_body(self.message, self.type_, self.param, self.code)
        return web.json_response(body, status=self.status)


def error_response(status: int, message: str, type_: str = INVALID_REQUEST) -> web.Response:
    return ApiError(status, message, type_=type_).response()


def no_such_file(file_id: str) -> ApiError:
    return ApiError(404, f"No such File object: {file_id}", param="id")


def not_found(kind: str, object_id: str) -> ApiError:
    """404 for other object kinds, worded like the File one: ``No such Upload: upload_x``."""
    return ApiError(404, f"No such {kind}: {object_id}", param="id")


def found(table: Mapping[str, T], object_id: str, kind: str) -> T:
    """The object with that id, or OpenAI's 404 for the kind."""
    item = table.get(object_id)
    if item is None:
        raise not_found(kind, object_id)
    return item


def invalid_url(method: str, path: str) -> ApiError:
    return ApiError(404, f"Invalid URL ({method} {path})")


def missing_parameter(name: str) -> ApiError:
    return ApiError(
        400, f"Missing required parameter: '{name}'.", param=name, code="missing_required_parameter"
    )


def invalid_type(name: str, expected: str) -> ApiError:
    return ApiError(400, f"Invalid type for '{name}': expected {expected}.", param=name, code="invalid_type")


def invalid_value(name: str, message: str) -> ApiError:
    return ApiError(400, f"Invalid '{name}': {message}", param=name, code="invalid_value")


def not_one_of(value: object, allowed: Sequence[str], name: str) -> ApiError:
    """The jsonschema-style enum error OpenAI answers, e.g. for a bad upload purpose."""
    listed = ", ".join(repr(a) for a in allowed)
    return ApiError(400, f"{value!r} is not one of [{listed}] - '{name}'")


def unexpected_properties(names: Sequence[str]) -> ApiError:
    """The jsonschema ``additionalProperties: false`` error, verbatim in shape."""
    listed = ", ".join(repr(n) for n in names)
    verb = "was" if len(names) == 1 else "were"
    return ApiError(400, f"Additional properties are not allowed ({listed} {verb} unexpected)")
