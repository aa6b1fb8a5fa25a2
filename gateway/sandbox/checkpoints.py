"""A fine-tuning job's checkpoints (one, the final step, for every succeeded sandbox job) and
the permissions that share a checkpoint's model with other projects."""

from __future__ import annotations

from aiohttp import web

from .errors import ApiError, found
from .forms import read_json
from .keys import STATE
from .pagination import cursor_list
from .store import JsonObject, new_id


def checkpoint_model(job: JsonObject) -> str:
    return f"{job['fine_tuned_model']}:ckpt-step-1"


async def list_checkpoints(request: web.Request) -> web.Response:
    job = found(request.app[STATE].jobs, request.match_info["job_id"], "FineTuningJob")
    checkpoint: JsonObject = {
        "id": "ftckpt_" + job["id"][6:], "object": "fine_tuning.job.checkpoint",
        "created_at": job["finished_at"], "fine_tuning_job_id": job["id"],
        "fine_tuned_model_checkpoint": checkpoint_model(job), "step_number": 1,
        "metrics": {"step": 1, "train_loss": 0.5, "train_mean_token_accuracy": 0.9},
    }
    return web.json_response(cursor_list(request, [checkpoint]))


def _checkpoint(request: web.Request) -> str:
    name = request.match_info["checkpoint"]
    if name not in {checkpoint_model(job) for job in request.app[STATE].jobs.values()}:
        raise ApiError(404, f"Checkpoint {name} not found", param="fine_tuned_model_checkpoint")
    return name


async def create_permissions(request: web.Request) -> web.Response:
    name = _checkpoint(request)
    body = await read_json(request)
    projects = body.get("project_ids")
    if not isinstance(projects, list) or not all(isinstance(p, str) for p in projects):
        raise ApiError(400, "project_ids must be a list of strings", param="project_ids")
    made = request.app[STATE].checkpoint_permissions.setdefault(name, {})
    now = request.app[STATE].clock.now()
    created = []
    for project in projects:
        permission = {"id": new_id("cp_"), "object": "checkpoint.permission", "created_at": now,
                      "project_id": project}
        made[permission["id"]] = permission
        created.append(permission)
    return web.json_response({"object": "list", "data": created, "has_more": False})


async def list_permissions(request: web.Request) -> web.Response:
    name = _checkpoint(request)
    permissions = list(request.app[STATE].checkpoint_permissions.get(name, {}).values())
    return web.json_response(cursor_list(request, permissions))


async def delete_permission(request: web.Request) -> web.Response:
    name = _checkpoint(request)
    permissions = request.app[STATE].checkpoint_permissions.get(name, {})
    permission = found(permissions, request.match_info["permission_id"], "Permission")
    del permissions[permission["id"]]
    return web.json_response({"id": permission["id"], "object": "checkpoint.permission",
                              "deleted": True})


def routes() -> list[web.RouteDef]:
    base = "/v1/fine_tuning/checkpoints/{checkpoint}/permissions"
    return [
        web.get("/v1/fine_tuning/jobs/{job_id}/checkpoints", list_checkpoints),
        web.post(base, create_permissions),
        web.get(base, list_permissions),
        web.delete(base + "/{permission_id}", delete_permission),
    ]
