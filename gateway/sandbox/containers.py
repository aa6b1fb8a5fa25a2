"""``/v1/containers``: containers and their files, which are copies with ``cfile_`` ids."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

from aiohttp import hdrs, web

from .errors import found
from .forms import read_form, read_json
from .keys import STATE
from .references import check_references
from .skills import check_skill_references
from .state import SandboxState
from .store import JsonObject, new_id
from .validation import require_str


def _container(request: web.Request) -> tuple[SandboxState, JsonObject]:
    state = request.app[STATE]
    return state, found(state.containers, request.match_info["container_id"], "Container")


def _folder(state: SandboxState, container_id: str) -> Path:
    return state.root / "containers" / container_id


def _copy(source: Path, target: Path) -> None:
    """A hard link when possible: a container keeps its copy even if the File is deleted."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def _register(
    state: SandboxState, container_id: str, cfile_id: str, name: str, size: int, source: str
) -> JsonObject:
    entry: JsonObject = {
        "id": cfile_id,
        "object": "container.file",
        "container_id": container_id,
        "created_at": state.clock.now(),
        "bytes": size,
        "path": f"/mnt/data/{name}",
        "source": source,
    }
    state.container_files[container_id][cfile_id] = entry
    return entry


async def _copy_file(state: SandboxState, container_id: str, file_id: str) -> JsonObject:
    record = state.files.require(file_id)
    cfile_id = new_id("cfile_")
    target = _folder(state, container_id) / cfile_id
    await asyncio.to_thread(_copy, state.files.path(file_id), target)
    return _register(state, container_id, cfile_id, record.filename, record.bytes, "user")


async def create_container(request: web.Request) -> web.Response:
    state = request.app[STATE]
    body = await read_json(request)
    name = require_str(body, "name")
    ids = check_references(state, {"file_ids": body.get("file_ids", [])})
    check_skill_references(state, {"skills": body.get("skills", [])})
    now = state.clock.now()
    container: JsonObject = {
        "id": new_id("cntr_"),
        "object": "container",
        "name": name,
        "created_at": now,
        "status": "running",
        "last_active_at": now,
        "memory_limit": body.get("memory_limit"),
        "expires_after": body.get("expires_after") or {"anchor": "last_active_at", "minutes": 20},
    }
    state.containers[container["id"]] = container
    state.container_files[container["id"]] = {}
    for file_id in ids:
        await _copy_file(state, container["id"], file_id)
    return web.json_response(container)


async def retrieve_container(request: web.Request) -> web.Response:
    return web.json_response(_container(request)[1])


async def add_file(request: web.Request) -> web.Response:
    """JSON ``{"file_id"}`` copies a File; a multipart ``file`` is stored directly."""
    state, container = _container(request)
    if request.content_type != "multipart/form-data":
        body = await read_json(request)
        file_id = require_str(body, "file_id")
        return web.json_response(await _copy_file(state, container["id"], file_id))
    cfile_id = new_id("cfile_")
    target = _folder(state, container["id"]) / cfile_id
    await asyncio.to_thread(target.parent.mkdir, parents=True, exist_ok=True)
    form = await read_form(request, spool=lambda: target, keep=("file",))
    try:
        upload, _ = form.spooled_file("file", ("file",))
        entry = _register(state, container["id"], cfile_id, upload.filename, upload.size, "user")
        upload.path = None
    finally:
        form.discard()
    return web.json_response(entry)


def _cfile(request: web.Request) -> tuple[SandboxState, JsonObject]:
    state, container = _container(request)
    files = state.container_files[container["id"]]
    return state, found(files, request.match_info["cfile_id"], "ContainerFile")


async def retrieve_file(request: web.Request) -> web.Response:
    return web.json_response(_cfile(request)[1])


async def file_content(request: web.Request) -> web.StreamResponse:
    state, entry = _cfile(request)
    path = _folder(state, entry["container_id"]) / entry["id"]
    headers = {hdrs.CONTENT_TYPE: "application/octet-stream"}
    return web.FileResponse(path, headers=headers)


def routes() -> list[web.RouteDef]:
    base = "/v1/containers/{container_id}"
    return [
        web.post("/v1/containers", create_container),
        web.get(base, retrieve_container),
        web.post(f"{base}/files", add_file),
        web.get(base + "/files/{cfile_id}", retrieve_file),
        web.get(base + "/files/{cfile_id}/content", file_content),
    ]
