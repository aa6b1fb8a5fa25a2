"""``/v1/agents/environments``: OpenAI-hosted execution environments and their live files.

An environment is made ready at once, from its ``environment`` configuration over the template it
names (``environment_template_id``); its files are the template's, then the configuration's, a
later file replacing an earlier one at the same path. ``POST …/files`` places one more file the
same way. Every session of an ``openai_hosted`` environment uses one of these: the one it names
(``environment.environment_id``), or a new one made from its configuration and kept here too.

The SDK has no update or delete for environments, so neither is emulated. An environment's files
list pages by an opaque ``page`` token (the SDK's token page), sorted by path.
"""

from __future__ import annotations

from aiohttp import web

from .agent_common import joined, named, object_at, strings, text_at
from .agent_files import Source, discard, folder, place, source, sources
from .agent_hosted import plugins, settings, skills
from .agent_templates import template_for, template_sources
from .agent_vaults import check_vaults
from .errors import ApiError, missing_parameter, not_one_of
from .forms import read_json
from .keys import STATE
from .pagination import cursor_list
from .state import SandboxState, Stored
from .store import JsonObject, new_id
from .stored import lookup
from .validation import check_keys, list_limit, list_order

NOT_FOUND = "Environment with id '{}' not found."
TYPES = ("none", "openai_hosted", "self_hosted")
# The answer of an environment (`EnvironmentInfo`) and a session's view of it.
INFO = ("id", "object", "type", "status", "files", "plugins", "skills")
RESOURCE = (
    "id", "type", "capability_directories", "container_size", "desktop", "files", "network",
    "packages", "plugins", "skills",
)


def _find(request: web.Request) -> tuple[SandboxState, Stored]:
    state = request.app[STATE]
    return state, lookup(state.agent_environments, request.match_info["environment_id"], NOT_FOUND)


def info(environment: JsonObject) -> JsonObject:
    return {key: environment[key] for key in INFO}


async def provision(state: SandboxState, config: JsonObject, where: str) -> JsonObject:
    """A new hosted environment made from ``config``; everything is checked before any file
    is placed."""
    template = template_for(state, config, where)
    base = template.object if template is not None else {}
    chosen = [] if template is None else template_sources(state, template, joined(where, "files"))
    chosen += sources(state, config.get("files"), joined(where, "files"))
    made_skills = config.get("skills", base.get("skills"))
    environment: JsonObject = {
        "id": new_id("env_"),
        "object": "agent.environment",
        "type": "openai_hosted",
        "status": "ready",
        "container_size": config.get("container_size") or "medium",
        **settings(config, base, where),
        "skills": skills(state, made_skills, joined(where, "skills"), pinned=True),
        "plugins": plugins(config.get("plugins", base.get("plugins")), joined(where, "plugins")),
        "files": [],
    }
    for placed in chosen:
        await put(state, environment, placed)
    state.agent_environments[environment["id"]] = Stored(environment)
    return environment


async def put(state: SandboxState, environment: JsonObject, placed: Source) -> JsonObject:
    """Place one file, replacing the one at its path."""
    entry = placed.entry(new_id("envfile_"))
    kept = folder(state, "environments", environment["id"])
    await place(placed, kept / entry["id"])
    stale = [old for old in environment["files"] if old["path"] == placed.path]
    environment["files"] = [old for old in environment["files"] if old["path"] != placed.path]
    environment["files"].append(entry)
    for old in stale:
        await discard(kept / old["id"])
    return entry


async def for_session(state: SandboxState, value: object) -> JsonObject:
    """A session's ``environment`` as it answers it."""
    if value is None:
        raise missing_parameter("environment")
    config = object_at(value, "environment")
    kind = config.get("type")
    if kind not in TYPES:
        raise not_one_of(kind, TYPES, "environment.type")
    if kind == "none":
        return {"type": "none"}
    if kind == "self_hosted":
        made_id = new_id("env_")
        return {
            "id": made_id,
            "type": "self_hosted",
            "capability_directories": strings(
                config.get("capability_directories"), "environment.capability_directories"
            ),
            "workspace_directory": text_at(config, "workspace_directory", "environment"),
            # Nothing listens there: the sandbox runs no environments.
            "remote_url": f"wss://sandbox.invalid/v1/agents/environments/{made_id}",
        }
    if config.get("environment_id") is None:
        environment = await provision(state, config, "environment")
    else:
        others = [key for key in config if key not in ("type", "environment_id")]
        if others:
            raise ApiError(
                400,
                "'environment.environment_id' cannot be combined with a template or inline "
                f"configuration (got {', '.join(others)}).",
                param="environment.environment_id",
            )
        table = state.agent_environments
        param = "environment.environment_id"
        environment = named(table, config["environment_id"], NOT_FOUND, param).object
    return {key: environment[key] for key in RESOURCE}


async def create(request: web.Request) -> web.Response:
    state = request.app[STATE]
    body = await read_json(request)
    check_keys(body, ("environment", "vault_ids"))
    if body.get("environment") is None:
        raise missing_parameter("environment")
    config = object_at(body["environment"], "environment")
    if config.get("type") != "openai_hosted":
        raise not_one_of(config.get("type"), ["openai_hosted"], "environment.type")
    check_vaults(state, body.get("vault_ids"), "vault_ids")
    return web.json_response(info(await provision(state, config, "environment")))


async def retrieve(request: web.Request) -> web.Response:
    return web.json_response(info(_find(request)[1].object))


async def list_environments(request: web.Request) -> web.Response:
    kept = [info(environment.object) for environment in request.app[STATE].agent_environments.values()]
    return web.json_response(cursor_list(request, kept))


def _live(environment: JsonObject, entry: JsonObject) -> JsonObject:
    return {
        "object": "agent.environment.file",
        "environment_id": environment["id"],
        "path": entry["path"],
        "size_bytes": entry["size_bytes"],
    }


async def add_file(request: web.Request) -> web.Response:
    state, environment = _find(request)
    body = await read_json(request)
    check_keys(body, ("type", "file_id", "data", "path"))
    entry = await put(state, environment.object, source(state, body, ""))
    return web.json_response(_live(environment.object, entry))


async def list_files(request: web.Request) -> web.Response:
    """Files under ``path`` (a directory; all by default), by path; ``page`` is the last path
    of the page before, which the caller only echoes."""
    environment = _find(request)[1].object
    query = request.query
    limit = list_limit(query.get("limit"), 100, 100)
    descending = list_order(query.get("order")) == "desc"
    under = query.get("path", "/workspace").rstrip("/") + "/"
    paths = sorted((e for e in environment["files"] if e["path"].startswith(under)),
                   key=lambda e: e["path"], reverse=descending)
    token = query.get("page")
    if token is not None:
        paths = [e for e in paths if (e["path"] < token if descending else e["path"] > token)]
    shown = paths[:limit]
    more = len(paths) > limit
    return web.json_response({
        "object": "list",
        "data": [_live(environment, entry) for entry in shown],
        "has_more": more,
        "next": shown[-1]["path"] if more else None,
    })


def routes() -> list[web.RouteDef]:
    one = "/v1/agents/environments/{environment_id}"
    return [
        web.post("/v1/agents/environments", create),
        web.get("/v1/agents/environments", list_environments),
        web.get(one, retrieve),
        web.post(one + "/files", add_file),
        web.get(one + "/files", list_files),
    ]
