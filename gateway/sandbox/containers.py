"""``/v1/containers``: containers and their files, which are copies with ``cfile_`` ids.

A container's bytes live under ``<root>/containers/<container id>/``; deleting the container
removes that folder, and deleting one of its files removes that file's bytes.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

from aiohttp import hdrs, web

from .errors import found, not_found
from .forms import read_form, read_json
from .keys import STATE
from .pagination import cursor_list
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


async def _still_there(state: SandboxState, container_id: str) -> None:
    """404 when the container was deleted while a new file's bytes were being written: they
    would be orphans, and so would the folder the write may have re-created."""
    if container_id not in state.containers:
        await asyncio.to_thread(shutil.rmtree, _folder(state, container_id), ignore_errors=True)
        raise not_found("Container", container_id)


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
    await _still_there(state, container_id)
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


async def list_containers(request: web.Request) -> web.Response:
    """Newest first unless ``order=asc``; ``name`` keeps the containers of exactly that name."""
    containers = list(request.app[STATE].containers.values())
    name = request.query.get("name")
    if name is not None:
        containers = [c for c in containers if c["name"] == name]
    return web.json_response(cursor_list(request, containers))


async def retrieve_container(request: web.Request) -> web.Response:
    return web.json_response(_container(request)[1])


async def delete_container(request: web.Request) -> web.Response:
    """Its files and their bytes go with it. The body is the ``container.deleted`` object of
    OpenAI's API reference; the SDK casts the answer to None, reading no body."""
    state, container = _container(request)
    # Forgotten before the removal awaits, so that from now on everything under it is a 404.
    del state.containers[container["id"]]
    del state.container_files[container["id"]]
    await asyncio.to_thread(shutil.rmtree, _folder(state, container["id"]), ignore_errors=True)
    return web.json_response({"id": container["id"], "object": "container.deleted", "deleted": True})


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
        await _still_there(state, container["id"])
        entry = _register(state, container["id"], cfile_id, upload.filename, upload.size, "user")
        upload.path = None
    finally:
        form.discard()
    return web.json_response(entry)


async def list_files(request: web.Request) -> web.Response:
    """Newest first unless ``order=asc``: the table keeps creation order, as ``cursor_list`` needs."""
    state, container = _container(request)
    return web.json_response(cursor_list(request, list(state.container_files[container["id"]].values())))


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


async def delete_file(request: web.Request) -> web.Response:
    """The body is the ``container.file.deleted`` object of OpenAI's API reference; the SDK
    casts the answer to None."""
    state, entry = _cfile(request)
    # Forgotten before the unlink awaits, so no request finds an entry whose bytes are gone.
    del state.container_files[entry["container_id"]][entry["id"]]
    path = _folder(state, entry["container_id"]) / entry["id"]
    await asyncio.to_thread(path.unlink, missing_ok=True)
    return web.json_response({"id": entry["id"], "object": "container.file.deleted", "deleted": True})


def routes() -> list[web.RouteDef]:
    base = "/v1/containers/{container_id}"
    return [
        web.post("/v1/containers", create_container),
        web.get("/v1/containers", list_containers),
        web.get(base, retrieve_container),
        web.delete(base, delete_container),
        web.post(f"{base}/files", add_file),
        web.get(f"{base}/files", list_files),
        web.get(base + "/files/{cfile_id}", retrieve_file),
        web.delete(base + "/files/{cfile_id}", delete_file),
        web.get(base + "/files/{cfile_id}/content", file_content),
    ]
