"""``/v1/batches``: a batch completes at once and yields a ``batch_output`` file."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from aiohttp import web

from . import objects
from .errors import ApiError, found, invalid_type, not_one_of
from .forms import read_json
from .keys import STATE
from .pagination import cursor_list
from .store import JsonObject, new_id
from .validation import check_keys, json_expiry, require_str

CREATE_KEYS = (
    "input_file_id",
    "endpoint",
    "completion_window",
    "metadata",
    "output_expires_after",
)
ENDPOINTS = (
    "/v1/responses",
    "/v1/chat/completions",
    "/v1/embeddings",
    "/v1/completions",
    "/v1/moderations",
    "/v1/images/generations",
    "/v1/images/edits",
)


async def create_batch(request: web.Request) -> web.Response:
    state = request.app[STATE]
    body = await read_json(request)
    check_keys(body, CREATE_KEYS)
    input_id = require_str(body, "input_file_id")
    endpoint = require_str(body, "endpoint")
    window = require_str(body, "completion_window")
    if endpoint not in ENDPOINTS:
        raise not_one_of(endpoint, ENDPOINTS, "endpoint")
    if window != "24h":
        raise not_one_of(window, ["24h"], "completion_window")
    metadata = body.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise invalid_type("metadata", "an object")
    output_ttl = json_expiry(body, "output_expires_after")
    source = state.files.require(input_id)
    if source.purpose != "batch":
        raise ApiError(
            400,
            f"File {input_id} has purpose '{source.purpose}'; a batch input file must have purpose 'batch'.",
            param="input_file_id",
        )
    batch_id = new_id("batch_")
    now = state.clock.now()
    output, errors, counts, model = await asyncio.to_thread(
        _run,
        state.files.path(input_id),
        state.files.tmp_path(),
        state.files.tmp_path(),
        endpoint,
        now,
    )

    async def keep(path: Path, kind: str) -> str:
        size = (await asyncio.to_thread(path.stat)).st_size
        added = await state.files.add(path, filename=f"{batch_id}_{kind}.jsonl",
                                      purpose="batch_output", size=size, ttl=output_ttl)
        return added.id

    output_file_id = await keep(output, "output")
    error_file_id = None
    if counts["failed"]:
        error_file_id = await keep(errors, "error")
    else:
        errors.unlink(missing_ok=True)
    state.batches[batch_id] = {
        "id": batch_id,
        "object": "batch",
        "endpoint": endpoint,
        "model": model,
        "errors": None,
        "input_file_id": input_id,
        "completion_window": window,
        "status": "completed",
        "output_file_id": output_file_id,
        "error_file_id": error_file_id,
        "created_at": now,
        "in_progress_at": now,
        "expires_at": now + 24 * 3600,
        "finalizing_at": now,
        "completed_at": now,
        "failed_at": None,
        "expired_at": None,
        "cancelling_at": None,
        "cancelled_at": None,
        "request_counts": counts,
        "metadata": metadata,
        "usage": None,
    }
    return web.json_response(state.batches[batch_id])


def _run(
    source: Path, output: Path, errors: Path, endpoint: str, now: int
) -> tuple[Path, Path, JsonObject, str | None]:
    """One output line per valid input line, one error line per line that is not JSON."""
    counts = {"total": 0, "completed": 0, "failed": 0}
    model: str | None = None
    with source.open("rb") as lines, output.open("w") as out, errors.open("w") as err:
        for number, raw in enumerate(lines, start=1):
            if not raw.strip():
                continue
            counts["total"] += 1
            try:
                line: Any = json.loads(raw)
                body = line.get("body") or {}
                custom_id = line.get("custom_id")
                model = model or body.get("model")
            except (ValueError, AttributeError):
                counts["failed"] += 1
                err.write(json.dumps(_error_line(number)) + "\n")
                continue
            counts["completed"] += 1
            result = objects.for_endpoint(endpoint, body.get("model", objects.DEFAULT_MODEL), now)
            out.write(
                json.dumps(
                    {
                        "id": new_id("batch_req_"),
                        "custom_id": custom_id,
                        "error": None,
                        "response": {
                            "status_code": 200,
                            "request_id": new_id("req_"),
                            "body": result,
                        },
                    }
                )
                + "\n"
            )
    return output, errors, counts, model


def _error_line(number: int) -> JsonObject:
    return {
        "id": new_id("batch_req_"),
        "custom_id": None,
        "response": None,
        "error": {"code": "invalid_json_line", "message": f"Line {number} is not valid JSON."},
    }


def _batch(request: web.Request) -> JsonObject:
    return found(request.app[STATE].batches, request.match_info["batch_id"], "Batch")


async def retrieve_batch(request: web.Request) -> web.Response:
    return web.json_response(_batch(request))


async def list_batches(request: web.Request) -> web.Response:
    return web.json_response(cursor_list(request, list(request.app[STATE].batches.values())))


async def cancel_batch(request: web.Request) -> web.Response:
    """Every sandbox batch is already completed, and OpenAI cannot cancel a finished batch."""
    batch = _batch(request)
    raise ApiError(400, f"Cannot cancel a batch with status '{batch['status']}'.")


def routes() -> list[web.RouteDef]:
    return [
        web.post("/v1/batches", create_batch),
        web.get("/v1/batches", list_batches),
        web.get("/v1/batches/{batch_id}", retrieve_batch),
        web.post("/v1/batches/{batch_id}/cancel", cancel_batch),
    ]
