"""``/v1/models``: a few base models, and the model every succeeded fine-tuning job trained,
until it is deleted. As on OpenAI, only a fine-tuned model can be deleted."""

from __future__ import annotations

from aiohttp import web

from .errors import ApiError
from .keys import STATE
from .state import SandboxState
from .store import JsonObject

BASE_MODELS = ("gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-5")


def _models(state: SandboxState) -> dict[str, JsonObject]:
    models = {name: {"id": name, "object": "model", "created": 1715367049, "owned_by": "system"}
              for name in BASE_MODELS}
    for job in state.jobs.values():
        tuned = job.get("fine_tuned_model")
        if job.get("status") == "succeeded" and tuned and not job.get("model_deleted"):
            models[tuned] = {"id": tuned, "object": "model", "created": job["finished_at"],
                             "owned_by": job["organization_id"]}
    return models


def _model(request: web.Request) -> JsonObject:
    name = request.match_info["model"]
    model = _models(request.app[STATE]).get(name)
    if model is None:
        raise ApiError(404, f"The model '{name}' does not exist", code="model_not_found",
                       param="model")
    return model


async def list_models(request: web.Request) -> web.Response:
    return web.json_response({"object": "list", "data": list(_models(request.app[STATE]).values())})


async def retrieve_model(request: web.Request) -> web.Response:
    return web.json_response(_model(request))


async def delete_model(request: web.Request) -> web.Response:
    model = _model(request)
    if model["owned_by"] == "system":
        raise ApiError(403, "You have insufficient permissions for this operation.",
                       type_="invalid_request_error")
    for job in request.app[STATE].jobs.values():
        if job.get("fine_tuned_model") == model["id"]:
            job["model_deleted"] = True
    return web.json_response({"id": model["id"], "object": "model", "deleted": True})


def routes() -> list[web.RouteDef]:
    return [
        web.get("/v1/models", list_models),
        web.get("/v1/models/{model}", retrieve_model),
        web.delete("/v1/models/{model}", delete_model),
    ]
