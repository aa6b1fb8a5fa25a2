"""The file ids a batch's requests name, inside its input file. Checking only `input_file_id`
would let a caller's batch read any file its JSONL lines name; so before a batch is created its
input is read back from the upstream, line by line (never whole), and every id in every line's
`body` becomes a reference, judged by the API the line's `url` calls. Every line must be one
JSON object that POSTs to the batch's endpoint, as OpenAI requires: a runner that followed each
line's own method and url would run calls nobody decided."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from gateway.errors import invalid_request, upstream_unavailable
from gateway.file_refs import FileRef, continued_refs, find_refs, may_name
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
    endpoint = body.get("endpoint")
    lines_of = _Lines(endpoint if isinstance(endpoint, str) else None)
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
                number = await _scan(lines, number, lines_of)
    except UpstreamError as exc:
        raise upstream_failure(exc) from exc
    finally:
        response.release()
    _bounded(len(pending), number + 1, file_id)
    await _scan([bytes(pending)], number, lines_of)
    return list(lines_of.found.values())


def _bounded(length: int, number: int, file_id: str) -> None:
    if length > MAX_LINE:
        raise invalid_request(f"Line {number} of {file_id} is too long", param="input_file_id")


async def _scan(lines: list[bytes], number: int, lines_of: _Lines) -> int:
    """The references of lines `number + 1` on; the number of the last. Only lines that may
    name something, or may call something else than the endpoint, are parsed, and in a thread:
    parsing is Python work, and a large input must not hold up every other request."""
    named = [(number + offset, line) for offset, line in enumerate(lines, start=1)
             if may_name(line) or not lines_of.plainly_posts(line)]
    if named:
        await asyncio.to_thread(lines_of.read, named)
    return number + len(lines)


@dataclass
class _Lines:
    """What a batch's lines name, and the endpoint every line must call."""

    endpoint: str | None
    found: dict[str, FileRef] = field(default_factory=dict)

    def __post_init__(self) -> None:
        quoted = json.dumps(self.endpoint).encode()
        self._calls = (b'"url": ' + quoted, b'"url":' + quoted)

    def plainly_posts(self, line: bytes) -> bool:
        """True when a line's text shows it POSTs to the endpoint and nowhere else, as the
        SDK and most writers spell it: one `url` key with the endpoint as its value, one
        `method` with `POST`. Anything else (a blank line included) is parsed to be sure."""
        return (line.count(b'"url"') == 1 and line.count(b'"method"') == 1
                and any(call in line for call in self._calls)
                and (b'"method": "POST"' in line or b'"method":"POST"' in line))

    def read(self, lines: list[tuple[int, bytes]]) -> None:
        for number, line in lines:
            self._line(line, number)

    def _line(self, line: bytes, number: int) -> None:
        """A line that may name something must be one JSON object: the gateway would read
        nothing in `{…}{…}`, an array or a line a bare CR splits, where a streaming JSONL reader
        reads requests. One only a lenient parser reads (NaN) is read as one would; a key
        twice is refused. Lines that cannot name anything are never parsed."""
        if not line.strip():
            return
        what = f"line {number} of the batch input"
        try:
            request = document(line, what, param="input_file_id")
        except NotJson:
            raise invalid_request(f"The {what} is not one JSON object",
                                  param="input_file_id") from None
        if not isinstance(request, dict):
            raise invalid_request(f"The {what} is not one JSON object", param="input_file_id")
        url, method = request.get("url"), request.get("method")
        if method != "POST" or (self.endpoint is not None and url != self.endpoint):
            # As OpenAI requires: an upstream that ran other calls would run them unchecked.
            raise invalid_request(f"The {what} must POST to the batch's endpoint "
                                  f"{self.endpoint!r}", param="input_file_id")
        self._refs(request.get("body"), url, number)

    def _refs(self, body: Any, url: object, number: int) -> None:
        api = API_BY_URL.get(url) if isinstance(url, str) else None
        found = self.found
        # Whatever the line's url, a response or conversation it continues is refused as it
        # would be sent alone: the batch would read it, and add to it.
        for ref in (*continued_refs(body), *find_refs(body, api or "batches")):
            if ref.file_id in found:
                continue
            # Any other endpoint has no purpose pairing in the matrix: the caller must still be
            # allowed to use the file.
            found[ref.file_id] = FileRef(f"input_file_id.lines[{number}].body.{ref.path}",
                                         ref.file_id, ref.api,
                                         ref.check_purpose and api is not None)
