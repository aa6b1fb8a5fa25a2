"""``/v1/evals/{eval_id}/runs``: runs of an existing eval and their output items (``eval_output``).

A run is complete when it is created: the sandbox grades every row at once, so a run is never
queued or in progress, and cancelling one finds nothing left to stop.
"""

from __future__ import annotations

from aiohttp import web

from . import evals, objects
from .errors import ApiError, invalid_type, missing_parameter, not_one_of
from .eval_output import BadRow, output_item, source_rows
from .forms import read_json
from .keys import STATE
from .pagination import cursor_list
from .references import check_references
from .state import SandboxState, Stored
from .store import JsonObject
from .stored import Kind, metadata
from .validation import optional_str

NOT_FOUND = "Eval run with id '{}' not found."
ITEM_NOT_FOUND = "Eval run output item with id '{}' not found."
DATA_SOURCE_TYPES = ("jsonl", "completions", "responses")
RUN_STATUSES = ("queued", "in_progress", "completed", "canceled", "failed")
ITEM_STATUSES = ("fail", "pass")


class RunKind(Kind):
    """Runs live under their eval: an unknown eval is its 404, and another eval's run is unknown."""

    def find(self, request: web.Request) -> tuple[SandboxState, Stored]:
        evals.KIND.find(request)
        state, run = super().find(request)
        if run.object["eval_id"] != request.match_info[evals.KIND.param]:
            raise ApiError(404, self.not_found.format(run.object["id"]))
        return state, run


KIND = RunKind(lambda state: state.eval_runs, "run_id", NOT_FOUND, evals.deleted("eval.run"))


async def create(request: web.Request) -> web.Response:
    state = request.app[STATE]
    body = await read_json(request)
    data_source = _data_source(body)
    # An unknown file is refused before the eval and the source's type are looked at, as by
    # every API that references files.
    check_references(state, body)
    parent = evals.KIND.find(request)[1].object
    if data_source.get("type") not in DATA_SOURCE_TYPES:
        raise not_one_of(data_source.get("type"), DATA_SOURCE_TYPES, "data_source.type")
    run = _run(body, parent["id"], data_source, state.clock.now())
    try:
        rows = await source_rows(state, data_source)
    except BadRow as bad:
        rows, run["status"], run["error"] = [], "failed", bad.error
    criteria = parent["testing_criteria"]
    items = [output_item(run, index, row, criteria) for index, row in enumerate(rows)]
    run["result_counts"] = {"total": len(items), "passed": len(items), "failed": 0, "errored": 0}
    run["per_testing_criteria_results"] = [
        {"testing_criteria": criterion["id"], "passed": len(items), "failed": 0} for criterion in criteria
    ]
    state.eval_runs[run["id"]] = Stored(run, items)
    return web.json_response(run)


def _data_source(body: JsonObject) -> JsonObject:
    value = body.get("data_source")
    if value is None:
        raise missing_parameter("data_source")
    if not isinstance(value, dict):
        raise invalid_type("data_source", "an object")
    return value


def _run(body: JsonObject, eval_id: str, data_source: JsonObject, now: int) -> JsonObject:
    run_id = evals.hex_id("evalrun_")
    return {
        "object": "eval.run",
        "id": run_id,
        "eval_id": eval_id,
        "report_url": f"https://platform.openai.com/evaluations/{eval_id}?run_id={run_id}",
        "status": "completed",
        "model": str(data_source.get("model") or objects.DEFAULT_MODEL),
        "name": optional_str(body, "name") or run_id,
        "created_at": now,
        "per_model_usage": [],
        "data_source": data_source,
        "error": None,
        "metadata": metadata(body),
    }


def _status_filter(request: web.Request, allowed: tuple[str, ...]) -> str | None:
    status = request.query.get("status")
    if status is not None and status not in allowed:
        raise not_one_of(status, allowed, "status")
    return status


async def list_runs(request: web.Request) -> web.Response:
    """The eval's runs, oldest first unless ``order=desc``, narrowed by ``status``."""
    state, parent = evals.KIND.find(request)
    status = _status_filter(request, RUN_STATUSES)
    kept = [
        run.object for run in state.eval_runs.values()
        if run.object["eval_id"] == parent.object["id"] and status in (None, run.object["status"])
    ]
    return web.json_response(cursor_list(request, kept, default_order="asc"))


async def cancel(request: web.Request) -> web.Response:
    """Every run has finished, so it is answered as it is, its status unchanged."""
    return await KIND.retrieve(request)


async def list_items(request: web.Request) -> web.Response:
    run = KIND.find(request)[1]
    status = _status_filter(request, ITEM_STATUSES)
    kept = [item for item in run.items if status in (None, item["status"])]
    return web.json_response(cursor_list(request, kept, default_order="asc"))


async def retrieve_item(request: web.Request) -> web.Response:
    run = KIND.find(request)[1]
    item_id = request.match_info["output_item_id"]
    for item in run.items:
        if item["id"] == item_id:
            return web.json_response(item)
    raise ApiError(404, ITEM_NOT_FOUND.format(item_id))


def routes() -> list[web.RouteDef]:
    runs = "/v1/evals/{eval_id}/runs"
    one = runs + "/{run_id}"
    return [
        web.post(runs, create),
        web.get(runs, list_runs),
        web.get(one, KIND.retrieve),
        # The spec's cancel is a POST on the run; the SDK (openai>=2) posts to `/cancel` below it.
        web.post(one, cancel),
        web.post(one + "/cancel", cancel),
        web.delete(one, KIND.delete),
        web.get(one + "/output_items", list_items),
        web.get(one + "/output_items/{output_item_id}", retrieve_item),
    ]
