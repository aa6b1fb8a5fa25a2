"""``/v1/agents/environments/templates``: reusable hosted configurations; a session naming one
(``environment.environment_template_id``) gets a fresh environment made from it.

A template answers its files without their contents: a ``file_id`` entry by the File it names,
resolved again for every session (so copied then, or refused with the File 404 if the File is
gone); an ``inline`` one by its size, its bytes kept under ``<root>/agents/templates/<id>/``.
An update replaces each field it names, and ``null`` resets one to its default.
"""

from __future__ import annotations

from aiohttp import web

from .agent_common import joined, named
from .agent_files import Source, discard, folder, place, source, sources
from .agent_hosted import plugins, settings, skills
from .forms import read_json
from .keys import STATE
from .pagination import cursor_list
from .state import SandboxState, Stored
from .store import JsonObject, new_id
from .stored import Kind
from .validation import check_keys, optional_str

NOT_FOUND = "Environment template with id '{}' not found."
FIELDS = (
    "name", "capability_directories", "desktop", "env", "files", "network", "packages", "plugins",
    "setup_commands", "skills",
)


def deleted(template_id: str) -> JsonObject:
    return {"id": template_id, "object": "agent.environment.template.deleted", "deleted": True}


KIND = Kind(lambda state: state.agent_templates, "environment_template_id", NOT_FOUND, deleted)


def template_for(state: SandboxState, config: JsonObject, where: str) -> Stored | None:
    """The template an environment configuration names, if any."""
    template_id = config.get("environment_template_id")
    if template_id is None:
        return None
    param = joined(where, "environment_template_id")
    return named(state.agent_templates, template_id, NOT_FOUND, param)


def template_sources(state: SandboxState, template: Stored, where: str) -> list[Source]:
    """The template's files, ready to place in a new environment."""
    kept = folder(state, "templates", template.object["id"])
    made: list[Source] = []
    for item in template.items:
        if item["type"] == "file_id":
            named_file = {"type": "file_id", "file_id": item["file_id"], "path": item["path"]}
            made.append(source(state, named_file, where))
        else:
            made.append(Source("inline", item["path"], item["size_bytes"], origin=kept / item["id"]))
    return made


def safe_file(item: JsonObject) -> JsonObject:
    """A placed file as a template answers it: by the File it names, or by its size."""
    if item["type"] == "file_id":
        return {"type": "file_id", "file_id": item["file_id"], "path": item["path"]}
    return {"type": "inline", "path": item["path"], "size_bytes": item["size_bytes"]}


async def _apply(state: SandboxState, template: Stored, body: JsonObject) -> None:
    """Everything is checked before the first byte is written."""
    check_keys(body, FIELDS)
    # A null resets the field, so it must not inherit the template's current value.
    base = {key: value for key, value in template.object.items() if body.get(key, value) is not None}
    made = settings(body, base, "")
    if "skills" in body:
        made["skills"] = skills(state, body["skills"], "skills", pinned=False)
    if "plugins" in body:
        made["plugins"] = plugins(body["plugins"], "plugins")
    if "name" in body:
        made["name"] = optional_str(body, "name")
    if "files" in body:
        by_path = {placed.path: placed for placed in sources(state, body["files"], "files")}
        stale = template.items
        template.items = []
        for placed in by_path.values():
            item = placed.entry(new_id("tplfile_"))
            if placed.type == "inline":
                await place(placed, folder(state, "templates", template.object["id"]) / item["id"])
            template.items.append(item)
        for item in stale:
            await discard(folder(state, "templates", template.object["id"]) / item["id"])
        made["files"] = [safe_file(item) for item in template.items]
    template.object.update(made, updated_at=state.clock.now())


async def create(request: web.Request) -> web.Response:
    state = request.app[STATE]
    body = await read_json(request)
    now = state.clock.now()
    template = Stored({
        "id": new_id("envtpl_"),
        "object": "agent.environment.template",
        "name": None,
        "created_at": now,
        "updated_at": now,
        "files": [],
        "plugins": [],
        "skills": [],
    })
    await _apply(state, template, body)
    state.agent_templates[template.object["id"]] = template
    return web.json_response(template.object)


async def list_templates(request: web.Request) -> web.Response:
    kept = [template.object for template in request.app[STATE].agent_templates.values()]
    return web.json_response(cursor_list(request, kept))


async def update(request: web.Request) -> web.Response:
    state, template = KIND.find(request)
    await _apply(state, template, await read_json(request))
    return web.json_response(template.object)


async def delete(request: web.Request) -> web.Response:
    answer = await KIND.delete(request)
    state = request.app[STATE]
    await discard(folder(state, "templates", request.match_info[KIND.param]))
    return answer


def routes() -> list[web.RouteDef]:
    many = "/v1/agents/environments/templates"
    one = many + "/{environment_template_id}"
    return [
        web.post(many, create),
        web.get(many, list_templates),
        web.get(one, KIND.retrieve),
        web.post(one, update),
        web.delete(one, delete),
    ]
