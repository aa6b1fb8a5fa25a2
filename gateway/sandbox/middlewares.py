"""The sandbox's middleware chain, outermost first: record, faults, errors, bearer key.

``/__sandbox/*`` (the test-control endpoints) is neither recorded nor faulted, so a
test can always read the log and clear the faults.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler

from .errors import MISSING_KEY_MESSAGE, ApiError, error_response, invalid_url
from .forms import read_form
from .keys import FAULTS, LOG_ENTRY, REQUEST_LOG
from .state import FaultSet, LoggedRequest

CONTROL_PREFIX = "/__sandbox/"
log = logging.getLogger(__name__)

# What OpenAI says for the statuses tests inject most (facts §6).
FAULT_BODIES: dict[int, tuple[str, str]] = {
    401: ("Incorrect API key provided: sk-upstr***cret. You can find your API key at "
          "https://platform.openai.com/account/api-keys.", "invalid_request_error"),
    429: ("Rate limit reached for requests", "rate_limit_error"),
    500: (
        "The server had an error while processing your request. Sorry about that!",
        "server_error",
    ),
    502: ("Bad gateway.", "server_error"),
    503: ("The engine is currently overloaded, please try again later.", "server_error"),
}


def _is_control(request: web.Request) -> bool:
    return request.path.startswith(CONTROL_PREFIX)


def _headers(request: web.Request) -> dict[str, str]:
    seen: dict[str, str] = {}
    for name, value in request.headers.items():
        key = name.lower()
        seen[key] = f"{seen[key]}, {value}" if key in seen else value
    return seen


@web.middleware
async def record_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Append every API request to the log; JSON bodies are decoded here, forms by handlers."""
    if _is_control(request):
        return await handler(request)
    entry = LoggedRequest(request.method, request.path, dict(request.query), _headers(request))
    request.app[REQUEST_LOG].append(entry)
    request[LOG_ENTRY] = entry
    if request.content_type == "application/json" and request.body_exists:
        try:
            entry.json = json.loads(await request.read())
        except ValueError:
            entry.json = None  # the handler answers OpenAI's parse error
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        entry.status = exc.status
        raise
    entry.status = response.status
    return response


@web.middleware
async def inject_faults(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Sleep for a matching delay; answer a matching status without handling the request;
    drop a matching header from the answer."""
    if _is_control(request):
        return await handler(request)
    faults = request.app[FAULTS]
    delay = faults.delay_for(request.method, request.path)
    if delay:
        await asyncio.sleep(delay)
    status = faults.status_for(request.method, request.path)
    if status is None:
        response = await _idempotent(request, handler, faults)
        dropped = faults.header_dropped_for(request.method, request.path)
        if dropped is not None:
            response.headers.popall(dropped, None)
        return response
    if request.content_type == "multipart/form-data":
        with contextlib.suppress(ApiError):
            await read_form(request)  # so the log still shows the form fields
    message, type_ = FAULT_BODIES.get(status, (f"Injected fault: HTTP {status}.", "server_error"))
    if status < 500 and status not in FAULT_BODIES:
        type_ = "invalid_request_error"
    return error_response(status, message, type_)


async def _idempotent(request: web.Request, handler: Handler, faults: FaultSet) -> web.StreamResponse:
    """A key used again by the same bearer key gets the first answer again, not a new object."""
    key = request.headers.get("Idempotency-Key")
    if not key or not faults.is_idempotent(request.method, request.path):
        return await handler(request)
    slot = (request.headers.get(hdrs.AUTHORIZATION, ""), key, request.method, request.path)
    if slot in faults.replays:
        status, body, content_type = faults.replays[slot]
        return web.Response(status=status, body=body, content_type=content_type)
    response = await handler(request)
    if isinstance(response, web.Response) and isinstance(response.body, bytes):
        faults.replays[slot] = (response.status, response.body, response.content_type)
    return response


@web.middleware
async def openai_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn every failure into OpenAI's four-key error body."""
    try:
        return await handler(request)
    except ApiError as exc:
        return exc.response()
    except web.HTTPException as exc:
        if request.match_info.http_exception is not None:
            return invalid_url(request.method, request.path).response()
        if exc.status < 400:
            raise
        return error_response(exc.status, exc.reason)
    except Exception:
        log.exception("sandbox handler failed: %s %s", request.method, request.path)
        return error_response(500, FAULT_BODIES[500][0], "server_error")


@web.middleware
async def require_bearer(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every ``/v1`` request needs ``Authorization: Bearer <non-empty>``; any key is accepted."""
    if request.path == "/v1" or request.path.startswith("/v1/"):
        scheme, _, token = request.headers.get(hdrs.AUTHORIZATION, "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(401, MISSING_KEY_MESSAGE)
    return await handler(request)
