"""``/v1/evals``: an eval, its data source config and testing criteria, to be listed, read,
renamed, re-tagged and deleted. Deleting an eval deletes its runs (``eval_runs``)."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable

from aiohttp import web

from .errors import invalid_type, missing_parameter, not_one_of
from .forms import read_json
from .keys import STATE
from .pagination import cursor_list
from .state import Stored
from .store import JsonObject
from .stored import Kind, metadata
from .validation import optional_str

NOT_FOUND = "Eval with id '{}' not found."
CONFIG_TYPES = ("custom", "logs", "stored_completions")
ORDER_BY = ("created_at", "updated_at")
# What `sample.*` may name in testing criteria: the model output a run samples (a short form of
# the schema OpenAI answers when a config includes it).
SAMPLE_SCHEMA: JsonObject = {
    "type": "object",
    "properties": {
        "model": {"type": "string"},
        "choices": {"type": "array", "items": {"type": "object"}},
        "output_text": {"type": "string"},
        "output_json": {"type": "object"},
        "output_tools": {"type": "array", "items": {"type": "object"}},
    },
    "required": ["model", "choices"],
}


def hex_id(prefix: str) -> str:
    """Evals, runs and output items have 32 hex digits after their prefix."""
    return prefix + secrets.token_hex(16)


def _namespaces(item: JsonObject, sample: bool) -> JsonObject:
    """The schema of what criteria may name: ``item`` and, when included, ``sample``."""
    properties: JsonObject = {"item": item}
    if sample:
        properties["sample"] = SAMPLE_SCHEMA
    return {"type": "object", "properties": properties, "required": list(properties)}


def _data_source_config(body: JsonObject) -> JsonObject:
    """The config as answered: what was sent becomes ``schema`` (the request's ``item_schema``
    and ``include_sample_schema`` are not echoed)."""
    config = body.get("data_source_config")
    if config is None:
        raise missing_parameter("data_source_config")
    if not isinstance(config, dict):
        raise invalid_type("data_source_config", "an object")
    kind = config.get("type")
    if kind not in CONFIG_TYPES:
        raise not_one_of(kind, CONFIG_TYPES, "data_source_config.type")
    if kind != "custom":
        # Logs and stored completions always pair a logged item with its sampled output.
        answered = {"type": kind, "schema": _namespaces({"type": "object"}, sample=True)}
        return {**answered, "metadata": metadata(config)}
    item = config.get("item_schema")
    if item is None:
        raise missing_parameter("data_source_config.item_schema")
    if not isinstance(item, dict):
        raise invalid_type("data_source_config.item_schema", "an object")
    return {"type": kind, "schema": _namespaces(item, config.get("include_sample_schema") is True)}


def _testing_criteria(body: JsonObject) -> list[JsonObject]:
    """Each criterion as answered: with an ``id`` of its name and a UUID, which a run's
    ``per_testing_criteria_results`` name it by."""
    criteria = body.get("testing_criteria")
    if criteria is None:
        raise missing_parameter("testing_criteria")
    if not isinstance(criteria, list):
        raise invalid_type("testing_criteria", "an array")
    answered: list[JsonObject] = []
    for index, criterion in enumerate(criteria):
        if not isinstance(criterion, dict):
            raise invalid_type(f"testing_criteria[{index}]", "an object")
        name = str(criterion.get("name") or criterion.get("type") or "criterion")
        answered.append({"name": name, **criterion, "id": f"{name}-{uuid.uuid4()}"})
    return answered


def deleted(kind: str) -> Callable[[str], JsonObject]:
    """What deleting an eval or a run answers: ``{"object": "eval.deleted", …, "eval_id": …}``."""
    key = kind.rpartition(".")[2] + "_id"
    return lambda object_id: {"object": f"{kind}.deleted", "deleted": True, key: object_id}


KIND = Kind(lambda state: state.evals, "eval_id", NOT_FOUND, deleted("eval"))


async def create(request: web.Request) -> web.Response:
    state = request.app[STATE]
    body = await read_json(request)
    eval_id = hex_id("eval_")
    made: JsonObject = {
        "object": "eval",
        "id": eval_id,
        "data_source_config": _data_source_config(body),
        "testing_criteria": _testing_criteria(body),
        "name": optional_str(body, "name") or eval_id,
        "created_at": state.clock.now(),
        "metadata": metadata(body),
    }
    state.evals[eval_id] = Stored(made)
    state.eval_updates[eval_id] = None
    return web.json_response(made)


async def list_evals(request: web.Request) -> web.Response:
    """Oldest first unless ``order=desc``; ``order_by=updated_at`` orders by the last change."""
    state = request.app[STATE]
    order_by = request.query.get("order_by", "created_at")
    if order_by not in ORDER_BY:
        raise not_one_of(order_by, ORDER_BY, "order_by")
    ids = state.evals if order_by == "created_at" else state.eval_updates
    kept = [state.evals[eval_id].object for eval_id in ids]
    return web.json_response(cursor_list(request, kept, default_order="asc"))


async def update(request: web.Request) -> web.Response:
    """``name`` and ``metadata`` may change, each only when the body names it."""
    state, stored = KIND.find(request)
    body = await read_json(request)
    name = optional_str(body, "name")
    if name is not None:
        stored.object["name"] = name
    if "metadata" in body:
        stored.object["metadata"] = metadata(body)
    eval_id = stored.object["id"]
    state.eval_updates[eval_id] = state.eval_updates.pop(eval_id)
    return web.json_response(stored.object)


async def delete(request: web.Request) -> web.Response:
    answer = await KIND.delete(request)
    state, eval_id = request.app[STATE], request.match_info[KIND.param]
    del state.eval_updates[eval_id]
    for run_id in [r for r, run in state.eval_runs.items() if run.object["eval_id"] == eval_id]:
        del state.eval_runs[run_id]
    return answer


def routes() -> list[web.RouteDef]:
    one = "/v1/evals/{eval_id}"
    return [
        web.post("/v1/evals", create),
        web.get("/v1/evals", list_evals),
        web.get(one, KIND.retrieve),
        web.post(one, update),
        web.delete(one, delete),
    ]
