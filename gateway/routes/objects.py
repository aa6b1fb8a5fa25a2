"""Routes of objects that hold files: create, retrieve, list, cancel and delete by the file rules."""

from __future__ import annotations

import contextlib
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from gateway import keys
from gateway.enforce import decide_file, path_id, raw_id, scope
from gateway.errors import store_unavailable, upstream_unavailable
from gateway.http_client import UpstreamResponse
from gateway.policy import Action, decide_bundle_download
from gateway.records import FileRecord
from gateway.references import check_refs, inherited_flags
from gateway.routes.forward import checked_json, compensate, send
from gateway.routes.holders import Holder, keep_created, new_record, none, record_derived
from gateway.routes.paged import ListSpec, filtered_list
from gateway.routes.responses import json_response, upstream_json
from gateway.store import StoreUnavailable
from gateway.upstream import relay
from gateway.upstream_connection import UpstreamProtocolError


def create(holder: Holder) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        raw, body, records = await checked_json(request, holder.refs)
        if holder.inner_refs is not None:
            # Only after the body's own ids: the input file itself must be the caller's to use.
            records.update(await check_refs(request, await holder.inner_refs(request, body)))
        response = await send(request, holder.collection, body=raw)
        if response.status != 200:
            return await relay(request, response)
        obj = await upstream_json(response)
        purpose = str(obj.get("purpose") or "")
        record = await record_created(request, holder, response, obj.get("id"),
                                      inherited_flags(records), purpose)
        await record_derived(request, holder, record, obj)
        return json_response(request, obj, response)

    return handler


async def record_created(
    request: web.Request, holder: Holder, response: UpstreamResponse, object_id: object,
    flags: frozenset[str], purpose: str = "", derived_from: str | None = None,
    expires_at: int | None = None,
) -> FileRecord:
    """Record what the upstream just created for the caller. Raised, not returned, when that
    fails: an unrecorded object is untracked and refused to everyone, so say so now."""
    if not isinstance(object_id, str) or not object_id:
        response.failed(UpstreamProtocolError(f"a new {holder.kind} without an id"))
        raise upstream_unavailable()
    record = new_record(request, object_id, holder.kind, purpose, flags, derived_from,
                        expires_at=expires_at)
    try:
        return await keep_created(request, record)
    except StoreUnavailable as exc:
        # Nobody could ever reach it through the gateway: take it back, as an upload is.
        await take_back(request, holder, object_id)
        raise store_unavailable() from exc


async def take_back(request: web.Request, holder: Holder, object_id: str) -> None:
    path = f"{holder.collection.format_map(request.match_info)}/{object_id}"
    route = holder.collection + "/{object_id}"
    if holder.deletable:
        await compensate(request, path, route)
    elif holder.stop_step is not None:
        step = "/" + holder.stop_step
        await compensate(request, path + step, route + step, method="POST")


async def decided(
    request: web.Request, holder: Holder, action: Action, name: str = "object_id"
) -> FileRecord | None:
    """The object named in the path, looked up and decided like a file (one audit event)."""
    async with scope(request, action, raw_id(request, name), api=holder.api) as decision:
        return await decide_file(request, decision, action, path_id(request, name))


def bundle_content(holder: Holder, route: str) -> Handler:
    """The bytes an object (a skill, a video) serves: downloaded by its visibility and its
    `no_download` flag, since it has no purpose; counted as a download either way."""

    async def handler(request: web.Request) -> web.StreamResponse:
        async with scope(request, Action.DOWNLOAD, raw_id(request, "object_id"),
                         api=holder.api) as decision:
            await decide_file(request, decision, Action.DOWNLOAD, path_id(request, "object_id"),
                              decider=decide_bundle_download)
            response = await send(request, route, decision)
        return await relay(request, response, download=True)

    return handler


def search(holder: Holder) -> Handler:
    """A search answers with what the object's files say: decided as a download of the object,
    so a `no_download` file it holds (its flag the holder's) cannot be read this way either.
    The query goes up with it, checked as any body is."""
    route = holder.collection + "/{object_id}/search"

    async def handler(request: web.Request) -> web.StreamResponse:
        async with scope(request, Action.DOWNLOAD, raw_id(request, "object_id"),
                         api=holder.api) as decision:
            await decide_file(request, decision, Action.DOWNLOAD, path_id(request, "object_id"),
                              decider=decide_bundle_download)
        raw: bytes | None = None
        if request.body_exists:
            raw, _, _ = await checked_json(request, holder.refs)
        return await relay(request, await send(request, route, body=raw))

    return handler


def retrieve(holder: Holder, *, derive: bool = True) -> Handler:
    """GET of the object (recording what it derived) or of one of its sub-resources."""

    # Only a holder that derives files needs its answer read; any other's streams through.
    derives = derive and holder.derive is not none

    async def handler(request: web.Request) -> web.StreamResponse:
        record = await decided(request, holder, Action.RETRIEVE)
        response = await send(request, holder.collection + "/{object_id}")
        if not derives or response.status != 200 or record is None:
            return await relay(request, response)
        obj = await upstream_json(response)
        await record_derived(request, holder, record, obj)
        return json_response(request, obj, response)

    return handler


def mutate(holder: Holder, *, deletes: bool = False) -> Handler:
    """Cancel, modify or delete: the owner, or the org when the object is not private."""

    async def handler(request: web.Request) -> web.StreamResponse:
        record = await decided(request, holder, Action.DELETE)
        raw: bytes | None = None
        if request.body_exists:
            # What a change puts into the object is held by it: a private file only by its owner's.
            raw, _, _ = await checked_json(request, holder.refs, holder=record)
        response = await send(request, holder.collection + "/{object_id}", body=raw)
        if deletes and response.status == 200 and record is not None:
            # The object is gone upstream; a live record left behind only leads to upstream 404s.
            with contextlib.suppress(StoreUnavailable):
                await request.app[keys.STORE].put(record.tombstone())
        return await relay(request, response)

    return handler


def listing(holder: Holder, spec: ListSpec) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        def annotate(item: dict[str, Any], record: FileRecord | None) -> None:
            if record is not None:
                derived.append((record, item))

        derived: list[tuple[FileRecord, dict[str, Any]]] = []
        async with scope(request, Action.LIST, request.query.get("after"), api=holder.api) as s:
            reply = await filtered_list(request, s, spec, annotate=annotate)
        for record, item in derived:
            await record_derived(request, holder, record, item)
        return reply

    return handler


def object_routes(holder: Holder) -> tuple[Handler, Handler]:
    """Every method on an object or anything below it is decided; reads retrieve, the rest
    mutate, so an unknown sub-route or method can never skip the check."""
    reading, deriving, changing = retrieve(holder, derive=False), retrieve(holder), mutate(holder)
    deleting = mutate(holder, deletes=True)
    searching = search(holder)

    async def on_object(request: web.Request) -> web.StreamResponse:
        if request.method in ("GET", "HEAD"):
            return await deriving(request)
        if request.method == "DELETE" and holder.deletable:
            return await deleting(request)
        return await changing(request)

    async def below_object(request: web.Request) -> web.StreamResponse:
        if request.match_info["rest"] == "search":
            return await searching(request)
        if request.method in ("GET", "HEAD") or request.match_info["rest"].endswith("search"):
            return await reading(request)
        return await changing(request)

    return on_object, below_object


def add_routes(
    router: web.UrlDispatcher, holder: Holder, *,
    creating: Handler | None = None,
) -> None:
    base = holder.collection
    router.add_post(base, creating or create(holder))
    if holder.listing is not None:
        router.add_get(base, listing(holder, holder.listing))
    on_object, below_object = object_routes(holder)
    router.add_route("*", base + "/{object_id}", on_object)
    router.add_route("*", base + "/{object_id}/{rest:.+}", below_object)
