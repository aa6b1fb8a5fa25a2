"""Request bodies: streamed multipart forms and JSON objects, both recorded in the log.

File parts are written to disk chunk by chunk and never held whole in memory. Either
``Content-Length`` or chunked framing works; aiohttp de-frames before the part reader.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from aiohttp import BodyPartReader, web

from .errors import INVALID_JSON_MESSAGE, ApiError, missing_parameter, unexpected_properties
from .keys import LOG_ENTRY
from .state import LoggedRequest
from .store import JsonObject

CHUNK_SIZE = 1 << 20
MAX_FIELD_BYTES = 1 << 20


@dataclass
class FilePart:
    filename: str
    content_type: str
    size: int
    path: Path | None  # None when the bytes were counted and dropped


@dataclass
class Form:
    fields: dict[str, str] = field(default_factory=dict)
    files: dict[str, FilePart] = field(default_factory=dict)
    names: list[str] = field(default_factory=list)  # every field name, in arrival order
    # File parts of names read with ``many``: every part kept, in arrival order.
    lists: dict[str, list[FilePart]] = field(default_factory=dict)

    def spooled_file(self, name: str, allowed: Collection[str]) -> tuple[FilePart, Path]:
        """The spooled file part `name` and its path, after refusing fields outside `allowed`,
        as OpenAI's schema does (additionalProperties: false). A handler that keeps the file
        sets its `path` to None, so that discard() leaves it."""
        unexpected = [n for n in self.names if n not in allowed]
        if unexpected:
            raise unexpected_properties(unexpected)
        part = self.files.get(name)
        if part is None or part.path is None:
            raise missing_parameter(name)
        return part, part.path

    def discard(self) -> None:
        """Remove spooled files that no handler adopted (adopted ones were moved away)."""
        for part in [*self.files.values(), *(p for parts in self.lists.values() for p in parts)]:
            if part.path is not None:
                part.path.unlink(missing_ok=True)


def log_entry(request: web.Request) -> LoggedRequest | None:
    entry: LoggedRequest | None = request.get(LOG_ENTRY)
    return entry


async def read_form(
    request: web.Request,
    *,
    spool: Callable[[], Path] | None = None,
    keep: Collection[str] = (),
    max_file_bytes: int | None = None,
    many: Collection[str] = (),
) -> Form:
    """Read a whole multipart body; file parts named in ``keep`` are spooled to ``spool()``.

    A later file part replaces an earlier one of the same name, except for names in ``many``
    (a directory upload's ``files[]``), which keep every part in ``Form.lists``.
    """
    if request.content_type != "multipart/form-data":
        raise ApiError(
            400,
            f"Invalid Content-Type header ({request.content_type}), expected multipart/form-data.",
        )
    entry = log_entry(request)
    form = Form()
    try:
        reader = await request.multipart()
        async for part in reader:
            if not isinstance(part, BodyPartReader):
                continue  # a nested multipart/mixed body: OpenAI's forms never use one
            name = part.name or ""
            if name not in form.names:
                form.names.append(name)
            if part.filename is None:
                form.fields[name] = await _read_field(part)
                if entry is not None:
                    entry.form[name] = form.fields[name]
                continue
            path = spool() if spool is not None and name in keep else None
            ctype = part.headers.get("Content-Type", "application/octet-stream")
            upload = FilePart(part.filename, ctype, 0, path)
            if name in many:
                form.lists.setdefault(name, []).append(upload)
            else:
                stale = form.files.pop(name, None)
                if stale is not None:
                    Form(files={name: stale}).discard()
                form.files[name] = upload
            upload.size = await _spool_part(part, path, max_file_bytes)
            if entry is not None:
                entry.files[name] = {"filename": part.filename, "bytes": upload.size}
    except BaseException:
        form.discard()
        raise
    return form


async def _read_field(part: BodyPartReader) -> str:
    data = bytearray()
    while chunk := await part.read_chunk(CHUNK_SIZE):
        data.extend(chunk)
        if len(data) > MAX_FIELD_BYTES:
            raise ApiError(400, f"Form field '{part.name}' is too large.", param=part.name)
    return data.decode(part.get_charset(default="utf-8"), errors="replace")


async def _spool_part(part: BodyPartReader, path: Path | None, max_bytes: int | None) -> int:
    handle: IO[bytes] | None = None
    if path is not None:
        handle = await asyncio.to_thread(path.open, "wb")
    size = 0
    try:
        while chunk := await part.read_chunk(CHUNK_SIZE):
            size += len(chunk)
            if max_bytes is not None and size > max_bytes:
                raise ApiError(
                    400,
                    f"'{part.name}' is larger than the {max_bytes} bytes allowed.",
                    param=part.name,
                )
            if handle is not None:
                await asyncio.to_thread(handle.write, chunk)
    finally:
        if handle is not None:
            await asyncio.to_thread(handle.close)
    return size


async def read_json(request: web.Request) -> JsonObject:
    """The body as a JSON object; an empty body counts as ``{}``."""
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        body: Any = json.loads(raw)
    except ValueError:
        raise ApiError(400, INVALID_JSON_MESSAGE) from None
    if not isinstance(body, dict):
        raise ApiError(400, f"Invalid type for body: expected an object, but got {_kind(body)}.")
    return body


def _kind(value: object) -> str:
    return {list: "an array", str: "a string", bool: "a boolean"}.get(type(value), "a value")
