"""``/v1/agents/automations``: scheduled agent work, kept and answered but never fired, since the
sandbox runs no scheduler. A ``periodic`` automation has a cron ``expression`` and a ``timezone``,
a ``once`` one a ``run_at``; either targets a ``new_session`` (an agent, an environment and input
for each session it would create) or an ``existing_session`` (which must exist).

A target is answered without confidential fields (``env``, ``setup_commands``) and with inline
files by their size. Automations are listed newest first unless ``order=asc``, narrowed by
``session_id`` (of existing-session targets).
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

from .agent_artifacts import SESSION_NOT_FOUND
from .agent_common import joined, named, object_at, text_at
from .agent_files import sources
from .agent_templates import safe_file, template_for
from .agent_vaults import check_vaults
from .agents import NOT_FOUND as AGENT_NOT_FOUND
from .agents import configured
from .errors import ApiError, missing_parameter, not_one_of
from .forms import read_json
from .keys import STATE
from .pagination import cursor_list
from .state import SandboxState, Stored
from .store import JsonObject, new_id
from .stored import Kind, metadata
from .validation import check_keys, require_int, require_str

NOT_FOUND = "Automation with id '{}' not found."
SCHEDULES = {"periodic": ("expression", "timezone"), "once": ("run_at",)}
TARGETS = ("new_session", "existing_session")
CONFIDENTIAL = ("env", "setup_commands")


def deleted(automation_id: str) -> JsonObject:
    return {"id": automation_id, "object": "agent.automation.deleted", "deleted": True}


KIND = Kind(lambda state: state.agent_automations, "automation_id", NOT_FOUND, deleted)


def _target(state: SandboxState, value: object) -> JsonObject:
    if value is None:
        raise missing_parameter("target")
    target = object_at(value, "target")
    kind = target.get("type")
    if kind not in TARGETS:
        raise not_one_of(kind, TARGETS, "target.type")
    if kind == "existing_session":
        session_id = named(state.agent_sessions, target.get("session_id"), SESSION_NOT_FOUND,
                           "target.session_id").object["id"]
        instructions = text_at(target, "instructions", "target")
        return {"type": kind, "session_id": session_id, "instructions": instructions}
    agent_id = target.get("agent_id")
    if agent_id is not None:
        named(state.agents, agent_id, AGENT_NOT_FOUND, "target.agent_id")
    agent = target.get("agent")
    inputs = target.get("input") or []
    return {
        "type": kind,
        "agent_id": agent_id,
        "agent": None if agent is None else configured(object_at(agent, "target.agent"), {}, "target.agent"),
        "environment": _environment(state, target.get("environment")),
        "input": [{"type": "message", **object_at(item, "target.input")} for item in inputs],
        "metadata": metadata(target),
        "vault_ids": check_vaults(state, target.get("vault_ids"), "target.vault_ids"),
    }


def _environment(state: SandboxState, value: object) -> JsonObject:
    where = "target.environment"
    if value is None:
        raise missing_parameter(where)
    environment = object_at(value, where)
    template_for(state, environment, where)
    safe = {key: given for key, given in environment.items() if key not in CONFIDENTIAL}
    if "files" in environment:
        placed = sources(state, environment["files"], joined(where, "files"))
        safe["files"] = [safe_file(each.entry("")) for each in placed]
    return safe


def _schedule(automation: JsonObject, body: JsonObject) -> None:
    """The schedule fields ``body`` gives; only those of the automation's type are allowed."""
    for kind, fields in SCHEDULES.items():
        for field in fields:
            if field not in body:
                continue
            if kind != automation["type"]:
                raise ApiError(400, f"'{field}' is only accepted for {kind} automations.", param=field)
            automation[field] = require_int(body, field) if field == "run_at" else require_str(body, field)


async def create(request: web.Request) -> web.Response:
    state = request.app[STATE]
    body = await read_json(request)
    kind = body.get("type")
    if kind not in SCHEDULES:
        raise not_one_of(kind, list(SCHEDULES), "type")
    check_keys(body, ("type", "name", "target", "metadata", *SCHEDULES[str(kind)]))
    for field in SCHEDULES[str(kind)]:
        if field not in body:
            raise missing_parameter(field)
    automation: JsonObject = {
        "id": new_id("auto_"),
        "object": "agent.automation",
        "type": kind,
        "name": require_str(body, "name"),
        "status": "active",
        "pause_reason": None,
        "created_at": state.clock.now(),
        "created_by": {"type": "developer"},
        "metadata": metadata(body),
        "target": _target(state, body.get("target")),
    }
    _schedule(automation, body)
    state.agent_automations[automation["id"]] = Stored(automation)
    return web.json_response(automation)


async def list_automations(request: web.Request) -> web.Response:
    session_id = request.query.get("session_id")
    kept = [
        automation.object
        for automation in request.app[STATE].agent_automations.values()
        if session_id in (None, automation.object["target"].get("session_id"))
    ]
    return web.json_response(cursor_list(request, kept))


async def update(request: web.Request) -> web.Response:
    """Each field named is replaced; a new target keeps the type of the old one."""
    state, stored = KIND.find(request)
    automation = stored.object
    body = await read_json(request)
    check_keys(body, ("name", "metadata", "target", "expression", "timezone", "run_at"))
    if "target" in body:
        target = _target(state, body["target"])
        if target["type"] != automation["target"]["type"]:
            raise not_one_of(target["type"], [automation["target"]["type"]], "target.type")
        automation["target"] = target
    if "name" in body:
        automation["name"] = require_str(body, "name")
    if "metadata" in body:
        automation["metadata"] = metadata(body)
    _schedule(automation, body)
    return web.json_response(automation)


def _status(status: str) -> Handler:
    """Pause or resume: nothing fires either way, only the status changes."""
    async def handler(request: web.Request) -> web.Response:
        automation = KIND.find(request)[1].object
        automation.update(status=status, pause_reason=None)
        return web.json_response(automation)

    return handler


def routes() -> list[web.RouteDef]:
    one = "/v1/agents/automations/{automation_id}"
    return [
        web.post("/v1/agents/automations", create),
        web.get("/v1/agents/automations", list_automations),
        web.get(one, KIND.retrieve),
        web.post(one, update),
        web.delete(one, KIND.delete),
        web.post(one + "/pause", _status("paused")),
        web.post(one + "/resume", _status("active")),
    ]
