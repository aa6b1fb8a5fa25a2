"""Forwarding one request upstream as it came (path, query, body), for the routes that check."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from aiohttp import hdrs, web

from gateway import keys
from gateway.decisions import DecisionScope
from gateway.errors import GatewayError
from gateway.file_refs import FileRef
from gateway.form_parts import FormParts, form_boundary
from gateway.form_refs import ReferenceForm, TextField, inline_in_fields
from gateway.http_client import UpstreamResponse
from gateway.json_body import read_json
from gateway.records import FileRecord
from gateway.references import check_refs, refuse_inline, refuse_inline_at
from gateway.upstream import CHUNK

log = logging.getLogger("files_gateway")

JSON_LIMIT = 32 * 1024 * 1024


def is_json(request: web.Request) -> bool:
    """Every body but a multipart form is read as JSON, whatever its Content-Type says: the
    upstream may read it so, and a body read any other way would go up with its ids unchecked."""
    return request.body_exists and request.content_type != "multipart/form-data"


async def read_body(request: web.Request) -> tuple[bytes, Any]:
    return await read_json(request, JSON_LIMIT)


async def send(
    request: web.Request, route: str, scope: DecisionScope | None = None, *,
    body: bytes | None = None, stream: bool = False,
) -> UpstreamResponse:
    """`body` replaces the request's; `stream` forwards the request body chunk by chunk."""
    upstream = request.app[keys.UPSTREAM]
    headers = upstream.request_headers(request, keep_body_headers=stream, json_only=True)
    data: Any = None
    if stream and request.body_exists:
        data = request.content.iter_chunked(CHUNK)
    elif body is not None:
        data = body
        headers[hdrs.CONTENT_TYPE] = "application/json"
    response = await upstream.send(
        request.method, request.raw_path, headers, route=route, data=data
    )
    if scope is not None:
        scope.upstream_status = response.status
    return response


async def fetch(request: web.Request, method: str, path: str, route: str) -> UpstreamResponse:
    """A bodiless request of the gateway's own to another path than the caller's (the thread a
    ChatKit call names, a batch's input), with the caller's headers and answered uncompressed."""
    upstream = request.app[keys.UPSTREAM]
    headers = upstream.request_headers(request, keep_body_headers=False, json_only=True)
    return await upstream.send(method, path, headers, route=route)


async def checked_json(
    request: web.Request, refs: Callable[[Any], list[FileRef]], holder: FileRecord | None = None,
) -> tuple[bytes, Any, dict[str, FileRecord]]:
    """A JSON body read, its inline files refused by policy and the references `refs` finds in
    it checked (as check_refs, `holder` included): the raw bytes, the body and the records."""
    raw, body = await read_body(request)
    refuse_inline(request.app[keys.SETTINGS].policy, body)
    return raw, body, await check_refs(request, refs(body), holder)


async def compensate(request: web.Request, path: str, route: str, method: str = "DELETE") -> None:
    """Recording failed after the upstream created the object at `path`: delete it (or stop
    it, with a POST to `path`), so that nothing the gateway cannot account for is left behind."""
    try:
        response = await fetch(request, method, path, route)
        response.release()
    except GatewayError:
        log.error("%s could not be recorded nor taken back upstream (%s)", path, method)
        return
    if 200 <= response.status < 300:
        log.warning("%s could not be recorded; taken back upstream (%s)", path, method)
    else:
        log.error("%s could not be recorded nor taken back upstream (%s answered %s)",
                  path, method, response.status)


async def checked_form(
    request: web.Request, api: str, holders: frozenset[str] = frozenset(),
    holder: FileRecord | None = None, *, check_purpose: bool = True,
) -> tuple[ReferenceForm, dict[str, FileRecord]]:
    """A multipart body read up to its first file part, every reference it makes there checked
    (as check_refs, `holder` included) and, under `inline_files: deny`, the inline files in
    the JSON its fields hold refused; the rest follows in send_form."""
    parts = FormParts(request.content, form_boundary(request.headers.get(hdrs.CONTENT_TYPE, "")))
    form = ReferenceForm(parts, api, holders, check_purpose)
    await form.read_head()
    return form, await checked_fields(request, form.fields, form.refs, holder)


async def checked_fields(
    request: web.Request, fields: list[TextField], refs: list[FileRef],
    holder: FileRecord | None = None,
) -> dict[str, FileRecord]:
    """A form's text fields (multipart or urlencoded): under `inline_files: deny` the inline
    files in the JSON they hold refused, then the references they make checked."""
    if request.app[keys.SETTINGS].policy.inline_files == "deny":
        refuse_inline_at(inline_in_fields(fields))
    return await check_refs(request, refs, holder)


async def send_form(request: web.Request, route: str, form: ReferenceForm) -> UpstreamResponse:
    """The form re-sent upstream part by part, after its references were checked."""
    upstream = request.app[keys.UPSTREAM]
    headers = upstream.request_headers(request, keep_body_headers=False, json_only=True)
    headers[hdrs.CONTENT_TYPE] = form.content_type
    try:
        return await upstream.send(request.method, request.raw_path, headers, route=route,
                                   data=form.body())
    except Exception:
        # A refusal raised inside the streamed body surfaces wrapped by the client.
        if form.error is not None:
            raise form.error from None
        raise
