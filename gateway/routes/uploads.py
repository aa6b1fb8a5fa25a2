"""/v1/uploads: purpose and flags at create, owner-only parts/complete/cancel, and the completed
file recorded with everything it inherits from its Upload (issue 4 §3)."""

from __future__ import annotations

import dataclasses
import json

from aiohttp import web
from aiohttp.typedefs import Handler

from gateway import keys
from gateway.decisions import DecisionScope
from gateway.enforce import decide_file, decision_error, gateway_view, path_id, raw_id, scope, upload_flags
from gateway.errors import file_too_large, invalid_access_flag, store_unavailable
from gateway.http_client import UpstreamResponse
from gateway.policy import Action, decide_owner_only, decide_upload
from gateway.records import EPHEMERAL, FileRecord
from gateway.routes import objects
from gateway.routes.files import access_header, file_expiry
from gateway.routes.forward import compensate, read_body, send
from gateway.routes.holders import UPLOADS, keep_created, new_record, record_derived
from gateway.routes.responses import json_response, upstream_json
from gateway.store import StoreUnavailable
from gateway.upstream import relay

ROUTE = "/v1/uploads/{object_id}"


async def create_upload(request: web.Request) -> web.StreamResponse:
    settings = request.app[keys.SETTINGS]
    policy = settings.policy
    async with scope(request, Action.UPLOAD, api=UPLOADS.api) as decision:
        _, body = await read_body(request)
        if not isinstance(body, dict):
            raise invalid_access_flag("The Upload body must be a JSON object")
        access = body.pop("access", None)
        purpose = str(body.get("purpose") or "")
        flags = upload_flags(policy, purpose, access_header(request),
                             str(access) if access is not None else None)
        decision.purpose = purpose
        verdict = decision.decided(decide_upload(purpose, policy))
        if not verdict.allowed:
            raise decision_error(verdict)
        declared = body.get("bytes")
        if isinstance(declared, int) and declared > settings.max_upload_bytes:
            raise file_too_large(settings.max_upload_bytes)
        if EPHEMERAL in flags and "expires_after" not in body:
            body["expires_after"] = {"anchor": "created_at", "seconds": policy.ephemeral_ttl_seconds}
        response = await send(request, "/v1/uploads", decision, body=json.dumps(body).encode())
        if response.status != 200:
            return await relay(request, response)
        obj = await upstream_json(response)
        record = new_record(request, str(obj["id"]), UPLOADS.kind, purpose, flags)
        decision.record = record
        decision.file_id = record.file_id
        try:
            record = decision.record = await keep_created(request, record)
        except StoreUnavailable as exc:
            await objects.take_back(request, UPLOADS, record.file_id)
            raise decision.refused(store_unavailable()) from exc
        return json_response(request, obj, response)


def owner_only(*, completes: bool = False, stream: bool = False) -> Handler:
    """Only the Upload's owner may add parts, complete or cancel it."""

    async def handler(request: web.Request) -> web.StreamResponse:
        async with scope(request, Action.UPLOAD, raw_id(request, "object_id"),
                         api=UPLOADS.api) as decision:
            record = await decide_file(request, decision, Action.UPLOAD,
                                       path_id(request, "object_id"), decider=decide_owner_only)
            raw = None if stream or not request.body_exists else (await read_body(request))[0]
            response = await send(request, ROUTE, decision, body=raw, stream=stream)
            if completes and response.status == 200 and record is not None:
                return await _completed(request, decision, record, response)
        return await relay(request, response)

    return handler


async def _completed(
    request: web.Request, decision: DecisionScope, upload: FileRecord, response: UpstreamResponse,
) -> web.StreamResponse:
    """The File a completed Upload made, recorded as its derived file. Unrecorded, it would be
    refused to everyone, its owner included, and an Upload completes once: it is deleted, so
    the caller uploads again."""
    obj = await upstream_json(response)
    file = obj.get("file")
    if EPHEMERAL in upload.flags and isinstance(file, dict):
        # The File expires, not the Upload (whose own expiry is an hour): as an upload's would.
        ttl = request.app[keys.SETTINGS].policy.ephemeral_ttl_seconds
        upload = dataclasses.replace(upload, expires_at=file_expiry(file, upload.flags, ttl))
    derived = await record_derived(request, UPLOADS, upload, obj)
    if isinstance(file, dict):
        file_id = str(file.get("id"))
        if file_id not in derived:
            await compensate(request, f"/v1/files/{file_id}", "/v1/files/{file_id}")
            raise decision.refused(store_unavailable())
        file["gateway"] = gateway_view(request, derived[file_id])
    return json_response(request, obj, response)


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_post("/v1/uploads", create_upload)
    router.add_post("/v1/uploads/{object_id}/parts", owner_only(stream=True))
    router.add_post("/v1/uploads/{object_id}/complete", owner_only(completes=True))
    router.add_post("/v1/uploads/{object_id}/cancel", owner_only())
    router.add_route("*", "/v1/uploads/{object_id}{rest:(/.*)?}", owner_only())
