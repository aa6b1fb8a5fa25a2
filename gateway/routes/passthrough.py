"""Every other /v1 route: forwarded unchanged, bodies streamed both ways."""

from __future__ import annotations

from aiohttp import web

from gateway import keys
from gateway.upstream import CHUNK, relay

ROUTE = "/v1/{tail}"


async def passthrough(request: web.Request) -> web.StreamResponse:
    upstream = request.app[keys.UPSTREAM]
    data = request.content.iter_chunked(CHUNK) if request.body_exists else None
    response = await upstream.send(
        request.method, request.raw_path, upstream.request_headers(request), route=ROUTE, data=data
    )
    return await relay(request, response)
