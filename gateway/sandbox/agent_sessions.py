"""``/v1/agents/sessions``: managed agent sessions, answered whole or, with ``stream: true``, as
the events of their making (``agent_events``).

A session's ``environment`` is ``{"type": "none"}``, ``{"type": "self_hosted", …}`` or
``{"type": "openai_hosted", …}``: an existing environment by ``environment_id``, or a new one from
a template (``environment_template_id``) and inline settings and ``files`` (``agent_environments``).

The sandbox runs a session's first turn when it creates it, with or without ``input``, and
finishes it at once: the session answers ``idle``; its items are the input messages and one
assistant reply naming the files the body referenced; the turn publishes the environment's files
as artifacts (``agent_artifacts``). Sessions are listed newest first unless ``order=asc``,
narrowed by ``agent_id`` and ``metadata[key]=value``.
"""

from __future__ import annotations

from aiohttp import web

from .agent_artifacts import SESSION_NOT_FOUND, forget, publish
from .agent_common import metadata_matches, object_at
from .agent_environments import for_session
from .agent_events import session_events
from .agent_vaults import check_vaults
from .agents import configured, session_agent
from .errors import invalid_type, not_one_of
from .forms import read_json
from .keys import STATE
from .pagination import cursor_list
from .references import check_references, summary
from .state import Stored
from .store import JsonObject, new_id
from .stored import Kind, flag, metadata
from .streams import send_events
from .validation import check_keys

NOT_FOUND = SESSION_NOT_FOUND
UPDATES = ("agent", "metadata", "prompt_cache_options", "review", "spend_control", "vault_ids")
FIELDS = (*UPDATES, "environment", "agent_id", "input", "stream", "stream_options")
REVIEWS = ("none", "auto_review")
CACHE_TTLS = ("30m", "12h")
USAGE: JsonObject = {
    "input_tokens": 10,
    "input_tokens_details": {"cached_tokens": 0},
    "output_tokens": 5,
    "output_tokens_details": {"reasoning_tokens": 0},
    "total_tokens": 15,
}


def deleted(session_id: str) -> JsonObject:
    return {"id": session_id, "object": "agent.session.deleted", "deleted": True}


KIND = Kind(lambda state: state.agent_sessions, "session_id", NOT_FOUND, deleted)


def _inputs(value: object) -> list[object]:
    """The content of each input message; a string is one user message of input text."""
    if value is None:
        return []
    if isinstance(value, str):
        return [[{"type": "input_text", "text": value}]]
    if not isinstance(value, list):
        raise invalid_type("input", "one of a string or an array of input messages")
    contents: list[object] = []
    for index, message in enumerate(value):
        given = object_at(message, f"input[{index}]")
        if given.get("role") != "user":
            raise not_one_of(given.get("role"), ["user"], f"input[{index}].role")
        if not isinstance(given.get("content"), list):
            raise invalid_type(f"input[{index}].content", "an array")
        contents.append(given["content"])
    return contents


def _message(turn_id: str, role: str, content: object) -> JsonObject:
    return {
        "id": new_id("msg_"),
        "type": "message",
        "role": role,
        "status": "completed",
        "phase": "final_answer" if role == "assistant" else None,
        "turn_id": turn_id,
        "content": content,
    }


def _review(body: JsonObject) -> str:
    review = body.get("review") or "none"
    if review not in REVIEWS:
        raise not_one_of(review, REVIEWS, "review")
    return str(review)


def _spend(body: JsonObject, consumed: int) -> JsonObject:
    limit = object_at(body.get("spend_control"), "spend_control").get("limit")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)):
        raise invalid_type("spend_control.limit", "an integer")
    return {"limit": limit, "consumed": consumed}


def _cache(body: JsonObject) -> JsonObject | None:
    if body.get("prompt_cache_options") is None:
        return None
    ttl = object_at(body["prompt_cache_options"], "prompt_cache_options").get("ttl", "30m")
    if ttl not in CACHE_TTLS:
        raise not_one_of(ttl, CACHE_TTLS, "prompt_cache_options.ttl")
    return {"ttl": ttl}


async def create(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    body = await read_json(request)
    check_keys(body, FIELDS)
    # Every check comes before the environment, whose files are placed as it is made.
    ids = check_references(state, body)
    agent = session_agent(state, body)
    vault_ids = check_vaults(state, body.get("vault_ids"), "vault_ids")
    contents = _inputs(body.get("input"))
    stream = flag(body, "stream", False)
    session_id, turn_id, now = new_id("sess_"), new_id("turn_"), state.clock.now()
    session: JsonObject = {
        "id": session_id,
        "object": "agent.session",
        "created_at": now,
        "last_active_at": now,
        "status": "idle",
        "error": None,
        "agent": agent,
        "environment": None,
        "metadata": metadata(body),
        "vault_ids": vault_ids,
        "required_actions": [],
        "review": _review(body),
        "spend_control": _spend(body, 0),
        "prompt_cache_options": _cache(body),
        "usage": USAGE,
    }
    session["environment"] = await for_session(state, body.get("environment"))
    turn: JsonObject = {
        "id": turn_id,
        "object": "agent.session.turn",
        "session_id": session_id,
        "agent_id": agent["id"],
        "status": "completed",
        "created_at": now,
        "started_at": now,
        "completed_at": now,
        "error": None,
        "subagent_id": None,
        "usage": USAGE,
        "prompt_cache_options": session["prompt_cache_options"],
    }
    items = [_message(turn_id, "user", content) for content in contents]
    items.append(_message(turn_id, "assistant", [{"type": "output_text", "text": summary(ids)}]))
    state.agent_sessions[session_id] = Stored(session, items)
    await publish(state, session_id, turn_id, session["environment"])
    if stream:
        return await send_events(request, session_events(session, turn, items), named=True, done=False)
    return web.json_response(session)


async def list_sessions(request: web.Request) -> web.Response:
    agent_id = request.query.get("agent_id")
    kept = [
        session.object
        for session in request.app[STATE].agent_sessions.values()
        if agent_id in (None, session.object["agent"]["id"])
        and metadata_matches(request, session.object["metadata"])
    ]
    return web.json_response(cursor_list(request, kept))


async def update(request: web.Request) -> web.Response:
    """Each field named is replaced; the agent's ``model``, ``reasoning.effort``, ``service_tier``
    and ``tools`` change for the turns to come."""
    state, stored = KIND.find(request)
    body = await read_json(request)
    check_keys(body, UPDATES)
    session = stored.object
    if "agent" in body:
        wanted = object_at(body["agent"], "agent")
        check_keys(wanted, ("model", "reasoning", "service_tier", "tools"))
        if "reasoning" in wanted:
            effort = object_at(wanted["reasoning"], "agent.reasoning").get("effort")
            wanted = {**wanted, "reasoning": {**session["agent"]["reasoning"], "effort": effort}}
        session["agent"] = {"id": session["agent"]["id"], **configured(wanted, session["agent"], "agent")}
    if "metadata" in body:
        session["metadata"] = metadata(body)
    if "vault_ids" in body:
        session["vault_ids"] = check_vaults(state, body["vault_ids"], "vault_ids")
    if "review" in body:
        session["review"] = _review(body)
    if "spend_control" in body:
        session["spend_control"] = _spend(body, session["spend_control"]["consumed"])
    if "prompt_cache_options" in body:
        session["prompt_cache_options"] = _cache(body)
    session["last_active_at"] = state.clock.now()
    return web.json_response(session)


async def delete(request: web.Request) -> web.Response:
    answer = await KIND.delete(request)
    await forget(request.app[STATE], request.match_info[KIND.param])
    return answer


async def list_items(request: web.Request) -> web.Response:
    return web.json_response(cursor_list(request, KIND.find(request)[1].items))


def routes() -> list[web.RouteDef]:
    one = "/v1/agents/sessions/{session_id}"
    return [
        web.post("/v1/agents/sessions", create),
        web.get("/v1/agents/sessions", list_sessions),
        web.get(one, KIND.retrieve),
        web.post(one, update),
        web.delete(one, delete),
        web.get(one + "/items", list_items),
    ]
