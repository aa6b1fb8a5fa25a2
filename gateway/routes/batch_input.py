"""The file ids a batch's requests name, inside its input file. Checking only `input_file_id`
would let a caller's batch read any file its JSONL lines name; so before a batch is created its
input is read back from the upstream, line by line (never whole), and every id in every line's
`body` becomes a reference, judged by the API the line's `url` calls."""

from __future__ import annotations

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
    rest, number = b"", 0
    try:
        async for chunk in response.iter_chunks():
            *lines, rest = (rest + chunk).split(b"\n")
            for line in lines:
                number += 1
                _line_refs(line, number, found)
            if len(rest) > MAX_LINE:
                raise invalid_request(f"Line {number + 1} of {file_id} is too long",
                                      param="input_file_id")
    except UpstreamError as exc:
        raise upstream_failure(exc) from exc
    finally:
        response.release()
    _line_refs(rest, number + 1, found)
    return list(found.values())


def _line_refs(line: bytes, number: int, found: dict[str, FileRef]) -> None:
    """A line that is not JSON is a line the upstream will not run: it names nothing. One that
    only a lenient parser reads (NaN) is read as one would; a key twice is refused."""
    if not line.strip() or not may_name(line):
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
