"""The ceiling of a CPython proxy on this machine (issue 6): an HTTP/1.1 server with no web
framework at all, an `asyncio.Protocol` with llhttp (httptools) parsing the requests.

`--upstream URL` forwards every request through the gateway's own client (gateway/http_client.py)
and relays the answer, hop-by-hop headers dropped, as bench/bare_proxy.py does but without
aiohttp's server. `--echo` answers every request with 1 KiB itself and calls nothing. Neither does
identity, policy, store, metrics, audit or logging, and neither takes request bodies: it is a
measure of what is left for enforcement once the server costs as little as Python allows, not a
server to ship. `--workers N` starts N processes on one port (SO_REUSEPORT).

    python bench/raw_server.py --listen 127.0.0.1:8082 --upstream http://127.0.0.1:8089
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import signal
import socket
import sys
from typing import cast

import bare_proxy
import httptools

from gateway.http_client import HTTPClient

# bare_proxy's hop-by-hop set, and Content-Length, which _answer writes itself.
HOP_BY_HOP = bare_proxy.HOP_BY_HOP | {"content-length"}
ECHO = b"x" * 1024


class Connection(asyncio.Protocol):
    """One client connection; requests are answered in order (wrk does not pipeline)."""

    def __init__(self, client: HTTPClient | None) -> None:
        self._client = client
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._url = b""
        self._headers: dict[str, str] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is no asyncio.Transport

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            assert self._transport is not None
            self._transport.close()

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers[name.decode("latin-1")] = value.decode("latin-1")

    def on_message_complete(self) -> None:
        method = self._parser.get_method().decode()
        url, headers = self._url.decode("latin-1"), self._headers
        self._url, self._headers = b"", {}
        if self._client is None:
            self._answer(200, [("Content-Type", "application/octet-stream")], ECHO)
        else:
            asyncio.get_running_loop().create_task(self._forward(self._client, method, url, headers))

    async def _forward(self, client: HTTPClient, method: str, url: str, headers: dict[str, str]) -> None:
        kept = {k: v for k, v in headers.items() if k.lower() not in HOP_BY_HOP}
        try:
            response = await client.request(method, url, kept)
            try:
                body = await response.read()
            finally:
                response.release()
        except Exception:
            # An answer still goes out, so that a load generator counts an error instead of
            # waiting on a connection that never hears back.
            self._answer(502, [("Content-Type", "text/plain")], b"upstream failed\n")
            return
        relayed = [(k, v) for k, v in response.headers.items() if k.lower() not in HOP_BY_HOP]
        self._answer(response.status, relayed, body)

    def _answer(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        assert self._transport is not None
        lines = "".join(f"{k}: {v}\r\n" for k, v in headers)
        head = f"HTTP/1.1 {status} OK\r\n{lines}Content-Length: {len(body)}\r\n\r\n"
        self._transport.write(head.encode("latin-1") + body)


async def serve(host: str, port: int, upstream: str | None) -> None:
    client = HTTPClient(upstream, connect_timeout=10, read_timeout=600) if upstream else None
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Connection(client), host, port, reuse_port=True,
                                      family=socket.AF_INET)
    async with server:
        await server.serve_forever()


def run(host: str, port: int, upstream: str | None, event_loop: str) -> None:
    if event_loop == "uvloop":
        import uvloop

        uvloop.run(serve(host, port, upstream))
    else:
        asyncio.run(serve(host, port, upstream))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", default="127.0.0.1:8082")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--upstream")
    target.add_argument("--echo", action="store_true")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--event-loop", choices=("asyncio", "uvloop"), default="asyncio")
    args = parser.parse_args()
    host, _, port = args.listen.rpartition(":")
    spec = (host, int(port), args.upstream, args.event_loop)
    workers = [multiprocessing.get_context("spawn").Process(target=run, args=spec)
               for _ in range(args.workers - 1)]
    for worker in workers:
        worker.start()
    # Stopped by SIGTERM: the finally below takes the other workers down with this one.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        run(*spec)
    finally:
        for worker in workers:
            worker.terminate()


if __name__ == "__main__":
    main()
