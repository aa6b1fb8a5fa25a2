"""A skill version's bundle: the zip its multipart ``files`` become, and the name and description
the front matter of its ``SKILL.md`` gives.

A single uploaded ``.zip`` is kept byte for byte; several files (a directory upload) are packed
into a new zip under the paths their part filenames give. Either way the bundle is what a
content download answers. Without a ``SKILL.md`` naming them, the name is the bundle's top-level
folder (else the first file's stem) and the description is empty: the sandbox accepts what
OpenAI might refuse, so that tests can upload the smallest bundle.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import zipfile
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import yaml
from aiohttp import web

from .errors import ApiError, missing_parameter, unexpected_properties
from .forms import FilePart, read_form
from .keys import STATE

# The SDK names each part of a list `files[]` and a lone file `files`.
FILE_FIELDS = ("files", "files[]")
MAX_FILES = 500  # the API's maxItems for `files`
MANIFEST = "SKILL.md"
FRONT_MATTER_BYTES = 64 * 1024  # the front matter opens the manifest; the rest is instructions
ZIP_TYPES = frozenset({"application/zip", "application/x-zip-compressed"})


@dataclass(frozen=True)
class Bundle:
    name: str
    description: str
    fields: dict[str, str]  # the form's other fields, e.g. a version's `default`


async def read_bundle(request: web.Request, target: Path, allowed: Collection[str] = ()) -> Bundle:
    """Stream the form's files to disk and leave their bundle at ``target``; other fields must
    be in ``allowed``."""
    state = request.app[STATE]
    form = await read_form(request, spool=state.files.tmp_path, keep=FILE_FIELDS, many=FILE_FIELDS)
    try:
        unexpected = [n for n in form.names if n not in FILE_FIELDS and n not in allowed]
        if unexpected:
            raise unexpected_properties(unexpected)
        parts = [part for name in FILE_FIELDS for part in form.lists.get(name, [])]
        if not parts:
            raise missing_parameter("files")
        if len(parts) > MAX_FILES:
            raise ApiError(
                400,
                f"Invalid 'files': array too long. Expected an array with maximum length "
                f"{MAX_FILES}, but got an array with length {len(parts)} instead.",
                param="files",
                code="array_above_max_length",
            )
        name, description = await asyncio.to_thread(_pack, parts, target)
    finally:
        form.discard()
    return Bundle(name, description, form.fields)


def _pack(parts: list[FilePart], target: Path) -> tuple[str, str]:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        if len(parts) == 1 and _is_zip(parts[0]):
            return _adopt_zip(parts[0], target)
        return _zip_files(parts, target)
    except BaseException:
        target.unlink(missing_ok=True)
        with contextlib.suppress(OSError):  # only when empty: a new skill's own folder
            target.parent.rmdir()
        raise


def _is_zip(part: FilePart) -> bool:
    return part.filename.lower().endswith(".zip") or part.content_type in ZIP_TYPES


def _adopt_zip(part: FilePart, target: Path) -> tuple[str, str]:
    assert part.path is not None  # every `files` part is spooled
    text = ""
    try:
        with zipfile.ZipFile(part.path) as bundle:
            names = [n for n in bundle.namelist() if not n.endswith("/")]
            manifest = _manifest(names)
            if manifest is not None:
                with bundle.open(manifest) as member:
                    text = _head(member.read(FRONT_MATTER_BYTES))
    # What zipfile raises for a damaged archive, an encrypted member or an unknown compression.
    except (zipfile.BadZipFile, EOFError, RuntimeError, NotImplementedError):
        raise ApiError(400, f"Invalid zip file: '{part.filename}'.", param="files") from None
    os.replace(part.path, target)
    part.path = None
    return _described(text, names, part.filename)


def _zip_files(parts: list[FilePart], target: Path) -> tuple[str, str]:
    names = [_arcname(part.filename) for part in parts]
    repeated = next((n for i, n in enumerate(names) if n in names[:i]), None)
    if repeated is not None:
        raise ApiError(400, f"Duplicate file path in 'files': '{repeated}'.", param="files")
    text, manifest = "", _manifest(names)
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as bundle:
        for part, name in zip(parts, names, strict=True):
            assert part.path is not None  # every `files` part is spooled
            bundle.write(part.path, name)
            if name == manifest:
                with part.path.open("rb") as handle:
                    text = _head(handle.read(FRONT_MATTER_BYTES))
    return _described(text, names, parts[0].filename)


def _arcname(filename: str) -> str:
    """A part's filename as a path inside the zip: relative, with no way out of it."""
    kept = [p for p in PurePosixPath(filename.replace("\\", "/")).parts if p not in ("/", ".", "..")]
    if not kept:
        raise ApiError(400, f"Invalid file name in 'files': '{filename}'.", param="files")
    return "/".join(kept)


def _manifest(names: list[str]) -> str | None:
    """The shallowest ``SKILL.md``: a bundle may nest other skills' examples below its own."""
    found = [n for n in names if PurePosixPath(n).name == MANIFEST]
    return min(found, key=lambda n: n.count("/")) if found else None


def _head(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace")


def _described(manifest: str, names: list[str], filename: str) -> tuple[str, str]:
    meta = _front_matter(manifest)
    name, description = meta.get("name"), meta.get("description")
    return (
        _default_name(names, filename) if name is None else str(name),
        "" if description is None else str(description),
    )


def _default_name(names: list[str], filename: str) -> str:
    """The one top-level folder every file is under, else the (first) uploaded file's stem."""
    tops = {n.split("/", 1)[0] for n in names}
    if len(tops) == 1 and all("/" in n for n in names):
        return tops.pop()
    return PurePosixPath(filename.replace("\\", "/")).stem or "skill"


def _front_matter(text: str) -> dict[str, object]:
    """The YAML between the opening ``---`` lines; anything unreadable counts as none."""
    lines = text.lstrip("\ufeff").splitlines()
    if not lines or lines[0].strip() != "---":
        return {}
    try:
        end = next(i for i, line in enumerate(lines[1:], 1) if line.strip() == "---")
        loaded = yaml.safe_load("\n".join(lines[1:end]))
    except (StopIteration, yaml.YAMLError):
        return {}
    return loaded if isinstance(loaded, dict) else {}
