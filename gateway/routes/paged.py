"""Lists filtered to what the caller may see, with pagination that stays correct.

Further upstream pages are fetched until `limit` visible items are found (plus one, to know
`has_more`), so no cursor or id of an item the caller may not see ever leaves the gateway.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from gateway import keys
from gateway.decisions import DecisionScope
from gateway.enforce import decision_error, plain_id
from gateway.errors import invalid_request, upstream_unavailable
from gateway.list_pages import read_page
from gateway.policy import Action, Decision, decide, may_see
from gateway.records import FileRecord
from gateway.routes.responses import json_response
from gateway.upstream import read_decoded, relay

Annotate = Callable[[dict[str, Any], FileRecord | None], None]


@dataclass(frozen=True)
class ListSpec:
    upstream_path: str
    route: str
    max_limit: int
    default_limit: int
    # Query keys sent on upstream; one ending in "[" forwards every key it begins (metadata[k]).
    forwarded: tuple[str, ...] = ("order",)

    @functools.cached_property
    def _prefixes(self) -> tuple[str, ...]:
        return tuple(name for name in self.forwarded if name.endswith("["))

    def forwards(self, key: str) -> bool:
        return key in self.forwarded or key.startswith(self._prefixes)


# Query keys the gateway's own paging answers, never forwarded as they came.
PAGING = frozenset({"after", "limit"})


def _unsupported(request: web.Request, spec: ListSpec) -> None:
    """A filter the gateway would drop would answer more than was asked, silently; and `before`
    pages backwards, which a list the gateway filters page by page cannot. Either is refused."""
    for key in request.query:
        if key not in PAGING and not spec.forwards(key):
            hint = "; page forward with `after`" if key == "before" else ""
            raise invalid_request(
                f"`{key}` is not supported on {spec.route} through files-gateway{hint}", param=key)


def _limit(request: web.Request, spec: ListSpec) -> int:
    raw = request.query.get("limit", str(spec.default_limit))
    if not raw.isdigit() or not 1 <= int(raw) <= spec.max_limit:
        raise invalid_request(f"limit must be 1..{spec.max_limit}", param="limit")
    return int(raw)


async def filtered_list(
    request: web.Request,
    scope: DecisionScope,
    spec: ListSpec,
    *,
    annotate: Annotate | None = None,
    fallback: FileRecord | None = None,
    owner_of: Callable[[dict[str, Any]], str] | None = None,
) -> web.StreamResponse:
    """`fallback` stands in for items without a record (e.g. files a container made itself).
    With `owner_of`, an item is seen by the record it names (a ChatKit thread by its end user's)
    rather than its own, and the caller has decided the cursor already."""
    app = request.app
    store, policy, upstream = app[keys.STORE], app[keys.SETTINGS].policy, app[keys.UPSTREAM]
    principal = scope.principal
    _unsupported(request, spec)
    limit = _limit(request, spec)
    after = request.query.get("after")
    if after is not None and owner_of is None:
        plain_id(after)
        cursor_record = await store.get(after) or fallback
        verdict = decide(Action.LIST, principal, cursor_record, policy, time.time(), after)
        if not verdict.allowed:
            scope.record = cursor_record
            raise decision_error(scope.decided(verdict))
    scope.decided(Decision(Action.LIST, True, "org"))
    params = {key: value for key, value in request.query.items() if spec.forwards(key)}
    headers = upstream.request_headers(request, keep_body_headers=False, json_only=True)
    visible: list[dict[str, Any]] = []
    cursor, seen = after, 0
    while True:
        query = {**params, "limit": str(min(spec.max_limit, max(limit + 1 - len(visible), 20)))}
        if cursor is not None:
            query["after"] = cursor
        response = await upstream.send(
            "GET", f"{spec.upstream_path}?{urlencode(query)}", headers, route=spec.route
        )
        scope.upstream_status = response.status
        if response.status != 200:
            if cursor == after:
                return await relay(request, response)
            # A later page, after an item the caller may not see: the upstream's answer may
            # name that cursor, so none of it is relayed.
            response.release()
            raise upstream_unavailable()
        page = await read_decoded(response, read_page)
        seen += len(page.ids)
        # Items are decoded only to be kept, unless their owner must be read out of them.
        items: list[dict[str, Any]] | None = None
        owners = page.ids
        if owner_of is not None:
            items = [page.item(index) for index in range(len(page.ids))]
            owners = [owner_of(item) for item in items]
        found = (await store.get_many(owners)).get
        now = time.time()
        for index, owner in enumerate(owners):
            record = found(owner, fallback)
            if may_see(principal, record, policy, now):
                item = page.item(index) if items is None else items[index]
                if annotate is not None:
                    annotate(item, record)
                visible.append(item)
                if len(visible) > limit:
                    break
        if len(visible) > limit or not page.has_more or not page.ids:
            break
        cursor = page.ids[-1]
    returned = visible[:limit]
    scope.extra.update({"returned": len(returned), "filtered": seen - len(visible)})
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
