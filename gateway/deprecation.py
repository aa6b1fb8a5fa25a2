"""Deprecation and sunset of APIs and purposes: RFC 9745 `Deprecation`, RFC 8594 `Sunset`,
and `410 api_sunset` once a sunset API's date has passed (issue 3, point 7)."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from email.utils import format_datetime

from aiohttp import web

from gateway.errors import GatewayError
from gateway.policy import Deprecation, Policy

DEPRECATION_HEADERS = web.RequestKey[dict[str, str]]("deprecation_headers")
# Path prefixes of each API named in the purpose matrix.
API_PREFIXES: tuple[tuple[str, str], ...] = (
    ("/v1/assistants", "assistants"), ("/v1/threads", "assistants"),
    ("/v1/responses", "responses"), ("/v1/conversations", "responses"),
    ("/v1/chat/completions", "chat_completions"), ("/v1/batches", "batches"),
    ("/v1/fine_tuning", "fine_tuning"), ("/v1/evals", "evals"),
    ("/v1/vector_stores", "vector_stores"), ("/v1/containers", "containers"),
    ("/v1/images", "images"),
)


def _midnight(day: str) -> dt.datetime:
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time(), tzinfo=dt.UTC)


def headers_for(deprecation: Deprecation) -> dict[str, str]:
    headers = {"Deprecation": f"@{int(_midnight(deprecation.since).timestamp())}"}
    if deprecation.sunset:
        headers["Sunset"] = format_datetime(_midnight(deprecation.sunset), usegmt=True)
    if deprecation.guide:
        headers["Link"] = f'<{deprecation.guide}>; rel="deprecation"'
    return headers


def api_of(path: str) -> str | None:
    for prefix, api in API_PREFIXES:
        if path == prefix or path.startswith(prefix + "/"):
            return api
    return None


def sunset_error(api: str, deprecation: Deprecation, headers: dict[str, str]) -> GatewayError:
    replacement = f"; use the {deprecation.replacement} API instead" if deprecation.replacement else ""
    guide = f" (migration guide: {deprecation.guide})" if deprecation.guide else ""
    return GatewayError(
        410, "api_sunset", f"The {api} API was sunset on {deprecation.sunset}{replacement}{guide}",
        headers=headers,
    )


def note_purpose(request: web.Request, policy: Policy, purpose: str | None) -> None:
    """A file of a deprecated purpose says so on whatever response it is part of."""
    rule = policy.rule(purpose or "")
    if rule is not None and rule.deprecated is not None:
        request[DEPRECATION_HEADERS] = headers_for(rule.deprecated)


def deprecation_check(policy: Policy) -> Callable[[web.Request], None]:
    # Parsed once, at start: the hot path only looks up a prefix.
    known = {api: (dep, headers_for(dep)) for api, dep in policy.api_deprecations.items()}
    sunsets = {
        api: _midnight(dep.sunset).timestamp()
        for api, dep in policy.api_deprecations.items() if dep.sunset and dep.enforce_sunset
    }

    def check(request: web.Request) -> None:
        if not known:
            return
        api = api_of(request.path)
        if api in known:
            deprecation, headers = known[api]
            if api in sunsets and time.time() >= sunsets[api]:
                raise sunset_error(api, deprecation, headers)
            request[DEPRECATION_HEADERS] = headers

    return check


async def add_deprecation_headers(request: web.Request, response: web.StreamResponse) -> None:
    for name, value in request.get(DEPRECATION_HEADERS, {}).items():
        response.headers.setdefault(name, value)
