"""GET /v1/files, filtered to what the caller may see."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from gateway import keys
from gateway.enforce import file_view, scope
from gateway.policy import Action
from gateway.records import FileRecord
from gateway.routes.paged import ListSpec, filtered_list

FILES = ListSpec("/v1/files", "/v1/files", 10_000, 10_000, ("order", "purpose"))


async def list_files(request: web.Request) -> web.StreamResponse:
    principal, policy, now = request[keys.PRINCIPAL], request.app[keys.LEARNED].policy, time.time()

    def annotate(item: dict[str, Any], record: FileRecord | None) -> None:
        item["gateway"] = file_view(principal, record, policy, now)

    async with scope(request, Action.LIST, request.query.get("after")) as decision:
        return await filtered_list(request, decision, FILES, annotate=annotate)
