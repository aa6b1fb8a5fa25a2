"""/v1/files: record at upload, and decide every download, retrieve, delete and list."""

from __future__ import annotations

import logging
import time
from typing import Any

from aiohttp import hdrs, web

from gateway import keys
from gateway.decisions import DecisionScope
from gateway.deprecation import note_purpose
from gateway.enforce import (
    access_flags,
    decide_file,
    decision_error,
    gateway_view,
    path_id,
    raw_id,
    scope,
    upload_flags,
)
from gateway.errors import GatewayError, file_too_large, invalid_request, store_unavailable
from gateway.form_parts import FormParts, form_boundary
from gateway.multipart import MultipartRewriter
from gateway.policy import Action, decide_upload
from gateway.records import EPHEMERAL, FileRecord
from gateway.routes.forward import compensate, fetch
from gateway.routes.holders import keep_created, new_record
from gateway.routes.responses import json_response, upstream_json
from gateway.store import StoreUnavailable
from gateway.upstream import read_whole, relay

ACCESS_HEADER = "X-File-Access"
UPSTREAM_REFUSAL = "Not allowed to download files of purpose"
log = logging.getLogger("files_gateway")


def access_header(request: web.Request) -> str | None:
    """The flags the header asks for. A header sent twice is one list (RFC 9110 §5.3): read as
    its first line alone, `X-File-Access:` then `X-File-Access: private_only` asked for none."""
    lines = request.headers.getall(ACCESS_HEADER, ())
    return ",".join(lines) if lines else None


async def create_file(request: web.Request) -> web.StreamResponse:
    app = request.app
    settings = app[keys.SETTINGS]
    async with scope(request, Action.UPLOAD) as decision:
        header_flags = access_header(request)
        if header_flags is not None:
            access_flags(header_flags, None)  # refused before a byte of the body is read
        if (request.content_length or 0) > settings.max_upload_bytes + 1024 * 1024:
            raise file_too_large(settings.max_upload_bytes)
        if not request.content_type.startswith("multipart/"):
            raise invalid_request("Uploads must be multipart/form-data")
        parts = FormParts(request.content, form_boundary(request.headers[hdrs.CONTENT_TYPE]))
        rewriter = MultipartRewriter(parts, settings.max_upload_bytes, settings.spool_dir)
        try:
            return await _upload(request, decision, rewriter, header_flags)
        finally:
            rewriter.close()


async def _upload(
    request: web.Request, decision: DecisionScope, rewriter: MultipartRewriter,
    header_flags: str | None,
) -> web.StreamResponse:
    app = request.app
    policy = app[keys.SETTINGS].policy
    await rewriter.read_head()
    form = rewriter.form
    decision.purpose = form.purpose
    note_purpose(request, policy, form.purpose)
    verdict = decision.decided(decide_upload(form.purpose or "", policy))
    if not verdict.allowed:
        raise decision_error(verdict)

    def final_flags() -> frozenset[str]:
        return upload_flags(policy, form.purpose or "", header_flags, form.access)

    flags = final_flags()

    def trailing() -> list[tuple[str, str]]:
        nonlocal flags
        flags = final_flags()
        if EPHEMERAL in flags and not form.sent_expires_after:
            form.expires_seconds = policy.ephemeral_ttl_seconds
            return [
                ("expires_after[anchor]", "created_at"),
                ("expires_after[seconds]", str(policy.ephemeral_ttl_seconds)),
            ]
        return []

    headers = app[keys.UPSTREAM].request_headers(request, keep_body_headers=False, json_only=True)
    headers[hdrs.CONTENT_TYPE] = rewriter.content_type
    try:
        response = await app[keys.UPSTREAM].send(
            "POST", "/v1/files", headers, route="/v1/files", data=rewriter.body(trailing)
        )
    except Exception:
        # A refusal raised inside the streamed body (413, a late bad flag) surfaces wrapped.
        if rewriter.error is not None:
            raise rewriter.error from None
        raise
    decision.upstream_status = response.status
    if response.status != 200:
        return await relay(request, response)
    file_object = await upstream_json(response)
    app[keys.METRICS].bytes_counter("upload").inc(form.file_bytes)
    record = _new_record(request, file_object, flags, form.expires_seconds)
    decision.record = record
    decision.file_id = record.file_id
    try:
        record = decision.record = await keep_created(request, record)
    except StoreUnavailable as exc:
        await compensate(request, f"/v1/files/{record.file_id}", "/v1/files/{file_id}")
        raise decision.refused(store_unavailable()) from exc
    file_object["gateway"] = gateway_view(request, record)
    return json_response(request, file_object, response)


def _new_record(
    request: web.Request, file_object: dict[str, Any], flags: frozenset[str], ttl: int | None
) -> FileRecord:
    created_at = int(file_object.get("created_at") or time.time())
    return new_record(
        request, str(file_object["id"]), "file", str(file_object.get("purpose", "")), flags,
        created_at=created_at, expires_at=file_expiry(file_object, flags, ttl),
    )


def file_expiry(file_object: dict[str, Any], flags: frozenset[str], ttl: int | None) -> int | None:
    """When a new File expires: as the upstream says, else, for an `ephemeral` one, `ttl` after
    it was made."""
    expires_at = file_object.get("expires_at")
    if expires_at is None and EPHEMERAL in flags and ttl is not None:
        expires_at = int(file_object.get("created_at") or time.time()) + ttl
    return int(expires_at) if expires_at is not None else None


async def file_content(request: web.Request) -> web.StreamResponse:
    app = request.app
    async with scope(request, Action.DOWNLOAD, raw_id(request)) as decision:
        file_id = path_id(request)
        record = await decide_file(request, decision, Action.DOWNLOAD, file_id)
        upstream = app[keys.UPSTREAM]
        response = await upstream.send(
            "GET", f"/v1/files/{file_id}/content", upstream.request_headers(request),
            route="/v1/files/{file_id}/content",
        )
        decision.upstream_status = response.status
        if response.status == 400:
            body = await read_whole(response)
            if UPSTREAM_REFUSAL.encode() in body:
                purpose = record.purpose if record is not None else "unknown"
                await app[keys.LEARNED].learn(purpose)
                raise decision.refused(
                    GatewayError(
                        403, "purpose_download_forbidden",
                        f"Not allowed to download files of purpose: {purpose}",
                        extra={"source": "upstream"},
                    )
                )
            return web.Response(status=400, body=body, content_type="application/json")
        return await relay(request, response, download=True)


async def retrieve_file(request: web.Request) -> web.StreamResponse:
    async with scope(request, Action.RETRIEVE, raw_id(request)) as decision:
        file_id = path_id(request)
        record = await decide_file(request, decision, Action.RETRIEVE, file_id)
        return await _forward_json(request, decision, record, "GET")


async def delete_file(request: web.Request) -> web.StreamResponse:
    app = request.app
    async with scope(request, Action.DELETE, raw_id(request)) as decision:
        file_id = path_id(request)
        record = await decide_file(request, decision, Action.DELETE, file_id)
        response = await _forward_json(request, decision, record, "DELETE")
        if response.status == 200:
            tombstone = record.tombstone() if record is not None else None
            if tombstone is not None:
                try:
                    await app[keys.STORE].put(tombstone)
                except StoreUnavailable:
                    log.error("file %s deleted upstream but its tombstone was not written", file_id)
        return response


async def _forward_json(
    request: web.Request, decision: DecisionScope, record: FileRecord | None, method: str
) -> web.StreamResponse:
    file_id = decision.file_id
    response = await fetch(request, method, f"/v1/files/{file_id}", "/v1/files/{file_id}")
    decision.upstream_status = response.status
    if response.status != 200 or method != "GET":
        return await relay(request, response)
    body = await upstream_json(response)
    body["gateway"] = gateway_view(request, record)
    return json_response(request, body, response)

