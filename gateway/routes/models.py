"""Models: a fine-tuned one (`ft:…`) was trained by a job from its files, so it is the job's
creator's, with the job's restrictions. Using it is a reference (file_refs), retrieving and
deleting it follow the file rules, and the model list leaves out the ones the caller may not
see. Base models pass through."""

from __future__ import annotations

import contextlib
import time

from aiohttp import web
from aiohttp.typedefs import Handler

from gateway import keys
from gateway.enforce import decide_file, reference_id, scope
from gateway.file_refs import FINE_TUNED_PREFIX
from gateway.policy import Action, Decision, may_see
from gateway.routes.forward import send
from gateway.routes.responses import json_response, upstream_json
from gateway.store import StoreUnavailable
from gateway.upstream import relay

API = "models"
MODELS = "/v1/models"
ONE = MODELS + "/{model}"


def _fine_tuned(item: object) -> str | None:
    model = item.get("id") if isinstance(item, dict) else None
    return model if isinstance(model, str) and model.startswith(FINE_TUNED_PREFIX) else None


async def list_models(request: web.Request) -> web.StreamResponse:
    response = await send(request, MODELS)
    if response.status != 200:
        return await relay(request, response)
    listed = await upstream_json(response)
    data = listed.get("data") if isinstance(listed, dict) else None
    if not isinstance(data, list):
        return json_response(request, listed, response)
    tuned = [model for item in data if (model := _fine_tuned(item))]
    async with scope(request, Action.LIST, None, api=API) as decision:
        decision.upstream_status = response.status
        decision.decided(Decision(Action.LIST, True, "org"))
        records = await request.app[keys.STORE].get_many(tuned) if tuned else {}
        principal, policy, now = decision.principal, request.app[keys.SETTINGS].policy, time.time()
        listed["data"] = [
            item for item in data
            if (model := _fine_tuned(item)) is None
            or may_see(principal, records.get(model), policy, now)
        ]
        decision.extra.update({"returned": len(listed["data"]),
                               "filtered": len(data) - len(listed["data"])})
    return json_response(request, listed, response)


def one(action: Action) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        model = request.match_info["model"]
        if not model.startswith(FINE_TUNED_PREFIX):
            return await relay(request, await send(request, ONE))
        async with scope(request, action, model[:128], api=API) as decision:
            record = await decide_file(request, decision, action, reference_id(model))
            response = await send(request, ONE, decision)
        if action is Action.DELETE and response.status == 200 and record is not None:
            with contextlib.suppress(StoreUnavailable):
                await request.app[keys.STORE].put(record.tombstone())
        return await relay(request, response)

    return handler


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get(MODELS, list_models)
    router.add_get(ONE, one(Action.RETRIEVE))
    router.add_delete(ONE, one(Action.DELETE))
