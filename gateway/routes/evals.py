"""Evals and their runs. An eval and each run are the caller's, like any holder; a run's output
items show the rows of the file it ran on, so reading them is downloading that file (the side
channel rule). A run may not read stored completions or responses: the upstream would pick them
from every caller behind the key, and the gateway cannot filter them to the caller's own."""

from __future__ import annotations

import dataclasses
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from gateway import keys
from gateway.enforce import decide_file, scope
from gateway.errors import GatewayError
from gateway.file_refs import find_refs
from gateway.policy import Action
from gateway.references import check_refs, inherited_flags, refuse_inline
from gateway.routes import objects
from gateway.routes.forward import read_body, send
from gateway.routes.holders import Holder
from gateway.routes.paged import ListSpec, filtered_list
from gateway.routes.responses import json_response, upstream_json
from gateway.upstream import relay

EVALS = Holder("eval", "evals", "/v1/evals",
               ListSpec("/v1/evals", "/v1/evals", 100, 20, ("order", "order_by")))
RUNS = Holder("eval.run", "evals", "/v1/evals/{eval_id}/runs", None)
RUN_LIST = ListSpec(RUNS.collection, RUNS.collection, 100, 20, ("order", "status"))
# Sources the upstream fills from its own stored objects, whoever created them.
STORED_SOURCES = frozenset({"stored_completions", "responses"})


def stored_source_forbidden(kind: str) -> GatewayError:
    return GatewayError(
        403, "stored_source_forbidden",
        f"Eval runs may not read a {kind!r} source through the gateway: the upstream would read "
        "stored objects of every caller, not only yours. Use a file_id or file_content source",
        param="data_source.source.type",
    )


def _source(body: object) -> dict[str, Any]:
    data_source = body.get("data_source") if isinstance(body, dict) else None
    source = data_source.get("source") if isinstance(data_source, dict) else None
    return source if isinstance(source, dict) else {}


def _source_file(source: dict[str, Any]) -> str | None:
    file_id = source.get("id")
    return file_id if source.get("type") == "file_id" and isinstance(file_id, str) else None


async def create_run(request: web.Request) -> web.StreamResponse:
    parent = await objects.decided(request, EVALS, Action.REFERENCE, "eval_id")
    raw, body = await read_body(request)
    refuse_inline(request.app[keys.SETTINGS].policy, body)
    source = _source(body)
    kind = source.get("type")
    if isinstance(kind, str) and kind in STORED_SOURCES:
        async with scope(request, Action.REFERENCE, None, api=RUNS.api) as refusal:
            raise refusal.refused(stored_source_forbidden(kind))
    records = await check_refs(request, find_refs(body, RUNS.api))
    if parent is not None:
        records[parent.file_id] = parent
    response = await send(request, RUNS.collection, body=raw)
    if response.status != 200:
        return await relay(request, response)
    obj = await upstream_json(response)
    # The run shows its file's rows: it remembers the file, whose download rule guards them.
    await objects.record_created(request, RUNS, response, obj.get("id"), inherited_flags(records),
                                 derived_from=_source_file(source))
    return json_response(request, obj, response)


async def list_runs(request: web.Request) -> web.StreamResponse:
    await objects.decided(request, EVALS, Action.RETRIEVE, "eval_id")
    # Forwarded as sent: only the eval's id was checked, and a decoded path could carry a `?`.
    spec = dataclasses.replace(RUN_LIST, upstream_path=request.rel_url.raw_path)
    async with scope(request, Action.LIST, request.query.get("after"), api=RUNS.api) as decision:
        return await filtered_list(request, decision, spec)


def output_items(route: str) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        run = await objects.decided(request, RUNS, Action.RETRIEVE)
        if run is not None and run.derived_from is not None:
            async with scope(request, Action.DOWNLOAD, run.derived_from, api=RUNS.api) as decision:
                await decide_file(request, decision, Action.DOWNLOAD, run.derived_from)
        return await relay(request, await send(request, route))

    return handler


def add_routes(router: web.UrlDispatcher) -> None:
    """Runs first: the eval's own catch-all below `/v1/evals/{id}/` would take them."""
    runs, one = RUNS.collection, RUNS.collection + "/{object_id}"
    router.add_post(runs, create_run)
    router.add_get(runs, list_runs)
    items = one + "/output_items"
    router.add_get(items, output_items(items))
    router.add_get(items + "/{item_id}", output_items(items + "/{item_id}"))
    on_run, below_run = objects.object_routes(RUNS)
    router.add_route("*", one, on_run)
    router.add_route("*", one + "/{rest:.+}", below_run)
    objects.add_routes(router, EVALS)
