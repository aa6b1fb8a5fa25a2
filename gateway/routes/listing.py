"""GET /v1/files, filtered to what the caller may see, with pagination that stays correct.

Further upstream pages are fetched until `limit` visible files are found (plus one, to know
`has_more`), so no cursor or id of a file the caller may not see ever leaves the gateway.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from gateway import keys
from gateway.enforce import decision_error, gateway_view, plain_id, scope
from gateway.errors import GatewayError
from gateway.policy import Action, Decision, decide
from gateway.routes.files import json_response
from gateway.upstream import relay

MAX_LIMIT = 10_000
MIN_PAGE = 100


def _limit(request: web.Request) -> int:
    raw = request.query.get("limit", str(MAX_LIMIT))
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise GatewayError(400, "invalid_request", f"limit must be 1..{MAX_LIMIT}", param="limit")
    return int(raw)


async def list_files(request: web.Request) -> web.StreamResponse:
    app = request.app
    store = app[keys.STORE]
    policy = app[keys.SETTINGS].policy
    upstream = app[keys.UPSTREAM]
    limit = _limit(request)
    after = request.query.get("after")
    async with scope(request, Action.LIST, after) as decision:
        principal = decision.principal
        if after is not None:
            plain_id(after)
            cursor_record = await store.get(after)
            verdict = decide(Action.LIST, principal, cursor_record, policy, time.time(), after)
            if not verdict.allowed:
                decision.record = cursor_record
                raise decision_error(decision.decided(verdict))
        decision.decided(Decision(Action.LIST, True, "org"))
        params = {key: request.query[key] for key in ("order", "purpose") if key in request.query}
        headers = upstream.request_headers(request, keep_body_headers=False, json_only=True)
        visible: list[dict[str, Any]] = []
        cursor, seen = after, 0
        while True:
            page = {**params, "limit": str(min(MAX_LIMIT, max(MIN_PAGE, limit + 1 - len(visible))))}
            if cursor is not None:
                page["after"] = cursor
            response = await upstream.send(
                "GET", f"/v1/files?{urlencode(page)}", headers, route="/v1/files"
            )
            decision.upstream_status = response.status
            if response.status != 200:
                return await relay(request, response)
            async with response:
                body = await response.json()
            data: list[dict[str, Any]] = body.get("data") or []
            seen += len(data)
            records = await store.get_many([str(item.get("id")) for item in data])
            now = time.time()
            for item in data:
                record = records.get(str(item.get("id")))
                if decide(Action.LIST, principal, record, policy, now, str(item.get("id"))).allowed:
                    item["gateway"] = gateway_view(record, principal, policy)
                    visible.append(item)
            if len(visible) > limit or not body.get("has_more") or not data:
                break
            cursor = str(data[-1]["id"])
        returned = visible[:limit]
        decision.extra.update({"returned": len(returned), "filtered": seen - len(visible)})
        return json_response(
            request,
            {
                "object": "list",
                "data": returned,
                "first_id": returned[0]["id"] if returned else None,
                "last_id": returned[-1]["id"] if returned else None,
                "has_more": len(visible) > limit,
            },
            response,
        )
