"""A fine-tuning job's checkpoints are models too (`ft:…:ckpt-step-N`), made by the job: listing
them records each as the job's, like the final model. Sharing a checkpoint with other projects
(its permissions) changes the model, so it is decided like a change of it."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from gateway.enforce import decide_file, reference_id, scope
from gateway.policy import Action
from gateway.routes import objects
from gateway.routes.forward import send
from gateway.routes.holders import JOBS, MODEL_KIND, Derived, record_derived
from gateway.routes.responses import json_response, upstream_json
from gateway.upstream import relay

CHECKPOINTS = JOBS.collection + "/{object_id}/checkpoints"
PERMISSIONS = "/v1/fine_tuning/checkpoints/{model}/permissions"


def checkpoint_model(item: dict[str, Any]) -> list[Derived]:
    model = item.get("fine_tuned_model_checkpoint")
    return [Derived(model, "", MODEL_KIND)] if isinstance(model, str) and model else []


CHECKPOINTS_OF = replace(JOBS, derive=checkpoint_model)


async def list_checkpoints(request: web.Request) -> web.StreamResponse:
    job = await objects.decided(request, JOBS, Action.RETRIEVE)
    response = await send(request, CHECKPOINTS)
    if response.status != 200 or job is None:
        return await relay(request, response)
    listed = await upstream_json(response)
    items = listed.get("data") if isinstance(listed, dict) else None
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict):
            await record_derived(request, CHECKPOINTS_OF, job, item)
    return json_response(request, listed, response)


def permissions(route: str) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        model = request.match_info["model"]
        action = Action.RETRIEVE if request.method in ("GET", "HEAD") else Action.DELETE
        async with scope(request, action, model[:128], api=JOBS.api) as decision:
            await decide_file(request, decision, action, reference_id(model))
            response = await send(request, route, decision, stream=True)
        return await relay(request, response)

    return handler


def add_routes(router: web.UrlDispatcher) -> None:
    """Before the jobs' own routes, whose catch-all would take the checkpoints."""
    router.add_get(CHECKPOINTS, list_checkpoints)
    for route in (PERMISSIONS, PERMISSIONS + "/{permission_id}"):
        router.add_route("*", route, permissions(route))
