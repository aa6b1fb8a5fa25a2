"""File references in request bodies (facts §5), and the APIs that only reference files:
Evals runs and Image edits. (Responses, Chat Completions and Conversations, which also store
what they are sent, have modules of their own and check references with the same walk.)

Each walks its body generically for file ids, answers OpenAI's 404 for the first unknown one,
and otherwise returns a minimal, well-formed object.
"""

from __future__ import annotations

from aiohttp import web

from . import objects
from .errors import missing_parameter
from .forms import read_form, read_json
from .keys import STATE
from .state import SandboxState
from .store import JsonObject, new_id

# Keys whose string value is a file id, wherever they appear in a body.
FILE_ID_KEYS = frozenset({"file_id", "input_file_id", "training_file", "validation_file"})


def referenced_file_ids(body: object) -> list[str]:
    """Every file id in ``body``, in document order, without repeats.

    Besides the keys above and ``file_ids`` arrays, an object ``{"type": "file_id", "id": ...}``
    (an eval ``data_source.source``) names a file too.
    """
    found: list[str] = []
    stack: list[object] = [body]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(reversed(node))
            continue
        if not isinstance(node, dict):
            continue
        if node.get("type") == "file_id" and isinstance(node.get("id"), str):
            found.append(node["id"])
        for key, value in node.items():
            if key in FILE_ID_KEYS and isinstance(value, str):
                found.append(value)
            elif key == "file_ids" and isinstance(value, list):
                found.extend(v for v in value if isinstance(v, str))
        stack.extend(reversed(list(node.values())))
    return list(dict.fromkeys(found))


def check_references(state: SandboxState, body: object) -> list[str]:
    ids = referenced_file_ids(body)
    for file_id in ids:
        state.files.require(file_id)
    return ids


def summary(ids: list[str]) -> str:
    """The text of a sandbox model reply: it names the files the request referenced."""
    if not ids:
        return "Sandbox reply."
    return "Sandbox reply; referenced files: " + ", ".join(ids) + "."


async def create_eval_run(request: web.Request) -> web.Response:
    state = request.app[STATE]
    body = await read_json(request)
    if "data_source" not in body:
        raise missing_parameter("data_source")
    check_references(state, body)
    now = state.clock.now()
    run_id = new_id("evalrun_")
    eval_id = request.match_info["eval_id"]
    run: JsonObject = {
        "id": run_id,
        "object": "eval.run",
        "eval_id": eval_id,
        "created_at": now,
        "name": body.get("name") or run_id,
        "status": "completed",
        "model": objects.DEFAULT_MODEL,
        "data_source": body["data_source"],
        "metadata": body.get("metadata"),
        "error": None,
        "per_model_usage": [],
        "per_testing_criteria_results": [],
        "report_url": f"https://platform.openai.com/evaluations/{eval_id}?run_id={run_id}",
        "result_counts": {"total": 0, "passed": 0, "failed": 0, "errored": 0},
    }
    return web.json_response(run)


async def create_image_edit(request: web.Request) -> web.Response:
    """The JSON form references files; the multipart form is read, recorded and dropped."""
    state = request.app[STATE]
    if request.content_type == "multipart/form-data":
        await read_form(request)
    else:
        check_references(state, await read_json(request))
    return web.json_response(objects.image_edit(state.clock.now()))


def routes() -> list[web.RouteDef]:
    return [
        web.post("/v1/evals/{eval_id}/runs", create_eval_run),
        web.post("/v1/images/edits", create_image_edit),
    ]
