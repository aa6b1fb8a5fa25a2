"""Building JSON answers from upstream responses."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import hdrs, web

from gateway import keys
from gateway.http_client import UpstreamResponse
from gateway.upstream import read_decoded


def json_response(
    request: web.Request, body: Any, upstream: UpstreamResponse
) -> web.Response:
    """An edited JSON body with the upstream's status and allow-listed headers."""
    headers = request.app[keys.UPSTREAM].response_headers(upstream.headers)
    for name in (hdrs.CONTENT_LENGTH, hdrs.CONTENT_ENCODING, hdrs.CONTENT_TYPE):
        headers.popall(name, None)
    headers["x-request-id"] = request[keys.REQUEST_ID]
    return web.Response(
        body=orjson.dumps(body), status=upstream.status, headers=headers,
        content_type="application/json",
    )


async def upstream_json(upstream: UpstreamResponse) -> Any:
    """The upstream's JSON body, read and the connection released. A body that is not JSON is
    the upstream's failure: 502 upstream_unavailable."""
    return await read_decoded(upstream, orjson.loads)
