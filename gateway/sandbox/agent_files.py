"""The bytes of files placed in the Agents beta's hosted environments.

A file entry is ``{"type": "file_id", "file_id", "path"}``, naming a sandbox File, or
``{"type": "inline", "data", "path"}`` with standard base64 bytes; its path lies under
``/workspace/``. An entry is read whole (its File found, else the File 404; its data decoded)
before anything is written, so a refused body leaves nothing behind. Bytes are kept under
``<root>/agents/<kind>/<owner id>/<id>``, hard-linked where possible as container files are, so
a copy outlives the File it came from and is never changed in place.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import shutil
from dataclasses import dataclass
from pathlib import Path

from .agent_common import joined, text_at
from .containers import _copy as link
from .errors import invalid_type, invalid_value, not_one_of
from .state import SandboxState
from .store import JsonObject

TYPES = ("file_id", "inline")
WORKSPACE = "/workspace/"


@dataclass(frozen=True)
class Source:
    """One file to place: its ``type`` and ``path`` as answered, its size, and its bytes, given
    as ``data`` (decoded inline) or as a file already on disk (a File's, or a kept copy)."""

    type: str
    path: str
    size: int
    origin: Path | None = None
    data: bytes | None = None
    file_id: str | None = None

    def entry(self, entry_id: str) -> JsonObject:
        """The placed file as an environment lists it (``HostedEnvironmentFile``)."""
        made: JsonObject = {"id": entry_id, "type": self.type, "path": self.path, "size_bytes": self.size}
        if self.file_id is not None:
            made["file_id"] = self.file_id
        return made


def folder(state: SandboxState, kind: str, owner_id: str) -> Path:
    return state.root / "agents" / kind / owner_id


def sources(state: SandboxState, value: object, name: str) -> list[Source]:
    """The entries of a body's ``files`` array (null is none)."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise invalid_type(name, "an array")
    return [source(state, entry, f"{name}[{index}]") for index, entry in enumerate(value)]


def source(state: SandboxState, entry: object, where: str) -> Source:
    if not isinstance(entry, dict):
        raise invalid_type(where or "body", "an object")
    kind = entry.get("type")
    if kind not in TYPES:
        raise not_one_of(kind, TYPES, joined(where, "type"))
    path = workspace_path(text_at(entry, "path", where), joined(where, "path"))
    if kind == "inline":
        data = _decoded(text_at(entry, "data", where), joined(where, "data"))
        return Source("inline", path, len(data), data=data)
    file_id = text_at(entry, "file_id", where)
    record = state.files.require(file_id)
    return Source("file_id", path, record.bytes, origin=state.files.path(file_id), file_id=file_id)


def workspace_path(value: str, param: str) -> str:
    """A file path under ``/workspace/`` without empty, ``.`` or ``..`` parts, as the SDK's own
    helpers demand of destinations."""
    parts = value.split("/")[2:]
    if not value.startswith(WORKSPACE) or "\x00" in value or any(p in ("", ".", "..") for p in parts):
        raise invalid_value(param, "expected an absolute file path under /workspace.")
    return value


def _decoded(data: str, param: str) -> bytes:
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise invalid_value(param, "expected standard base64-encoded data.") from None


async def place(placed: Source, target: Path) -> None:
    """Write or link the source's bytes at ``target``."""
    if placed.data is not None:
        await asyncio.to_thread(_write, target, placed.data)
    elif placed.origin is not None:
        await asyncio.to_thread(link, placed.origin, target)


def _write(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)


async def discard(path: Path) -> None:
    """Remove a kept file, or a folder of them."""
    if await asyncio.to_thread(path.is_dir):
        await asyncio.to_thread(shutil.rmtree, path, ignore_errors=True)
    else:
        await asyncio.to_thread(path.unlink, missing_ok=True)
