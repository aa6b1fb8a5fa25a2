"""``/v1/vector_stores``: stores, their files, file batches, search and the parsed-content side
channel."""

from __future__ import annotations

import asyncio
from pathlib import Path

from aiohttp import web

from .errors import ApiError, found, invalid_type, missing_parameter, not_found
from .forms import read_json
from .keys import STATE
from .pagination import cursor_list
from .references import check_references
from .state import SandboxState, file_counts
from .store import JsonObject, new_id
from .validation import require_str

# The content page is the file's text; a cap keeps huge files from being read whole.
MAX_TEXT_BYTES = 4 * 1024 * 1024
CHUNKING = {"type": "static", "static": {"max_chunk_size_tokens": 800, "chunk_overlap_tokens": 400}}


def _store(request: web.Request) -> tuple[SandboxState, JsonObject]:
    state = request.app[STATE]
    vs_id = request.match_info["vs_id"]
    store = found(state.vector_stores, vs_id, "VectorStore")
    attached = state.vector_store_files[vs_id]
    for file_id in [f for f in attached if state.files.get(f) is None]:
        state.forget_file(file_id)  # expired since it was attached
    return state, store


def _attach(state: SandboxState, store: JsonObject, file_id: str, body: JsonObject) -> JsonObject:
    record = state.files.require(file_id)
    attached = state.vector_store_files[store["id"]]
    attached[file_id] = {
        "id": file_id,
        "object": "vector_store.file",
        "usage_bytes": record.bytes,
        "created_at": state.clock.now(),
        "vector_store_id": store["id"],
        "status": "completed",
        "last_error": None,
        "chunking_strategy": body.get("chunking_strategy") or CHUNKING,
        "attributes": body.get("attributes"),
    }
    store["file_counts"] = file_counts(len(attached))
    store["usage_bytes"] = sum(f["usage_bytes"] for f in attached.values())
    return attached[file_id]


async def create_store(request: web.Request) -> web.Response:
    state = request.app[STATE]
    body = await read_json(request)
    ids = check_references(state, {"file_ids": body.get("file_ids", [])})
    now = state.clock.now()
    store: JsonObject = {
        "id": new_id("vs_"),
        "object": "vector_store",
        "created_at": now,
        "name": body.get("name") or "",
        "usage_bytes": 0,
        "file_counts": file_counts(0),
        "status": "completed",
        "expires_after": body.get("expires_after"),
        "expires_at": None,
        "last_active_at": now,
        "metadata": body.get("metadata") or {},
    }
    state.vector_stores[store["id"]] = store
    state.vector_store_files[store["id"]] = {}
    for file_id in ids:
        _attach(state, store, file_id, body)
    return web.json_response(store)


async def list_stores(request: web.Request) -> web.Response:
    stores = list(request.app[STATE].vector_stores.values())
    return web.json_response(cursor_list(request, stores))


async def retrieve_store(request: web.Request) -> web.Response:
    return web.json_response(_store(request)[1])


async def delete_store(request: web.Request) -> web.Response:
    state, store = _store(request)
    del state.vector_stores[store["id"]]
    del state.vector_store_files[store["id"]]
    for batch_id in [b for b, (batch, _) in state.file_batches.items()
                     if batch["vector_store_id"] == store["id"]]:
        del state.file_batches[batch_id]
    return web.json_response({"id": store["id"], "object": "vector_store.deleted", "deleted": True})


async def add_file(request: web.Request) -> web.Response:
    state, store = _store(request)
    body = await read_json(request)
    file_id = require_str(body, "file_id")
    return web.json_response(_attach(state, store, file_id, body))


async def list_files(request: web.Request) -> web.Response:
    state, store = _store(request)
    attached = list(state.vector_store_files[store["id"]].values())
    return web.json_response(cursor_list(request, attached))


def _attached(request: web.Request) -> tuple[SandboxState, JsonObject]:
    state, store = _store(request)
    file_id = request.match_info["file_id"]
    found = state.vector_store_files[store["id"]].get(file_id)
    if found is None:
        raise ApiError(404, f"No file found with id '{file_id}' in vector store '{store['id']}'.", param="id")
    return state, found


async def retrieve_file(request: web.Request) -> web.Response:
    return web.json_response(_attached(request)[1])


async def file_content(request: web.Request) -> web.Response:
    """``vector_store.file_content.page`` with the file's text (facts §2, side channels)."""
    state, attached = _attached(request)
    path = state.files.path(attached["id"])
    text = await asyncio.to_thread(_read_text, path)
    return web.json_response(
        {
            "object": "vector_store.file_content.page",
            "data": [{"type": "text", "text": text}],
            "has_more": False,
            "next_page": None,
        }
    )


async def search(request: web.Request) -> web.Response:
    """``vector_store.search_results.page``: each attached file whose text holds a word of the
    query, with that text as its one chunk (a stand-in for ranking, enough to show what a search
    reads). ``query`` is required, as upstream."""
    state, store = _store(request)
    body = await read_json(request)
    query = body.get("query")
    if isinstance(query, str):
        query = [query]
    if not isinstance(query, list) or not query or not all(isinstance(q, str) for q in query):
        raise missing_parameter("query")
    words = {word.lower() for q in query for word in q.split()}
    hits: list[JsonObject] = []
    for file_id, attached in state.vector_store_files[store["id"]].items():
        text = await asyncio.to_thread(_read_text, state.files.path(file_id))
        if words & set(text.lower().split()):
            hits.append({"file_id": file_id, "filename": state.files.require(file_id).filename,
                         "score": 1.0, "attributes": attached["attributes"],
                         "content": [{"type": "text", "text": text}]})
    return web.json_response({"object": "vector_store.search_results.page", "search_query": query,
                              "data": hits, "has_more": False, "next_page": None})


def _read_text(path: Path) -> str:
    with path.open("rb") as handle:
        return handle.read(MAX_TEXT_BYTES).decode("utf-8", errors="replace")


async def create_file_batch(request: web.Request) -> web.Response:
    """``file_ids`` or ``files[*].file_id``; every file is attached at once."""
    state, store = _store(request)
    body = await read_json(request)
    if "file_ids" not in body and "files" not in body:
        raise missing_parameter("file_ids")
    for name in ("file_ids", "files"):
        if not isinstance(body.get(name, []), list):
            raise invalid_type(name, "an array")
    ids = check_references(state, {"file_ids": body.get("file_ids"), "files": body.get("files")})
    for file_id in ids:
        _attach(state, store, file_id, body)
    batch: JsonObject = {
        "id": new_id("vsfb_"),
        "object": "vector_store.files_batch",
        "created_at": state.clock.now(),
        "vector_store_id": store["id"],
        "status": "completed",
        "file_counts": file_counts(len(ids)),
    }
    state.file_batches[batch["id"]] = (batch, ids)
    return web.json_response(batch)


def _batch(request: web.Request) -> tuple[SandboxState, JsonObject, JsonObject, list[str]]:
    state, store = _store(request)
    batch_id = request.match_info["batch_id"]
    batch, ids = state.file_batches.get(batch_id, ({}, []))
    if batch.get("vector_store_id") != store["id"]:
        raise not_found("VectorStoreFileBatch", batch_id)
    return state, store, batch, ids


async def retrieve_file_batch(request: web.Request) -> web.Response:
    return web.json_response(_batch(request)[2])


async def list_file_batch_files(request: web.Request) -> web.Response:
    """The batch's files still in the store, narrowed by ``filter`` (a status) when given."""
    state, store, _, ids = _batch(request)
    attached = state.vector_store_files[store["id"]]
    wanted = request.query.get("filter")
    members = [attached[f] for f in ids if f in attached]
    if wanted is not None:
        members = [f for f in members if f["status"] == wanted]
    return web.json_response(cursor_list(request, members))


def routes() -> list[web.RouteDef]:
    base = "/v1/vector_stores/{vs_id}"
    return [
        web.post("/v1/vector_stores", create_store),
        web.get("/v1/vector_stores", list_stores),
        web.get(base, retrieve_store),
        web.delete(base, delete_store),
        web.post(f"{base}/files", add_file),
        web.get(f"{base}/files", list_files),
        web.get(base + "/files/{file_id}", retrieve_file),
        web.get(base + "/files/{file_id}/content", file_content),
        web.post(f"{base}/search", search),
        web.post(f"{base}/file_batches", create_file_batch),
        web.get(base + "/file_batches/{batch_id}", retrieve_file_batch),
        web.get(base + "/file_batches/{batch_id}/files", list_file_batch_files),
    ]
