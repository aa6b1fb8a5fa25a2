"""``/v1/skills/{skill_id}/versions``: a skill's numbered, immutable versions, oldest first
unless ``order=desc``. A new version is the latest, and the default only when sent
``default=true``; the default version cannot be deleted (another must be made the default
first), so a skill always has one to answer its content with."""

from __future__ import annotations

import asyncio
import shutil

from aiohttp import web

from . import skills
from .bundles import read_bundle
from .errors import ApiError, invalid_type
from .pagination import cursor_list
from .state import SandboxState, Stored
from .store import JsonObject

BOOLEANS = {"true": True, "false": False}  # how a form field carries the SDK's `default`


def _version(request: web.Request) -> tuple[SandboxState, Stored, JsonObject]:
    state, skill = skills.KIND.find(request)
    return state, skill, skills.version_of(skill, request.match_info["version"])


async def create(request: web.Request) -> web.Response:
    state, skill = skills.KIND.find(request)
    skill_id = skill.object["id"]
    # Reserved before the upload arrives, so that two uploads at once never share a number.
    number = state.skill_version_counts[skill_id] = state.skill_version_counts[skill_id] + 1
    target = skills.bundle_path(state, skill_id, str(number))
    bundle = await read_bundle(request, target, ("default",))
    flag = bundle.fields.get("default", "false")
    if flag not in BOOLEANS:
        await asyncio.to_thread(target.unlink, missing_ok=True)
        raise invalid_type("default", "a boolean")
    if state.skills.get(skill_id) is not skill:
        # Deleted while the bundle arrived: what the upload left behind goes with it.
        await asyncio.to_thread(shutil.rmtree, skills.folder(state, skill_id), ignore_errors=True)
        raise ApiError(404, skills.NOT_FOUND.format(skill_id))
    version = skills.new_version(state, skill_id, number, bundle)
    # In number order, even when a later upload finished first.
    skill.items.append(version)
    skill.items.sort(key=lambda made: int(made["version"]))
    skill.object["latest_version"] = skill.items[-1]["version"]
    if BOOLEANS[flag]:
        skills.make_default(skill, version)
    return web.json_response(version)


async def list_versions(request: web.Request) -> web.Response:
    skill = skills.KIND.find(request)[1]
    return web.json_response(cursor_list(request, skill.items, default_order="asc"))


async def retrieve(request: web.Request) -> web.Response:
    return web.json_response(_version(request)[2])


async def delete(request: web.Request) -> web.Response:
    state, skill, version = _version(request)
    number = version["version"]
    if number == skill.object["default_version"]:
        raise ApiError(
            400,
            f"Cannot delete version '{number}': it is the default version of skill with id "
            f"'{skill.object['id']}'. Make another version the default first.",
            param="version",
        )
    skill.items.remove(version)
    skill.object["latest_version"] = skill.items[-1]["version"]
    path = skills.bundle_path(state, skill.object["id"], number)
    await asyncio.to_thread(path.unlink, missing_ok=True)
    return web.json_response(
        {"id": version["id"], "object": "skill.version.deleted", "deleted": True, "version": number}
    )


async def content(request: web.Request) -> web.FileResponse:
    state, skill, version = _version(request)
    return skills.bundle_response(state, skill.object["id"], version["version"])


def routes() -> list[web.RouteDef]:
    versions = "/v1/skills/{skill_id}/versions"
    one = versions + "/{version}"
    return [
        web.post(versions, create),
        web.get(versions, list_versions),
        web.get(one, retrieve),
        web.delete(one, delete),
        web.get(one + "/content", content),
    ]
