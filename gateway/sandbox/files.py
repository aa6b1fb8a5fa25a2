"""``/v1/files``: upload, list, retrieve, delete and content."""

from __future__ import annotations

from aiohttp import hdrs, web

from .errors import ApiError, missing_parameter
from .forms import read_form
from .keys import STATE
from .pagination import page
from .store import FileRecord
from .validation import expiry_seconds, list_limit, list_order, require_purpose

ANCHOR, SECONDS = "expires_after[anchor]", "expires_after[seconds]"
UPLOAD_FIELDS = ("file", "purpose", ANCHOR, SECONDS)
# Content OpenAI refuses to serve, with a 400 (facts §2).
UNDOWNLOADABLE = frozenset({"user_data", "assistants"})


async def create_file(request: web.Request) -> web.Response:
    """Stream the form to disk whatever its field order, then validate the whole of it."""
    store = request.app[STATE].files
    form = await read_form(request, spool=store.tmp_path, keep=("file",))
    try:
        upload, path = form.spooled_file("file", UPLOAD_FIELDS)
        if "purpose" not in form.fields:
            raise missing_parameter("purpose")
        purpose = require_purpose(form.fields["purpose"])
        ttl = None
        if ANCHOR in form.fields or SECONDS in form.fields:
            ttl = expiry_seconds(form.fields.get(ANCHOR), form.fields.get(SECONDS))
        record = await store.add(
            path, filename=upload.filename, purpose=purpose, size=upload.size, ttl=ttl
        )
        upload.path = None
    finally:
        form.discard()
    return web.json_response(record.to_json())


async def list_files(request: web.Request) -> web.Response:
    """Files by ``created_at`` then creation order, so equal timestamps still sort stably.

    ``after`` resumes behind the named file even if that file was deleted since; an id the
    sandbox never issued yields an empty page.
    """
    store = request.app[STATE].files
    query = request.query
    limit = list_limit(query.get("limit"), 10000, 10000)
    descending = list_order(query.get("order")) == "desc"
    records = sorted(store.live(), key=lambda r: r.sort_key, reverse=descending)
    if "purpose" in query:
        records = [r for r in records if r.purpose == query["purpose"]]
    after = query.get("after")
    if after is not None:
        records = _behind(records, store.cursors.get(after), descending)
    shown = [r.to_json() for r in records[:limit]]
    return web.json_response(page(shown, len(records) > limit))


def _behind(records: list[FileRecord], cursor: tuple[int, int] | None, descending: bool) -> list[FileRecord]:
    if cursor is None:
        return []
    if descending:
        return [r for r in records if r.sort_key < cursor]
    return [r for r in records if r.sort_key > cursor]


async def retrieve_file(request: web.Request) -> web.Response:
    record = request.app[STATE].files.require(request.match_info["file_id"])
    return web.json_response(record.to_json())


async def delete_file(request: web.Request) -> web.Response:
    state = request.app[STATE]
    file_id = request.match_info["file_id"]
    await state.files.delete(file_id)
    state.forget_file(file_id)
    return web.json_response({"id": file_id, "object": "file", "deleted": True})


async def file_content(request: web.Request) -> web.StreamResponse:
    store = request.app[STATE].files
    record = store.require(request.match_info["file_id"])
    if record.purpose in UNDOWNLOADABLE:
        raise ApiError(400, f"Not allowed to download files of purpose: {record.purpose}")
    headers = {hdrs.CONTENT_TYPE: "application/octet-stream"}
    return web.FileResponse(store.path(record.id), headers=headers)


def routes() -> list[web.RouteDef]:
    return [
        web.post("/v1/files", create_file),
        web.get("/v1/files", list_files),
        web.get("/v1/files/{file_id}", retrieve_file),
        web.delete("/v1/files/{file_id}", delete_file),
        web.get("/v1/files/{file_id}/content", file_content),
    ]
