"""A minimal aiohttp pass-through proxy: the floor for any aiohttp proxy on this machine (issue 6).

No identity, policy, store, metrics, audit or logging: one pooled ClientSession, hop-by-hop
headers dropped, bodies streamed both ways with the gateway's chunk size. With `--client gateway`
it sends through the gateway's own client (gateway/http_client.py) instead: the floor for a proxy
built as the gateway is, so the gateway's own work can be read off against it.

    python bench/bare_proxy.py --listen 127.0.0.1:8081 --upstream http://127.0.0.1:8089
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import hdrs, web

from gateway.http_client import HTTPClient

CHUNK = 256 * 1024
SESSION = web.AppKey("session", aiohttp.ClientSession)
UPSTREAM = web.AppKey("upstream", str)
CLIENT = web.AppKey("client", HTTPClient)
HOP_BY_HOP = frozenset(
    {
        "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
        "transfer-encoding", "upgrade", "host",
    }
)


async def _body(request: web.Request) -> AsyncIterator[bytes]:
    async for chunk in request.content.iter_chunked(CHUNK):
        yield chunk


async def proxy(request: web.Request) -> web.StreamResponse:
    session = request.app[SESSION]
    headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
    data = _body(request) if request.body_exists else None
    async with session.request(
        request.method, request.app[UPSTREAM] + request.path_qs, headers=headers, data=data,
        allow_redirects=False, skip_auto_headers=(hdrs.USER_AGENT,),
    ) as upstream:
        out = web.StreamResponse(
            status=upstream.status,
            headers={k: v for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP},
        )
        if upstream.content_length is not None:
            out.content_length = upstream.content_length
        await out.prepare(request)
        async for chunk in upstream.content.iter_chunked(CHUNK):
            await out.write(chunk)
        await out.write_eof()
        return out


async def proxy_own_client(request: web.Request) -> web.StreamResponse:
    headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
    data = _body(request) if request.body_exists else None
    response = await request.app[CLIENT].request(request.method, request.path_qs, headers, data)
    try:
        kept = {k: v for k, v in response.headers.items() if k.lower() not in HOP_BY_HOP}
        out = web.StreamResponse(status=response.status, headers=kept)
        if response.content_length is not None:
            out.content_length = response.content_length
        await out.prepare(request)
        async for piece in response.iter_chunks():
            await out.write(piece)
        await out.write_eof()
        return out
    finally:
        response.release()


async def _client_ctx(app: web.Application) -> AsyncIterator[None]:
    app[CLIENT] = HTTPClient(app[UPSTREAM], connect_timeout=10, read_timeout=600)
    yield
    await app[CLIENT].close()


def aiohttp_session() -> aiohttp.ClientSession:
    """The reference's upstream session (bench/client_cost.py times it alone)."""
    return aiohttp.ClientSession(
        auto_decompress=False,
        timeout=aiohttp.ClientTimeout(total=None, connect=10, sock_read=600),
        connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=30),
    )


async def _session_ctx(app: web.Application) -> AsyncIterator[None]:
    app[SESSION] = aiohttp_session()
    yield
    await app[SESSION].close()


def make_app(upstream: str, client: str = "aiohttp") -> web.Application:
    app = web.Application(client_max_size=8 * 1024 * 1024)
    app[UPSTREAM] = upstream.rstrip("/")
    own = client == "gateway"
    app.cleanup_ctx.append(_client_ctx if own else _session_ctx)
    app.router.add_route("*", "/{tail:.*}", proxy_own_client if own else proxy)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", default="127.0.0.1:8081")
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--client", choices=("aiohttp", "gateway"), default="aiohttp",
                        help="aiohttp's ClientSession (the reference), or the gateway's own client")
    args = parser.parse_args()
    host, _, port = args.listen.rpartition(":")
    web.run_app(make_app(args.upstream, args.client), host=host, port=int(port), access_log=None,
                print=None)


if __name__ == "__main__":
    main()
