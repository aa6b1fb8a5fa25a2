"""Every other /v1 route: forwarded unchanged, bodies streamed both ways.

Fail closed for APIs the gateway has no rules for yet: a JSON body or a form (multipart or
urlencoded) that names a file or a holder anywhere is checked first, so a new API cannot take
another principal's file. No
purpose is checked there, since the purpose matrix cannot know what such an API accepts. Bodies
that are not JSON (audio, SDP offers) stream through unread. (WebSocket handshakes never get
here: `middleware.websocket_guard` refuses them on every route.)"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from urllib.parse import parse_qsl

from aiohttp import web
from aiohttp.typedefs import Handler

from gateway import keys
from gateway.errors import invalid_request
from gateway.file_refs import find_refs, may_name
from gateway.form_refs import TextField, field_refs
from gateway.governed import GovernedPaths
from gateway.http_client import UpstreamResponse
from gateway.json_body import encoding_family, opens_json, parse, read_whole
from gateway.records import FileRecord
from gateway.references import check_refs, refuse_inline
from gateway.routes.forward import JSON_LIMIT, checked_fields, checked_form, send_form
from gateway.upstream import CHUNK, relay

ROUTE = "/v1/{tail}"
URLENCODED = "application/x-www-form-urlencoded"
# The `api` of the audit events of references made through these routes.
OTHER_API = "other"


def handler(governed: GovernedPaths) -> Handler:
    async def passthrough(request: web.Request) -> web.StreamResponse:
        refusal = governed.refusal(request.path)
        if refusal is not None:
            raise refusal
        response, _ = await send_checked(request, ROUTE)
        return await relay(request, response)

    return passthrough


async def send_checked(
    request: web.Request, route: str, api: str = OTHER_API
) -> tuple[UpstreamResponse, dict[str, FileRecord]]:
    """The request forwarded as it came, once every reference its JSON body or form makes is
    checked (purpose unchecked); any other body streams through unread. Returns the answer and
    the records of what the body referenced."""
    upstream = request.app[keys.UPSTREAM]
    records: dict[str, FileRecord] = {}
    if not request.body_exists:
        data: AsyncIterator[bytes] | bytes | None = None
    elif request.content_type == "multipart/form-data":
        form, records = await checked_form(request, api, check_purpose=False)
        return await send_form(request, route, form), records
    elif request.content_type == URLENCODED:
        data = await read_whole(request, JSON_LIMIT)
        fields = urlencoded_fields(data)
        records = await checked_fields(request, fields, [
            ref for text in fields for ref in field_refs(text, api, frozenset(), check_purpose=False)])
    else:
        head, is_json = await _head(request)
        _read_as_declared(request, head, is_json)
        if is_json:
            data = await read_whole(request, JSON_LIMIT, head)
            # Most such bodies (embeddings, moderations) cannot name anything: not parsed.
            if may_name(data):
                body = parse(data)
                refuse_inline(request.app[keys.SETTINGS].policy, body)
                records = await check_refs(request, find_refs(body, api, check_purpose=False))
        else:
            data = _chain(head, request.content.iter_chunked(CHUNK))
    response = await upstream.send(
        request.method, request.raw_path, upstream.request_headers(request), route=route, data=data
    )
    return response, records


def urlencoded_fields(raw: bytes) -> list[TextField]:
    """A urlencoded body's fields, which name files as a multipart form's text fields do
    (`file_id`, `x[file_id]`, JSON held in a field). No OpenAI API reads such a body, but an
    upstream built on a web framework may, so it is checked rather than streamed unread."""
    pairs = parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True)
    return [TextField.of(name, value) for name, value in pairs]


def _read_as_declared(request: web.Request, head: bytes, is_json: bool) -> None:
    """A body the gateway reads otherwise than its headers say is refused, since the upstream
    may read it as they say: JSON with comments or another blank first (`/* */{…}`, which
    lenient parsers take) would stream through unread, and JSON declared in a charset it is
    not in (`charset=utf-7`) would be checked as other text than the upstream reads."""
    declared = request.content_type
    declared_json = declared == "application/json" or declared.endswith("+json")
    if declared_json and not is_json and head.strip(b" \t\r\n"):
        raise invalid_request(f"The body is declared {declared} but is not a JSON object or "
                              "array as RFC 8259 writes one")
    charset = request.charset
    if is_json and charset is not None:
        read_in = encoding_family(json.detect_encoding(head))
        if encoding_family(charset) != read_in:
            raise invalid_request(f"The JSON body is not in the charset it declares ({charset})")


async def _head(request: web.Request) -> tuple[bytes, bool]:
    """Read until the body shows whether it is JSON; what was read, and the verdict."""
    head = bytearray()
    while True:
        chunk = await request.content.readany()
        head += chunk
        verdict = opens_json(bytes(head), final=not chunk)
        if verdict is not None:
            return bytes(head), verdict
        if len(head) > JSON_LIMIT:
            # Blanks past the limit: read_json refuses it as too large.
            return bytes(head), True


async def _chain(head: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    if head:
        yield head
    async for chunk in rest:
        yield chunk
