"""OpenAI's cursor lists: ``{"object":"list","data","first_id","last_id","has_more"}``."""

from __future__ import annotations

from collections.abc import Sequence

from aiohttp import web

from .store import JsonObject
from .validation import list_limit, list_order


def page(data: Sequence[JsonObject], has_more: bool) -> JsonObject:
    return {
        "object": "list",
        "data": list(data),
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": has_more,
    }


def cursor_list(
    request: web.Request,
    oldest_first: Sequence[JsonObject],
    *,
    default_limit: int = 20,
    max_limit: int = 100,
    default_order: str = "desc",
) -> JsonObject:
    """Page through objects held in creation order, honouring ``order``, ``after`` and ``limit``.

    An ``after`` id that is not in the list yields an empty page: the sandbox cannot know
    where an unknown cursor would have sorted.
    """
    query = request.query
    limit = list_limit(query.get("limit"), default_limit, max_limit)
    order = list_order(query.get("order"), default_order)
    ordered = list(oldest_first) if order == "asc" else list(reversed(oldest_first))
    after = query.get("after")
    if after is not None:
        ids = [item["id"] for item in ordered]
        ordered = ordered[ids.index(after) + 1 :] if after in ids else []
    return page(ordered[:limit], len(ordered) > limit)
