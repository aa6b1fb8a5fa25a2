"""``/v1/agents``: saved, reusable agents, and the agent configuration sessions and automations
share. Every setting is answered resolved: what was given, else its documented default.

A session runs a saved agent (``agent_id``), with ``agent``'s fields overriding it for that
session only, or an inline ``agent`` alone, which then needs a ``model``. An unknown
``agent_id`` is a 404 pointing at it. Agents are listed newest first unless ``order=asc``.
"""

from __future__ import annotations

import copy

from aiohttp import web

from .agent_common import joined, named, object_at
from .errors import invalid_type, missing_parameter, not_one_of
from .forms import read_json
from .keys import STATE
from .pagination import cursor_list
from .state import SandboxState, Stored
from .store import JsonObject, new_id
from .stored import Kind, metadata
from .validation import check_keys

NOT_FOUND = "Agent with id '{}' not found."
TIERS = ("auto", "default", "flex", "priority", "fast", "ultrafast")
TEXTS = ("model", "name", "instructions")
DEFAULTS: JsonObject = {
    "model": None,
    "name": None,
    "instructions": None,
    "multi_agent": {"enabled": False, "max_concurrent_subagents": None},
    "reasoning": {"effort": None, "summary": None},
    "service_tier": "auto",
    "text": {"format": {"type": "text"}, "verbosity": "medium"},
    "tools": [],
    "compaction": {"async": False},
    "experimental": {"time_awareness": False},
}
MAX_SUBAGENTS = 6  # the documented default once subagents are enabled


def deleted(agent_id: str) -> JsonObject:
    return {"id": agent_id, "object": "agent.deleted", "deleted": True}


KIND = Kind(lambda state: state.agents, "agent_id", NOT_FOUND, deleted)


def configured(body: JsonObject, base: JsonObject, where: str = "") -> JsonObject:
    """``base``'s settings with each one ``body`` names replaced; null resets one to its default
    and ``experimental`` merges key by key. A ``model`` is required in the end."""
    made = {key: copy.deepcopy(base.get(key, default)) for key, default in DEFAULTS.items()}
    for key in DEFAULTS:
        if key not in body:
            continue
        param, value = joined(where, key), body[key]
        if value is None and key != "model":
            made[key] = copy.deepcopy(DEFAULTS[key])
        else:
            made[key] = _setting(key, value, made[key], param)
    if made["model"] is None:
        raise missing_parameter(joined(where, "model"))
    return made


def _setting(key: str, value: object, current: object, param: str) -> object:
    if key in TEXTS:
        if not isinstance(value, str):
            raise invalid_type(param, "a string")
        return value
    if key == "service_tier":
        if value not in TIERS:
            raise not_one_of(value, TIERS, param)
        return value
    if key == "tools":
        if not isinstance(value, list):
            raise invalid_type(param, "an array")
        return value
    given = object_at(value, param)
    if key == "experimental":
        return {**object_at(current, param), **given}
    if key == "compaction":
        return {"async": bool(given.get("async"))}
    if key == "multi_agent":
        enabled = bool(given.get("enabled"))
        most = given.get("max_concurrent_subagents") or MAX_SUBAGENTS
        return {"enabled": enabled, "max_concurrent_subagents": most if enabled else None}
    if key == "reasoning":
        return {"effort": given.get("effort"), "summary": given.get("summary")}
    text_format = given.get("format") or {"type": "text"}
    return {"format": text_format, "verbosity": given.get("verbosity") or "medium"}


def session_agent(state: SandboxState, body: JsonObject) -> JsonObject:
    """The agent a session runs, as the session answers it; an inline one gets an id of its own."""
    overrides = object_at(body.get("agent"), "agent")
    if body.get("agent_id") is None:
        return {"id": new_id("agent_"), **configured(overrides, {}, "agent")}
    saved = named(state.agents, body["agent_id"], NOT_FOUND, "agent_id").object
    return {"id": saved["id"], **configured(overrides, saved, "agent")}


async def create(request: web.Request) -> web.Response:
    state = request.app[STATE]
    body = await read_json(request)
    check_keys(body, (*DEFAULTS, "metadata"))
    now = state.clock.now()
    agent: JsonObject = {
        "id": new_id("agent_"),
        "object": "agent",
        "created_at": now,
        "updated_at": now,
        "metadata": metadata(body),
        **configured(body, {}),
    }
    state.agents[agent["id"]] = Stored(agent)
    return web.json_response(agent)


async def list_agents(request: web.Request) -> web.Response:
    kept = [agent.object for agent in request.app[STATE].agents.values()]
    return web.json_response(cursor_list(request, kept))


async def update(request: web.Request) -> web.Response:
    state, stored = KIND.find(request)
    body = await read_json(request)
    check_keys(body, (*DEFAULTS, "metadata"))
    agent = stored.object
    agent.update(configured(body, agent), updated_at=state.clock.now())
    if "metadata" in body:
        agent["metadata"] = metadata(body)
    return web.json_response(agent)


def routes() -> list[web.RouteDef]:
    one = "/v1/agents/{agent_id}"
    return [
        web.post("/v1/agents", create),
        web.get("/v1/agents", list_agents),
        web.get(one, KIND.retrieve),
        web.post(one, update),
        web.delete(one, KIND.delete),
    ]
