"""Files inside vector stores and containers: attaching, listing, and the content side channels.

A file put into a holder lends the holder its restrictions; a private file may only go into a
holder of its own owner, or the holder's owner could read it through search or content.
"""

from __future__ import annotations

import dataclasses

from aiohttp import web
from aiohttp.typedefs import Handler

from gateway.enforce import decide_file, path_id, raw_id, scope
from gateway.errors import store_unavailable
from gateway.file_refs import find_refs
from gateway.policy import Action
from gateway.records import FileRecord
from gateway.references import check_refs
from gateway.routes.forward import checked_form, compensate, is_json, read_body, send, send_form
from gateway.routes.holders import CONTAINERS, VECTOR_STORES, Holder, keep_created, new_record
from gateway.routes.objects import decided
from gateway.routes.paged import ListSpec, filtered_list
from gateway.routes.responses import json_response, upstream_json
from gateway.store import StoreUnavailable
from gateway.upstream import relay

# Files a container made itself (code interpreter outputs) have no record of their own.
CONTAINER_OUTPUT = "assistants_output"


def _member_fallback(holder: Holder, parent: FileRecord | None) -> FileRecord | None:
    if holder is not CONTAINERS or parent is None:
        return None
    return dataclasses.replace(parent, purpose=CONTAINER_OUTPUT, kind="container.file")


async def _member(
    request: web.Request, holder: Holder, parent: FileRecord | None, action: Action
) -> FileRecord | None:
    async with scope(request, action, raw_id(request), api=holder.api) as decision:
        return await decide_file(request, decision, action, path_id(request),
                                 _member_fallback(holder, parent))


def attach(holder: Holder) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        parent = await decided(request, holder, Action.DELETE)
        if holder is CONTAINERS and not is_json(request):
            return await _container_upload(request, parent)
        raw, body = await read_body(request)
        records = await check_refs(request, find_refs(body, holder.api), parent)
        response = await send(request, holder.collection + "/{object_id}/files", body=raw)
        if response.status != 200 or parent is None:
            return await relay(request, response)
        obj = await upstream_json(response)
        if holder is CONTAINERS and records and obj.get("id"):
            source = next(iter(records.values()))
            await _record_copy(request, dataclasses.replace(
                source, file_id=str(obj["id"]), kind="container.file", derived_from=source.file_id
            ))
        return json_response(request, obj, response)

    return handler


async def _container_upload(request: web.Request, parent: FileRecord | None) -> web.StreamResponse:
    # The upload streams through; a `file_id` field beside it would name a file to copy in.
    form, _ = await checked_form(request, CONTAINERS.api, holder=parent)
    response = await send_form(request, CONTAINERS.collection + "/{object_id}/files", form)
    if response.status != 200 or parent is None:
        return await relay(request, response)
    obj = await upstream_json(response)
    record = new_record(request, str(obj["id"]), "container.file", CONTAINER_OUTPUT, parent.flags,
                        derived_from=parent.file_id)
    await _record_copy(request, record)
    return json_response(request, obj, response)


async def _record_copy(request: web.Request, record: FileRecord) -> None:
    """A file the upstream just put in a container: recorded, or taken back out. Unrecorded,
    it would be read by the container's rules, not those of the file it was copied from."""
    try:
        await keep_created(request, record)
    except StoreUnavailable as exc:
        path = f"{CONTAINERS.collection}/{request.match_info['object_id']}/files/{record.file_id}"
        await compensate(request, path, CONTAINERS.collection + "/{object_id}/files/{file_id}")
        raise store_unavailable() from exc


def members(holder: Holder, route: str) -> Handler:
    """The files listed at `route` (the holder's, or one of its file batches'), each shown only
    to who may see it."""
    spec = ListSpec(route, route, 100, 20, ("order", "filter"))

    async def handler(request: web.Request) -> web.StreamResponse:
        parent = await decided(request, holder, Action.RETRIEVE)
        # Forwarded as sent: only the holder's id was checked, and a decoded path could carry a `?`.
        upstream_path = request.rel_url.raw_path
        async with scope(request, Action.LIST, request.query.get("after"), api=holder.api) as s:
            return await filtered_list(
                request, s, dataclasses.replace(spec, upstream_path=upstream_path),
                fallback=_member_fallback(holder, parent),
            )

    return handler


def member(holder: Holder, action: Action) -> Handler:
    """One member: retrieve or delete (holder rules), or its content (the file's download rule)."""

    async def handler(request: web.Request) -> web.StreamResponse:
        holder_action = Action.DELETE if action is Action.DELETE else Action.RETRIEVE
        parent = await decided(request, holder, holder_action)
        if action is not Action.DELETE:
            await _member(request, holder, parent, action)
        response = await send(request, holder.collection + "/{object_id}/files/{file_id}")
        if action is Action.DOWNLOAD:
            return await relay(request, response, download=True)
        return await relay(request, response)

    return handler


def add_routes(router: web.UrlDispatcher) -> None:
    for holder in (VECTOR_STORES, CONTAINERS):
        files = holder.collection + "/{object_id}/files"
        router.add_post(files, attach(holder))
        router.add_get(files, members(holder, files))
        router.add_get(files + "/{file_id}", member(holder, Action.RETRIEVE))
        router.add_delete(files + "/{file_id}", member(holder, Action.DELETE))
        router.add_get(files + "/{file_id}/content", member(holder, Action.DOWNLOAD))
    batches = VECTOR_STORES.collection + "/{object_id}/file_batches"
    router.add_post(batches, attach(VECTOR_STORES))
    batch_files = batches + "/{batch_id}/files"
    router.add_get(batch_files, members(VECTOR_STORES, batch_files))
