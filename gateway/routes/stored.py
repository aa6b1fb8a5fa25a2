"""Creating Responses and Chat Completions: the body's references are checked like every
scanned API's, and what the upstream stores is recorded as the caller's before the caller
learns its id, streamed or not, so it is never readable by anyone else."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
from aiohttp import web
from aiohttp.typedefs import Handler

from gateway import keys
from gateway.enforce import decide_record, scope
from gateway.file_refs import continued_refs, find_refs
from gateway.http_client import UpstreamResponse
from gateway.policy import Action, decide_bundle_download
from gateway.records import FileRecord
from gateway.references import check_refs, inherited_flags, refuse_inline
from gateway.routes import objects
from gateway.routes.forward import checked_form, is_json, read_body, send, send_form
from gateway.routes.holders import (
    CHAT_COMPLETIONS,
    CONVERSATIONS,
    RESPONSES,
    VECTOR_STORES,
    Holder,
    record_derived,
)
from gateway.routes.responses import json_response, upstream_json
from gateway.upstream import relay, upstream_failure
from gateway.upstream_connection import UpstreamError

# What makes a response carry the text its file search retrieved.
FILE_SEARCH_RESULTS = "file_search_call.results"
# Far more than any first event; past it the stream is relayed unrecorded (so refused later).
SNIFF_LIMIT = 256 * 1024

StreamId = Callable[[dict[str, Any]], object]


def chat_chunk_id(event: dict[str, Any]) -> object:
    return event.get("id")


def response_event_id(event: dict[str, Any]) -> object:
    response = event.get("response")
    return response.get("id") if isinstance(response, dict) else None


async def _checked(request: web.Request, body: Any, api: str) -> dict[str, FileRecord]:
    """Every reference a Responses or Chat Completions body makes, checked; a conversation it
    goes into holds its files (a private one only its owner's). Returns every record found."""
    refuse_inline(request.app[keys.SETTINGS].policy, body)
    continued = continued_refs(body)
    records = await check_refs(request, continued)
    conversation = next((records[ref.file_id] for ref in continued
                         if ref.path == "conversation" and ref.file_id in records), None)
    refs = find_refs(body, api)
    records.update(await check_refs(request, refs, conversation))
    if _includes_search_results(body):
        # The chunks a file search retrieved come back in the answer: what a search of the
        # store answers, decided as that is (a download of the store).
        stores = {ref.file_id: record for ref in refs
                  if (record := records.get(ref.file_id)) is not None
                  and record.kind == VECTOR_STORES.kind}
        for store_id, store in stores.items():
            async with scope(request, Action.DOWNLOAD, store_id, api=api) as decision:
                decide_record(request, decision, Action.DOWNLOAD, store_id, store,
                              decide_bundle_download)
    return records


def _includes_search_results(body: Any) -> bool:
    include = body.get("include") if isinstance(body, dict) else None
    return isinstance(include, list) and FILE_SEARCH_RESULTS in include


def referencing(route: str) -> Handler:
    """Responses' siblings that read an input but store nothing (`input_tokens`, `compact`):
    its files and the exchange it continues are references all the same."""

    async def handler(request: web.Request) -> web.StreamResponse:
        raw, body = await read_body(request)
        await _checked(request, body, RESPONSES.api)
        return await relay(request, await send(request, route, body=raw))

    return handler


def create(holder: Holder, stream_id: StreamId, *, stored_by_default: bool) -> Handler:
    route = holder.collection

    async def handler(request: web.Request) -> web.StreamResponse:
        if not request.body_exists:
            return await relay(request, await send(request, route))
        if not is_json(request):
            # Not an API that takes forms; its fields are checked all the same, and whatever it
            # made stays unrecorded, so refused to everyone.
            form, _ = await checked_form(request, holder.api)
            return await relay(request, await send_form(request, route, form))
        raw, body = await read_body(request)
        records = await _checked(request, body, holder.api)
        stored = isinstance(body, dict) and body.get("store", stored_by_default) is not False
        response = await send(request, route, body=raw)
        if response.status != 200 or not stored:
            return await relay(request, response)
        # What was said with a private file, or in a private exchange, stays private.
        flags = inherited_flags(records)
        if response.headers.get("Content-Type", "").startswith("text/event-stream"):
            return await _relay_recorded(request, response, holder, stream_id, flags)
        obj = await upstream_json(response)
        record = await objects.record_created(request, holder, response, obj.get("id"), flags)
        await record_derived(request, holder, record, obj)
        return json_response(request, obj, response)

    return handler


async def _relay_recorded(
    request: web.Request, response: UpstreamResponse, holder: Holder, stream_id: StreamId,
    flags: frozenset[str],
) -> web.StreamResponse:
    """Relay an event stream, holding it back until the first event that names the object has
    been recorded; a store failure then is still a clean 503, since nothing has been sent."""
    chunks = response.iter_chunks()
    try:
        head, object_id = await first_id(chunks, stream_id)
        if object_id is not None:
            await objects.record_created(request, holder, response, object_id, flags)
    except BaseException:
        response.release()
        raise
    return await relay(request, response, head=head, rest=chunks)


async def first_id(chunks: AsyncIterator[bytes], stream_id: StreamId) -> tuple[bytes, str | None]:
    """Read until the first event carrying an id; returns what was read and that id."""
    head = bytearray()
    pending = b""  # the unfinished event, so each byte is scanned about once
    try:
        while len(head) < SNIFF_LIMIT:
            try:
                chunk = await anext(chunks)
            except StopAsyncIteration:
                break
            head += chunk
            *events, pending = (pending + chunk).replace(b"\r\n", b"\n").split(b"\n\n")
            for event in events:
                object_id = event_id(event, stream_id)
                if object_id is not None:
                    return bytes(head), object_id
    except UpstreamError as exc:
        raise upstream_failure(exc) from exc
    return bytes(head), None


def event_id(event: bytes, stream_id: StreamId) -> str | None:
    data = b"\n".join(line[5:].lstrip(b" ") for line in event.split(b"\n")
                      if line.startswith(b"data:"))
    if not data or data == b"[DONE]":
        return None
    try:
        parsed = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    object_id = stream_id(parsed) if isinstance(parsed, dict) else None
    return object_id if isinstance(object_id, str) and object_id else None


def add_routes(router: web.UrlDispatcher) -> None:
    """Fixed paths first: a response's own routes would take `input_tokens` for an id."""
    for sibling in ("/v1/responses/input_tokens", "/v1/responses/compact"):
        router.add_post(sibling, referencing(sibling))
    objects.add_routes(router, RESPONSES,
                       creating=create(RESPONSES, response_event_id, stored_by_default=True))
    objects.add_routes(router, CHAT_COMPLETIONS,
                       creating=create(CHAT_COMPLETIONS, chat_chunk_id, stored_by_default=False))
    objects.add_routes(router, CONVERSATIONS)
