"""What an upstream client costs per request (issue 6): aiohttp's, the gateway's own, and the
least any asyncio client does.

Each sends the same GET with the SDK's headers over one kept-alive connection and reads a small
body, one request at a time, in this process; the figure is this process's CPU time per request.
- `aiohttp`: the bare proxy's own ClientSession (bare_proxy.aiohttp_session).
- `gateway`: the gateway's own client, from gateway.upstream.http_client.
- `bare protocol`: an asyncio.Protocol that writes prebuilt request bytes and waits for
  Content-Length bytes after the header block; no parser, no timeouts, no pool, no errors. No
  real client can be this cheap, so the difference is an upper bound on what one could save.

Called by bench/marginal.py, against its nginx upstream.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from bare_proxy import aiohttp_session
from load import sdk_headers

from gateway.settings import UpstreamSettings
from gateway.upstream import http_client

WARMUP = 500


class _OneAtATime(asyncio.Protocol):
    def __init__(self) -> None:
        self.waiter: asyncio.Future[bytes] | None = None
        self._buffer = bytearray()

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0 or self.waiter is None:
            return
        head = bytes(self._buffer[:end]).lower()
        start = head.find(b"\r\ncontent-length:")
        stop = head.find(b"\r\n", start + 2)
        length = int(head[start + 17:stop if stop >= 0 else None]) if start >= 0 else 0
        if len(self._buffer) >= end + 4 + length:
            body = bytes(self._buffer[end + 4:end + 4 + length])
            del self._buffer[:end + 4 + length]
            self.waiter.set_result(body)


async def _timed(one: Callable[[], Awaitable[bytes]], count: int) -> float:
    for _ in range(WARMUP):
        await one()
    started = time.process_time()
    for _ in range(count):
        await one()
    return (time.process_time() - started) / count * 1e6


async def aiohttp_cost(url: str, headers: dict[str, str], count: int) -> float:
    session = aiohttp_session()

    async def one() -> bytes:
        async with session.get(url, headers=headers, allow_redirects=False) as response:
            return await response.read()

    try:
        return await _timed(one, count)
    finally:
        await session.close()


async def gateway_cost(url: str, headers: dict[str, str], count: int) -> float:
    parts = urlsplit(url)
    client = http_client(UpstreamSettings(url=f"{parts.scheme}://{parts.netloc}"))

    async def one() -> bytes:
        async with await client.request("GET", parts.path, headers) as response:
            return await response.read()

    try:
        return await _timed(one, count)
    finally:
        await client.close()


async def protocol_cost(url: str, headers: dict[str, str], count: int) -> float:
    parts = urlsplit(url)
    loop = asyncio.get_running_loop()
    if parts.hostname is None or parts.port is None:
        raise ValueError(f"client_cost needs a host and port in {url}")
    transport, protocol = await loop.create_connection(_OneAtATime, parts.hostname, parts.port)
    lines = [f"GET {parts.path} HTTP/1.1", f"Host: {parts.netloc}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode()

    async def one() -> bytes:
        protocol.waiter = loop.create_future()
        transport.write(request)
        return await protocol.waiter

    try:
        return await _timed(one, count)
    finally:
        transport.close()


def measure(url: str, token: str, *, count: int = 10_000, rounds: int = 3) -> dict[str, float]:
    """Median CPU µs per request of each client, rounds alternating between them."""
    headers = {**sdk_headers("/content"), "Authorization": f"Bearer {token}"}
    clients = {"aiohttp": aiohttp_cost, "gateway": gateway_cost, "bare protocol": protocol_cost}
    samples: dict[str, list[float]] = {name: [] for name in clients}
    for _ in range(rounds):
        for name, cost in clients.items():
            samples[name].append(asyncio.run(cost(url, headers, count)))
    return {name: statistics.median(values) for name, values in samples.items()}
