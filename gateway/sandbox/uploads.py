"""``/v1/uploads``: create, add parts, complete (which makes a File) and cancel.

The purpose may be any upload purpose of ``/v1/files`` (the SDK's ``FilePurpose``), a
superset of the spec's ``CreateUploadRequest`` enum (facts §3). Upload state is not persisted.
"""

from __future__ import annotations

import asyncio
import hashlib
import shutil
from pathlib import Path

from aiohttp import web

from .errors import ApiError, found, invalid_value, missing_parameter
from .forms import read_form, read_json
from .keys import STATE
from .state import UPLOAD_TTL, Part, SandboxState, Upload
from .store import new_id
from .validation import check_keys, json_expiry, require_int, require_purpose, require_str

MAX_UPLOAD_BYTES = 8 * 1024**3  # an Upload holds at most 8 GB ...
MAX_PART_BYTES = 64 * 1024**2  # ... in parts of at most 64 MB (facts §3)
CREATE_KEYS = ("bytes", "filename", "mime_type", "purpose", "expires_after")


def _upload(state: SandboxState, request: web.Request) -> Upload:
    upload = found(state.uploads, request.match_info["upload_id"], "Upload")
    if upload.status == "pending" and state.clock.now() >= upload.created_at + UPLOAD_TTL:
        upload.status = "expired"
        _drop_parts(state, upload)
    if upload.status != "pending" or upload.busy:
        raise ApiError(400, f"Upload {upload.id} is {upload.status} and can no longer change.")
    return upload


def _parts_dir(state: SandboxState, upload: Upload) -> Path:
    return state.root / "uploads" / upload.id


def _drop_parts(state: SandboxState, upload: Upload) -> None:
    shutil.rmtree(_parts_dir(state, upload), ignore_errors=True)


async def create_upload(request: web.Request) -> web.Response:
    state = request.app[STATE]
    body = await read_json(request)
    check_keys(body, CREATE_KEYS)
    size = require_int(body, "bytes")
    if not 0 <= size <= MAX_UPLOAD_BYTES:
        raise invalid_value("bytes", f"expected at most {MAX_UPLOAD_BYTES} bytes, got {size}.")
    upload = Upload(
        id=new_id("upload_"),
        bytes=size,
        created_at=state.clock.now(),
        filename=require_str(body, "filename"),
        mime_type=require_str(body, "mime_type"),
        purpose=require_purpose(require_str(body, "purpose")),
        file_ttl=json_expiry(body),
    )
    state.uploads[upload.id] = upload
    return web.json_response(upload.to_json())


async def add_part(request: web.Request) -> web.Response:
    """Spool the ``data`` field to ``<root>/uploads/<upload>/<part>``."""
    state = request.app[STATE]
    upload = _upload(state, request)
    part_id = new_id("part_")
    folder = _parts_dir(state, upload)
    await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
    form = await read_form(
        request, spool=lambda: folder / part_id, keep=("data",), max_file_bytes=MAX_PART_BYTES
    )
    try:
        data, path = form.spooled_file("data", ("data",))
        if upload.status != "pending":  # cancelled while the part was streaming
            raise ApiError(400, f"Upload {upload.id} is {upload.status} and can no longer change.")
        upload.parts[part_id] = Part(part_id, data.size, path, state.clock.now())
        data.path = None
    finally:
        form.discard()
    part = upload.parts[part_id]
    return web.json_response(
        {
            "id": part.id,
            "object": "upload.part",
            "created_at": part.created_at,
            "upload_id": upload.id,
        }
    )


async def complete_upload(request: web.Request) -> web.Response:
    """Join the parts in ``part_ids`` order into a new File with the Upload's purpose."""
    state = request.app[STATE]
    upload = _upload(state, request)
    body = await read_json(request)
    check_keys(body, ("part_ids", "md5"))
    part_ids = body.get("part_ids")
    if part_ids is None:
        raise missing_parameter("part_ids")
    if not isinstance(part_ids, list) or not all(isinstance(p, str) for p in part_ids):
        raise invalid_value("part_ids", "expected an array of part ids.")
    unknown = [p for p in part_ids if p not in upload.parts]
    if unknown:
        raise invalid_value("part_ids", f"{unknown[0]} is not a part of upload {upload.id}.")
    parts = [upload.parts[p] for p in part_ids]
    total = sum(p.size for p in parts)
    if total != upload.bytes:
        raise ApiError(
            400,
            f"The number of bytes uploaded ({total}) does not match the number of bytes "
            f"declared when creating the upload ({upload.bytes}).",
        )
    upload.busy = True
    try:
        joined = state.files.tmp_path()
        digest = await asyncio.to_thread(_join, [p.path for p in parts], joined)
        md5 = body.get("md5")
        if md5 is not None and md5 != digest:
            joined.unlink(missing_ok=True)
            raise invalid_value("md5", f"expected {digest}, the md5 of the joined parts.")
        record = await state.files.add(
            joined,
            filename=upload.filename,
            purpose=upload.purpose,
            size=total,
            ttl=upload.file_ttl,
        )
    finally:
        upload.busy = False
    _drop_parts(state, upload)
    upload.status = "completed"
    upload.file = record.to_json()
    return web.json_response(upload.to_json())


def _join(sources: list[Path], target: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with target.open("wb") as out:
        for source in sources:
            with source.open("rb") as src:
                while chunk := src.read(1 << 20):
                    digest.update(chunk)
                    out.write(chunk)
    return digest.hexdigest()


async def cancel_upload(request: web.Request) -> web.Response:
    state = request.app[STATE]
    upload = _upload(state, request)
    upload.status = "cancelled"
    _drop_parts(state, upload)
    return web.json_response(upload.to_json())


def routes() -> list[web.RouteDef]:
    return [
        web.post("/v1/uploads", create_upload),
        web.post("/v1/uploads/{upload_id}/parts", add_part),
        web.post("/v1/uploads/{upload_id}/complete", complete_upload),
        web.post("/v1/uploads/{upload_id}/cancel", cancel_upload),
    ]
