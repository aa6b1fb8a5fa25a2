"""The gateway's HTTP/1.1 client for its one upstream: pooled keep-alive connections, bodies
streamed both ways with backpressure, llhttp (httptools) parsing the answers
(gateway/upstream_connection.py).

aiohttp's ClientSession cost about 400,000 instructions an upstream request, half of what a
whole aiohttp pass-through proxy costs (docs/performance.md); this client does what the
gateway needs of one and no more: one origin, no redirects, cookies, proxies or decompression.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Callable, Mapping
from urllib.parse import urlsplit

from gateway.upstream_connection import (
    UpstreamConnection,
    UpstreamConnectionError,
    UpstreamError,
    UpstreamTimeout,
)

# Methods that may go again on a fresh connection when a kept-alive one turns out closed before
# any byte of an answer came (RFC 9110 §9.2.2).
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "DELETE", "PUT", "TRACE"})
_NO_BODY_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


class BodyLengthError(ValueError):
    """A streamed body that does not match the length its request states: the connection it
    was going up on is discarded, never reused."""


class UpstreamResponse:
    """An answer whose head has arrived; its body is read with `read()` or `iter_chunks()`,
    then `release()` hands the connection back (or closes it when the body was left unread)."""

    def __init__(self, client: HTTPClient, connection: UpstreamConnection) -> None:
        self._client = client
        self._connection: UpstreamConnection | None = connection
        self.status = connection.status
        self.reason = connection.reason
        self.headers = connection.headers
        length = connection.headers.get("content-length")
        self.content_length = int(length) if length is not None and length.isdigit() else None

    async def read(self) -> bytes:
        connection = self._connection
        if connection is not None and connection.complete:
            # The whole body came with the head, as a small one does: no generator needed.
            parts = connection.take()
            self.release()
        else:
            parts = [chunk async for chunk in self.iter_chunks()]
        return parts[0] if len(parts) == 1 else b"".join(parts)

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives, each piece as the parser gave it."""
        connection = self._connection
        if connection is None:
            return
        try:
            while True:
                if connection.chunks:
                    for chunk in connection.take():
                        yield chunk
                elif connection.complete:
                    return
                else:
                    try:
                        await connection.wait(self._client.read_timeout)
                    except UpstreamError as exc:
                        self._client.failed(exc)
                        raise
        finally:
            # Whole, failed or abandoned: the connection goes back or is closed, never kept busy.
            self.release()

    def failed(self, error: UpstreamError) -> None:
        """A failure found in a body after it was read (one that does not decode), told to the
        client's observer like every failure the client finds itself."""
        self._client.failed(error)

    def release(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            self._client.release(connection)

    async def __aenter__(self) -> UpstreamResponse:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.release()


class HTTPClient:
    """HTTP/1.1 to one origin (`http://` or `https://`, host and port), connections kept alive
    and reused most recent first. `on_error` hears of every failure a caller is given, of a
    head or of a body, once (a stale connection retried on a new one is not a failure)."""

    def __init__(
        self, base_url: str, *, connect_timeout: float, read_timeout: float,
        keepalive_timeout: float = 30.0, ssl_context: ssl.SSLContext | None = None,
        on_error: Callable[[UpstreamError], None] | None = None,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"upstream URL must be http:// or https:// with a host: {base_url}")
        self._tls = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port or (443 if self._tls else 80)
        default_port = self._port == (443 if self._tls else 80)
        self._host_header = parts.netloc.rpartition("@")[2] if not default_port else (
            f"[{self._host}]" if ":" in self._host else self._host
        )
        self._ssl = (ssl_context or ssl.create_default_context()) if self._tls else None
        self._connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self._keepalive = keepalive_timeout
        self._idle: deque[UpstreamConnection] = deque()
        self._busy: set[UpstreamConnection] = set()
        self._on_error = on_error
        self.closed = False

    async def request(
        self, method: str, path_qs: str, headers: Mapping[str, str],
        body: bytes | AsyncIterable[bytes] | None = None,
    ) -> UpstreamResponse:
        """Send one request and return once the answer's head has arrived."""
        head, length = self._head(method, path_qs, headers, body)
        try:
            return await self._send(method, head, body, length)
        except UpstreamError as exc:
            self.failed(exc)
            raise

    def failed(self, error: UpstreamError) -> None:
        if self._on_error is not None:
            self._on_error(error)

    async def _send(
        self, method: str, head: bytes, body: bytes | AsyncIterable[bytes] | None, length: int | None
    ) -> UpstreamResponse:
        if self.closed:
            raise UpstreamConnectionError("the upstream client is closed")
        connection = self._pooled()
        if connection is not None:
            try:
                return await self._exchange(connection, method, head, body, length)
            except UpstreamConnectionError:
                replayable = method in _IDEMPOTENT and (body is None or isinstance(body, bytes))
                if not (replayable and connection.received == 0):
                    raise
                # A kept-alive connection the upstream had closed just as it was picked: once
                # more on a new one, as aiohttp and browsers do.
        connection = await self._connect()
        return await self._exchange(connection, method, head, body, length)

    async def _exchange(
        self, connection: UpstreamConnection, method: str, head: bytes,
        body: bytes | AsyncIterable[bytes] | None, length: int | None,
    ) -> UpstreamResponse:
        try:
            connection.start(head_only=method == "HEAD")
            transport = connection.transport
            assert transport is not None
            if body is None or isinstance(body, bytes):
                transport.write(head + body if body else head)
                connection.sent = True
            else:
                transport.write(head)
                connection.sent = await self._stream(connection, body, length)
            while not connection.head_done:
                await connection.wait(self.read_timeout)
        except BaseException:
            self._discard(connection)
            raise
        return UpstreamResponse(self, connection)

    def _head(
        self, method: str, path_qs: str, headers: Mapping[str, str],
        body: bytes | AsyncIterable[bytes] | None,
    ) -> tuple[bytes, int | None]:
        """The request's head, and the length a streamed body must have (None: chunked)."""
        lines = [f"{method} {path_qs} HTTP/1.1\r\n", f"Host: {self._host_header}\r\n"]
        length: int | None = None
        # A length given with no body, or with one in hand, is not this request's: the upstream
        # would wait for bytes never sent, or read the next request on the connection as them.
        stated = body is not None and not isinstance(body, bytes)
        for name, value in headers.items():
            if name.lower() == "content-length":
                if not stated:
                    continue
                if not value.isdigit():
                    raise ValueError(f"Content-Length {value!r} is not a length")
                length = int(value)
            lines.append(f"{name}: {value}\r\n")
        if isinstance(body, bytes):
            lines.append(f"Content-Length: {len(body)}\r\n")
        elif body is not None:
            if length is None:
                lines.append("Transfer-Encoding: chunked\r\n")
        elif method not in _NO_BODY_METHODS:
            lines.append("Content-Length: 0\r\n")
        text = "".join(lines)
        # A CR or LF inside a name or value would split the request (RFC 9110 §5.5), and a space
        # in the target would end it early.
        if text.count("\n") != len(lines) or text.count("\r") != len(lines) or " " in path_qs:
            raise ValueError("CR, LF or space in an upstream request line or header")
        return (text + "\r\n").encode("utf-8", "surrogateescape"), length

    async def _stream(
        self, connection: UpstreamConnection, body: AsyncIterable[bytes], length: int | None
    ) -> bool:
        """Send the body; False when it was cut short by an early answer or a closed connection.
        With a stated length, exactly that many bytes or none past it: one more would be read
        upstream as the start of another request on this connection."""
        transport = connection.transport
        assert transport is not None
        left = length
        async for chunk in body:
            if connection.head_done or not connection.open:
                # An early answer (a refusal before the whole body) is what counts: stop sending.
                return False
            if not chunk:
                continue
            if left is None:
                transport.writelines((b"%x\r\n" % len(chunk), chunk, b"\r\n"))
            else:
                left -= len(chunk)
                if left < 0:
                    raise BodyLengthError(f"the body is longer than its Content-Length {length}")
                transport.write(chunk)
            await connection.drain(self.read_timeout)
        if left:
            raise BodyLengthError(f"the body is shorter than its Content-Length {length}")
        if left is None and connection.open:
            transport.write(b"0\r\n\r\n")
        return connection.open

    def _pooled(self) -> UpstreamConnection | None:
        """The most recently used idle connection still open and within its keep-alive time."""
        if not self._idle:
            return None
        now = time.monotonic()
        while self._idle:
            connection = self._idle.pop()
            if connection.open and now - connection.idle_since < self._keepalive:
                self._busy.add(connection)
                return connection
            connection.close()
        return None

    async def _connect(self) -> UpstreamConnection:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self._connect_timeout):
                _, connection = await loop.create_connection(
                    lambda: UpstreamConnection(loop), self._host, self._port, ssl=self._ssl,
                    server_hostname=self._host if self._tls else None,
                )
        except TimeoutError as exc:
            raise UpstreamTimeout(f"connecting to the upstream took over {self._connect_timeout}s") from exc
        except (OSError, ssl.SSLError) as exc:
            raise UpstreamConnectionError(f"cannot connect to the upstream: {exc}") from exc
        self._busy.add(connection)
        return connection

    def release(self, connection: UpstreamConnection) -> None:
        self._busy.discard(connection)
        reusable = connection.complete and connection.keep_alive and connection.sent and connection.open
        if not reusable or self.closed:
            connection.close()
            return
        connection.in_flight = False
        connection.idle_since = time.monotonic()
        self._idle.append(connection)
        # The oldest idle connection goes once it has idled past the keep-alive time, so the
        # pool shrinks back after a burst without a timer of its own.
        oldest = self._idle[0]
        if connection.idle_since - oldest.idle_since >= self._keepalive:
            self._idle.popleft().close()

    def _discard(self, connection: UpstreamConnection) -> None:
        self._busy.discard(connection)
        connection.close()

    async def close(self) -> None:
        self.closed = True
        for connection in (*self._idle, *self._busy):
            connection.close()
        self._idle.clear()
        self._busy.clear()
