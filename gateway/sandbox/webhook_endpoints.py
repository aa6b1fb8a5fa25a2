"""``/v1/webhook_endpoints`` and ``/v1/webhook_event_types``: where a project's events are delivered,
and the secret that signs them.

An endpoint's ``signing_secret`` is answered only by create and ``rotate_secret``; every other
answer carries just its ``signing_secret_hint``. A secret is ``whsec_`` and base64, the form the
SDK's ``webhooks.verify_signature`` decodes. ``updated_at`` moves only when a setting or the secret
actually changes. A test delivery is never sent: the sandbox answers as if the endpoint took it
with a 200. Endpoints are listed newest first, paged by ``after``; an unknown id is a 404.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable, Mapping

from aiohttp import web

from .errors import ApiError, invalid_type, missing_parameter
from .forms import read_json
from .keys import STATE
from .pagination import page
from .state import WebhookEndpoint
from .store import JsonObject, new_id
from .stored import flag
from .validation import check_keys, list_limit, require_str

# What the SDK may subscribe an endpoint to (its create, update and test literals), in its order.
EVENT_TYPES = (
    "batch.completed", "batch.failed", "batch.expired", "batch.cancelled",
    "response.completed", "response.failed", "response.cancelled", "response.incomplete",
    "eval.run.succeeded", "eval.run.failed", "eval.run.canceled",
    "fine_tuning.job.succeeded", "fine_tuning.job.failed", "fine_tuning.job.cancelled",
    "realtime.call.incoming", "video.completed", "video.failed",
    "agent.environment.ready", "agent.environment.failed", "agent.environment.suspended",
    "agent.environment.expired", "agent.session.created", "agent.session.action_required",
    "agent.session.in_progress", "agent.session.idle", "agent.session.failed",
    "safety.alert.created",
)
SETTINGS = ("event_types", "name", "url")
MAX_NAME, MAX_URL = 256, 2048  # the API's documented maximum lengths
KEEP_OLD_SECRET = 24 * 3600
NOT_FOUND = "Webhook endpoint with id '{}' not found."


def _secret() -> str:
    # 24 bytes encode to 32 base64 characters with no padding, so the hint's tail is all secret.
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def _hint(secret: str) -> str:
    return f"whsec_...{secret[-4:]}"


def _bad(name: str, message: str, code: str = "invalid_value") -> ApiError:
    return ApiError(400, f"Invalid '{name}': {message}", param=name, code=code)


def _text(body: Mapping[str, object], name: str, most: int) -> str:
    value = require_str(body, name)
    if not value:
        raise _bad(name, "string too short. Expected a string with minimum length 1, but got an "
                   "empty string instead.", "string_below_min_length")
    if len(value) > most:
        raise _bad(name, f"string too long. Expected a string with maximum length {most}, but got "
                   f"a string with length {len(value)} instead.", "string_above_max_length")
    return value


def _url(body: Mapping[str, object]) -> str:
    value = _text(body, "url", MAX_URL)
    # Deliveries carry signed event payloads, so only TLS will do; `http://` is refused too.
    if not value.startswith("https://"):
        raise _bad("url", "string does not match pattern. Expected a string that matches the "
                   "pattern '^https://'.")
    return value


def _event_type(value: object, param: str) -> str:
    if isinstance(value, str) and value in EVENT_TYPES:
        return value
    listed = ", ".join(f"'{e}'" for e in EVENT_TYPES[:-1]) + f", and '{EVENT_TYPES[-1]}'"
    shown = value if isinstance(value, str) else ""
    raise ApiError(400, f"Invalid value: '{shown}'. Supported values are: {listed}.",
                   param=param, code="invalid_value")


def _event_types(body: Mapping[str, object]) -> list[str]:
    value = body.get("event_types")
    if not isinstance(value, list):
        raise invalid_type("event_types", "an array")
    if not value:
        raise _bad("event_types", "empty array. Expected an array with minimum length 1, but got "
                   "an empty array instead.", "empty_array")
    return [_event_type(item, f"event_types[{index}]") for index, item in enumerate(value)]


def _settings(body: Mapping[str, object]) -> JsonObject:
    """The settings ``body`` gives, each validated; null counts as not given."""
    readers: dict[str, Callable[[Mapping[str, object]], object]] = {
        "event_types": _event_types, "name": lambda given: _text(given, "name", MAX_NAME), "url": _url,
    }
    return {name: read(body) for name, read in readers.items() if body.get(name) is not None}


def _find(request: web.Request) -> WebhookEndpoint:
    endpoint_id = request.match_info["webhook_endpoint_id"]
    endpoint = request.app[STATE].webhook_endpoints.get(endpoint_id)
    if endpoint is None:
        raise ApiError(404, NOT_FOUND.format(endpoint_id))
    return endpoint


def _with_secret(endpoint: WebhookEndpoint) -> web.Response:
    return web.json_response({**endpoint.object, "signing_secret": endpoint.secret})


async def create(request: web.Request) -> web.Response:
    state, body = request.app[STATE], await read_json(request)
    check_keys(body, SETTINGS)
    missing = [name for name in SETTINGS if body.get(name) is None]
    if missing:
        raise missing_parameter(missing[0])
    settings, secret, now = _settings(body), _secret(), state.clock.now()
    endpoint = WebhookEndpoint({
        "id": new_id("whe_"),
        "object": "webhook_endpoint",
        "created_at": now,
        "updated_at": now,
        **settings,
        "signing_secret_hint": _hint(secret),
    }, secret)
    state.webhook_endpoints[endpoint.object["id"]] = endpoint
    return _with_secret(endpoint)


async def list_endpoints(request: web.Request) -> web.Response:
    # Newest first only: the API takes no `order`, so none is read.
    newest_first = [e.object for e in reversed(request.app[STATE].webhook_endpoints.values())]
    limit = list_limit(request.query.get("limit"), 20, 100)
    after = request.query.get("after")
    if after is not None:
        ids = [endpoint["id"] for endpoint in newest_first]
        # As elsewhere in the sandbox, an unknown cursor has no place in the list: an empty page.
        newest_first = newest_first[ids.index(after) + 1 :] if after in ids else []
    return web.json_response(page(newest_first[:limit], len(newest_first) > limit))


async def retrieve(request: web.Request) -> web.Response:
    return web.json_response(_find(request).object)


async def update(request: web.Request) -> web.Response:
    endpoint, body = _find(request), await read_json(request)
    check_keys(body, SETTINGS)
    changed = {k: v for k, v in _settings(body).items() if endpoint.object[k] != v}
    if changed:
        endpoint.object.update(changed, updated_at=request.app[STATE].clock.now())
    return web.json_response(endpoint.object)


async def delete(request: web.Request) -> web.Response:
    endpoint_id = _find(request).object["id"]
    del request.app[STATE].webhook_endpoints[endpoint_id]
    return web.json_response({"id": endpoint_id, "object": "webhook_endpoint.deleted", "deleted": True})


async def rotate_secret(request: web.Request) -> web.Response:
    endpoint, body, now = _find(request), await read_json(request), request.app[STATE].clock.now()
    check_keys(body, ("keep_old_secret_active_for_24_hours",))
    keep = flag(body, "keep_old_secret_active_for_24_hours", False)
    endpoint.previous = (endpoint.secret, now + KEEP_OLD_SECRET) if keep else None
    endpoint.secret = _secret()
    endpoint.object.update(signing_secret_hint=_hint(endpoint.secret), updated_at=now)
    return _with_secret(endpoint)


async def send_test(request: web.Request) -> web.Response:
    endpoint, body = _find(request), await read_json(request)
    check_keys(body, ("event_type",))
    event_type = _event_type(require_str(body, "event_type"), "event_type")
    return web.json_response({"object": "webhook_endpoint.test", "webhook_endpoint_id": endpoint.object["id"],
                              "event_type": event_type, "status_code": 200, "success": True})


async def list_event_types(request: web.Request) -> web.Response:
    return web.json_response({"object": "list", "data": list(EVENT_TYPES)})


def routes() -> list[web.RouteDef]:
    one = "/v1/webhook_endpoints/{webhook_endpoint_id}"
    return [
        web.post("/v1/webhook_endpoints", create),
        web.get("/v1/webhook_endpoints", list_endpoints),
        web.get(one, retrieve),
        web.post(one, update),
        web.delete(one, delete),
        web.post(one + "/rotate_secret", rotate_secret),
        web.post(one + "/test", send_test),
        web.get("/v1/webhook_event_types", list_event_types),
    ]
