"""APIs whose JSON bodies reference files but hold none: every id is checked before the
upstream is called; a multipart form (an image edit's uploads) streams through, its fields
checked for file ids first.
Responses, Chat Completions and Conversations hold what was said (routes/stored.py), and evals
runs hold their file (routes/evals.py)."""

from __future__ import annotations

import functools

from aiohttp import web
from aiohttp.typedefs import Handler

from gateway.file_refs import find_refs
from gateway.routes.forward import checked_form, checked_json, is_json, send, send_form
from gateway.upstream import relay

# (method, route, API name in the purpose matrix)
SCANNED: tuple[tuple[str, str, str], ...] = (
    ("POST", "/v1/images/edits", "images"),
    ("POST", "/v1/assistants", "assistants"),
    ("POST", "/v1/assistants/{aid}", "assistants"),
    ("POST", "/v1/threads", "assistants"),
    ("POST", "/v1/threads/runs", "assistants"),
    ("POST", "/v1/threads/{tid}", "assistants"),
    ("POST", "/v1/threads/{tid}/messages", "assistants"),
    ("POST", "/v1/threads/{tid}/messages/{mid}", "assistants"),
    ("POST", "/v1/threads/{tid}/runs", "assistants"),
)


def scanning(api: str, route: str) -> Handler:
    refs = functools.partial(find_refs, api=api)

    async def handler(request: web.Request) -> web.StreamResponse:
        if not request.body_exists:
            return await relay(request, await send(request, route))
        if not is_json(request):
            # A form (an image edit's uploads) may name files in its fields too: `mask[file_id]`.
            form, _ = await checked_form(request, api)
            return await relay(request, await send_form(request, route, form))
        raw, _, _ = await checked_json(request, refs)
        return await relay(request, await send(request, route, body=raw))

    return handler


def add_routes(router: web.UrlDispatcher) -> None:
    for method, route, api in SCANNED:
        router.add_route(method, route, scanning(api, route))
