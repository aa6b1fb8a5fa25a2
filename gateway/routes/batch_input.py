"""The file ids a batch's requests name, inside its input file. Checking only `input_file_id`
would let a caller's batch read any file its JSONL lines name; so before a batch is created its
input is read back from the upstream, line by line (never whole), and every id in every line's
`body` becomes a reference, judged by the API the line's `url` calls."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from gateway.errors import invalid_request, upstream_unavailable
from gateway.file_refs import FileRef, find_refs, may_name
from gateway.json_body import NotJson, document
from gateway.routes.forward import fetch
from gateway.upstream import upstream_failure
from gateway.upstream_connection import UpstreamError

# The purpose matrix's name for the API each batchable endpoint is.
API_BY_URL = {"/v1/responses": "responses", "/v1/chat/completions": "chat_completions"}
MAX_LINE = 32 * 1024 * 1024


async def batch_input_refs(request: web.Request, body: Any) -> list[FileRef]:
    file_id = body.get("input_file_id") if isinstance(body, dict) else None
    if not isinstance(file_id, str):
        return []
    response = await fetch(request, "GET", f"/v1/files/{file_id}/content",
                           "/v1/files/{file_id}/content")
    if response.status == 404:
        # The upstream has no such input, so it will refuse the batch itself.
        response.release()
        return []
    if response.status != 200:
        response.release()
        raise upstream_unavailable()
    found: dict[str, FileRef] = {}
    # The line being read: each chunk's bytes are copied once, however long a line grows.
    pending, number = bytearray(), 0
    try:
        async for chunk in response.iter_chunks():
            cut = chunk.rfind(b"\n")
            if cut < 0:
                pending += chunk
                _bounded(len(pending), number + 1, file_id)
            else:
                pending += chunk[:cut]
                lines = bytes(pending).split(b"\n")
                if max(map(len, lines)) > MAX_LINE:
                    longest = max(range(len(lines)), key=lambda index: len(lines[index]))
                    _bounded(len(lines[longest]), number + longest + 1, file_id)
                pending = bytearray(chunk[cut + 1:])
                number = await _scan(lines, number, found)
    except UpstreamError as exc:
        raise upstream_failure(exc) from exc
    finally:
        response.release()
    _bounded(len(pending), number + 1, file_id)
    await _scan([bytes(pending)], number, found)
    return list(found.values())


def _bounded(length: int, number: int, file_id: str) -> None:
    if length > MAX_LINE:
        raise invalid_request(f"Line {number} of {file_id} is too long", param="input_file_id")


async def _scan(lines: list[bytes], number: int, found: dict[str, FileRef]) -> int:
    """The references of lines `number + 1` on; the number of the last. Only lines that may
    name something are parsed (a text-only line cannot), and in a thread: parsing is Python
    work, and a large input must not hold up every other request."""
    named = [(number + offset, line) for offset, line in enumerate(lines, start=1)
             if may_name(line)]
    if named:
        await asyncio.to_thread(_lines_refs, named, found)
    return number + len(lines)


def _lines_refs(lines: list[tuple[int, bytes]], found: dict[str, FileRef]) -> None:
    for number, line in lines:
        _line_refs(line, number, found)


def _line_refs(line: bytes, number: int, found: dict[str, FileRef]) -> None:
    """A line that is not JSON is a line the upstream will not run: it names nothing. One that
    only a lenient parser reads (NaN) is read as one would; a key twice is refused."""
    if not line.strip():
        return
    try:
        request = document(line, f"line {number} of the batch input", param="input_file_id")
    except NotJson:
        return
    if not isinstance(request, dict):
        return
    url = request.get("url")
    api = API_BY_URL.get(url) if isinstance(url, str) else None
    for ref in find_refs(request.get("body"), api or "batches"):
        if ref.file_id in found:
            continue
        # Any other endpoint has no purpose pairing in the matrix: the caller must still be
        # allowed to use the file.
        found[ref.file_id] = FileRef(f"input_file_id.lines[{number}].body.{ref.path}",
                                     ref.file_id, ref.api, ref.check_purpose and api is not None)
