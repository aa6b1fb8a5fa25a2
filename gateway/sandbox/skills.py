"""``/v1/skills``: a skill is a bundle of files (``bundles``) kept in numbered, immutable
versions (``skill_versions``); its name, description and content are its default version's.

A skill is listed newest first unless ``order=asc``. Containers and responses name skills by id
(``{"type": "skill_reference", "skill_id": …}``); an unknown one is a 404 there too.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from aiohttp import hdrs, web

from .bundles import Bundle, read_bundle
from .errors import ApiError, invalid_type
from .forms import read_json
from .keys import STATE
from .pagination import cursor_list
from .state import SandboxState, Stored
from .store import JsonObject, new_id
from .stored import Kind
from .validation import check_keys, require_str

NOT_FOUND = "Skill with id '{}' not found."
VERSION_NOT_FOUND = "Version '{}' of skill with id '{}' not found."
REFERENCE = "skill_reference"


def deleted(skill_id: str) -> JsonObject:
    return {"id": skill_id, "object": "skill.deleted", "deleted": True}


KIND = Kind(lambda state: state.skills, "skill_id", NOT_FOUND, deleted)


def folder(state: SandboxState, skill_id: str) -> Path:
    return state.root / "skills" / skill_id


def bundle_path(state: SandboxState, skill_id: str, version: str) -> Path:
    return folder(state, skill_id) / f"{version}.zip"


def version_of(skill: Stored, version: str, param: str | None = None) -> JsonObject:
    """One of the skill's versions, or its 404."""
    for made in skill.items:
        if made["version"] == version:
            return made
    raise ApiError(404, VERSION_NOT_FOUND.format(version, skill.object["id"]), param=param)


def new_version(state: SandboxState, skill_id: str, number: int, bundle: Bundle) -> JsonObject:
    return {
        "id": new_id("skillver_"),
        "object": "skill.version",
        "skill_id": skill_id,
        "version": str(number),
        "created_at": state.clock.now(),
        "name": bundle.name,
        "description": bundle.description,
    }


def make_default(skill: Stored, version: JsonObject) -> None:
    skill.object.update(
        default_version=version["version"], name=version["name"], description=version["description"]
    )


def bundle_response(state: SandboxState, skill_id: str, version: str) -> web.FileResponse:
    """The bundle streamed from disk, as file content is."""
    headers = {hdrs.CONTENT_TYPE: "application/zip"}
    return web.FileResponse(bundle_path(state, skill_id, version), headers=headers)


async def create(request: web.Request) -> web.Response:
    state = request.app[STATE]
    skill_id = new_id("skill_")
    bundle = await read_bundle(request, bundle_path(state, skill_id, "1"))
    version = new_version(state, skill_id, 1, bundle)
    skill: JsonObject = {
        "id": skill_id,
        "object": "skill",
        "name": bundle.name,
        "description": bundle.description,
        "created_at": version["created_at"],
        "default_version": version["version"],
        "latest_version": version["version"],
    }
    state.skills[skill_id] = Stored(skill, [version])
    state.skill_version_counts[skill_id] = 1
    return web.json_response(skill)


async def list_skills(request: web.Request) -> web.Response:
    kept = [skill.object for skill in request.app[STATE].skills.values()]
    return web.json_response(cursor_list(request, kept))


async def update(request: web.Request) -> web.Response:
    """Only ``default_version`` changes, and with it the name and description answered."""
    skill = KIND.find(request)[1]
    body = await read_json(request)
    check_keys(body, ("default_version",))
    wanted = require_str(body, "default_version")
    make_default(skill, version_of(skill, wanted, "default_version"))
    return web.json_response(skill.object)


async def delete(request: web.Request) -> web.Response:
    answer = await KIND.delete(request)
    state, skill_id = request.app[STATE], request.match_info[KIND.param]
    del state.skill_version_counts[skill_id]
    await asyncio.to_thread(shutil.rmtree, folder(state, skill_id), ignore_errors=True)
    return answer


async def content(request: web.Request) -> web.FileResponse:
    state, skill = KIND.find(request)
    return bundle_response(state, skill.object["id"], skill.object["default_version"])


def check_skill_references(state: SandboxState, body: object) -> None:
    """Every ``skill_reference`` in ``body`` names a skill (and version) the sandbox has; the
    404 for the first that does not points at it."""
    for path, reference in _references(body):
        skill_id = reference.get("skill_id")
        if not isinstance(skill_id, str):
            raise invalid_type(f"{path}.skill_id", "a string")
        skill = state.skills.get(skill_id)
        if skill is None:
            raise ApiError(404, NOT_FOUND.format(skill_id), param=f"{path}.skill_id")
        version = reference.get("version")
        if version is not None and version != "latest":
            version_of(skill, str(version), f"{path}.version")


def _references(body: object) -> list[tuple[str, JsonObject]]:
    """(param path, reference) of every skill reference, in document order: a container's
    ``skills[0]``, a tool's ``tools[0].environment.skills[0]``, wherever else one appears."""
    found: list[tuple[str, JsonObject]] = []
    stack: list[tuple[str, object]] = [("", body)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, list):
            stack.extend(reversed([(f"{path}[{i}]", item) for i, item in enumerate(node)]))
        elif isinstance(node, dict):
            if node.get("type") == REFERENCE:
                found.append((path, node))
            children = [(f"{path}.{key}" if path else str(key), value) for key, value in node.items()]
            stack.extend(reversed(children))
    return found


def routes() -> list[web.RouteDef]:
    one = "/v1/skills/{skill_id}"
    return [
        web.post("/v1/skills", create),
        web.get("/v1/skills", list_skills),
        web.get(one, KIND.retrieve),
        web.post(one, update),
        web.delete(one, delete),
        web.get(one + "/content", content),
    ]
