"""``/v1/fine_tuning/jobs``: a job succeeds at once and yields a ``fine-tune-results`` file."""

from __future__ import annotations

from aiohttp import web

from .errors import ApiError, found, invalid_type
from .forms import read_json
from .keys import STATE
from .pagination import cursor_list
from .state import SandboxState
from .store import JsonObject, new_id
from .validation import check_keys, optional_str, require_str

CREATE_KEYS = (
    "model",
    "training_file",
    "validation_file",
    "hyperparameters",
    "suffix",
    "seed",
    "method",
    "integrations",
    "metadata",
)
RESULTS_CSV = "step,train_loss,train_accuracy,valid_loss,valid_mean_token_accuracy\n1,0.5,0.9,,\n"


def _fine_tune_file(state: SandboxState, file_id: str, param: str) -> None:
    record = state.files.require(file_id)
    if record.purpose != "fine-tune":
        raise ApiError(
            400,
            f"File {file_id} has purpose '{record.purpose}'; {param} must be a file "
            "with purpose 'fine-tune'.",
            param=param,
        )


async def create_job(request: web.Request) -> web.Response:
    state = request.app[STATE]
    body = await read_json(request)
    check_keys(body, CREATE_KEYS)
    model = require_str(body, "model")
    training = require_str(body, "training_file")
    validation = optional_str(body, "validation_file")
    metadata = body.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise invalid_type("metadata", "an object")
    _fine_tune_file(state, training, "training_file")
    if validation is not None:
        _fine_tune_file(state, validation, "validation_file")
    job_id = new_id("ftjob-")
    results = await state.files.add_bytes(
        RESULTS_CSV.encode(), filename="step_metrics.csv", purpose="fine-tune-results"
    )
    now = state.clock.now()
    suffix = optional_str(body, "suffix") or "sandbox"
    hyperparameters = {"batch_size": 1, "learning_rate_multiplier": 1.0, "n_epochs": 1}
    state.jobs[job_id] = {
        "id": job_id,
        "object": "fine_tuning.job",
        "model": model,
        "created_at": now,
        "finished_at": now,
        "fine_tuned_model": f"ft:{model}:sandbox:{suffix}:{job_id[6:14]}",
        "organization_id": "org-sandbox",
        "result_files": [results.id],
        "status": "succeeded",
        "training_file": training,
        "validation_file": validation,
        "hyperparameters": hyperparameters,
        "trained_tokens": 100,
        "error": None,
        "seed": body.get("seed", 42),
        "estimated_finish": None,
        "integrations": None,
        "metadata": metadata,
        "method": {"type": "supervised", "supervised": {"hyperparameters": hyperparameters}},
    }
    return web.json_response(state.jobs[job_id])


def _job(request: web.Request) -> JsonObject:
    return found(request.app[STATE].jobs, request.match_info["job_id"], "FineTuningJob")


async def retrieve_job(request: web.Request) -> web.Response:
    return web.json_response(_job(request))


async def list_jobs(request: web.Request) -> web.Response:
    return web.json_response(cursor_list(request, list(request.app[STATE].jobs.values())))


async def cancel_job(request: web.Request) -> web.Response:
    """Every sandbox job has already succeeded, so, as on OpenAI, it cannot be cancelled."""
    job = _job(request)
    raise ApiError(400, f"Job {job['id']} has already {job['status']} and cannot be cancelled.")


def routes() -> list[web.RouteDef]:
    return [
        web.post("/v1/fine_tuning/jobs", create_job),
        web.get("/v1/fine_tuning/jobs", list_jobs),
        web.get("/v1/fine_tuning/jobs/{job_id}", retrieve_job),
        web.post("/v1/fine_tuning/jobs/{job_id}/cancel", cancel_job),
    ]
