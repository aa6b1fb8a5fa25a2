"""One upstream connection: an asyncio protocol that feeds llhttp (httptools) and holds the
answer being read, with the errors the upstream client raises.

gateway/http_client.py pools these and hands their answers out; this module knows nothing of
pools or requests beyond "an answer is expected now".
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import cast

import httptools
from multidict import CIMultiDict

# Reading stops while this much of a body waits for its reader, so memory stays flat however
# large the file and however slow the client downstream.
HIGH_WATER = 1024 * 1024
MAX_HEAD = 64 * 1024


class UpstreamError(Exception):
    """The upstream could not be reached or answered something that is not HTTP/1.1."""


class UpstreamConnectionError(UpstreamError):
    """Connecting failed, or the connection closed before the answer was complete."""


class UpstreamProtocolError(UpstreamError):
    """The answer broke HTTP/1.1 framing."""


class UpstreamTimeout(UpstreamError, TimeoutError):
    """Connecting, waiting for the next bytes of an answer, or for the upstream to take more of
    a request body, took longer than allowed."""


class UpstreamConnection(asyncio.Protocol):
    """One upstream connection and the answer now being read from it."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self.open = False
        self.closed_here = False
        self.idle_since = 0.0
        self._writable: asyncio.Future[None] | None = None
        self._waiter: asyncio.Future[None] | None = None
        self.chunks: deque[bytes] = deque()
        self._header_list: list[tuple[str, str]] = []
        self.headers: CIMultiDict[str] = CIMultiDict()
        self.status = 0
        self.reason = ""
        self._paused = False
        self.start(head_only=False)
        self.in_flight = False

    def start(self, *, head_only: bool) -> None:
        """Ready for the answer to the request about to be sent."""
        self.head_only = head_only
        self.in_flight = True
        self.sent = False  # the whole request went out; only then may the connection be reused
        self.received = 0
        self.head_done = False
        self.complete = False
        self.keep_alive = False
        self.error: BaseException | None = None
        self.head_bytes = 0
        self.chunks.clear()
        self.buffered = 0
        if self._paused and self.transport is not None:
            self.transport.resume_reading()  # an earlier answer left unread had paused it
        self._paused = False

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A cast, not an isinstance check: uvloop's transports do not derive from asyncio's.
        self.transport = cast(asyncio.Transport, transport)
        self.open = True

    def connection_lost(self, exc: Exception | None) -> None:
        self.open = False
        self._writable_again()  # drain() sees the connection closed
        if not self.in_flight or self.complete or self.error is not None:
            return
        if self.head_done and exc is None and not self.closed_here and self._close_delimited():
            # A body with neither a length nor chunks ends where the upstream closes cleanly
            # (RFC 9112 §6.3); a reset, or a close of our own, cuts it short.
            self.complete = True
        else:
            self.error = UpstreamConnectionError("upstream closed the connection mid-answer")
        self._wake()

    def pause_writing(self) -> None:
        self._writable = self._loop.create_future()

    def resume_writing(self) -> None:
        self._writable_again()
        self._writable = None

    def data_received(self, data: bytes) -> None:
        if not self.in_flight or self.complete:
            # Bytes no request asked for: this connection can no longer be trusted.
            self.close()
            return
        self.received += len(data)
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            if self.complete:
                self.keep_alive = False  # garbage after a whole answer: not reused
            else:
                self._fail(UpstreamProtocolError(f"upstream answer is not HTTP/1.1: {exc}"))
            return
        if not self.head_done and self.received > MAX_HEAD:
            # A head still unfinished after this many bytes, over several reads.
            self._fail(UpstreamProtocolError("upstream answer head is over 64 KiB"))

    # httptools callbacks

    def on_message_begin(self) -> None:
        if self.complete:
            # A second answer behind the whole first one, in the same read: nobody asked for it.
            raise UpstreamProtocolError("bytes after a complete answer")

    def on_status(self, reason: bytes) -> None:
        self.reason = reason.decode("latin-1")

    def on_header(self, name: bytes, value: bytes) -> None:
        self.head_bytes += len(name) + len(value)
        self._header_list.append(
            (name.decode("latin-1"), value.decode("utf-8", "surrogateescape"))
        )

    def on_headers_complete(self) -> None:
        if self.head_bytes > MAX_HEAD:
            # llhttp sets no limit of its own; a head that came in one read is counted here.
            raise UpstreamProtocolError("upstream answer head is over 64 KiB")
        status = self._parser.get_status_code()
        if 100 <= status < 200:
            self._header_list.clear()  # an interim answer (100 Continue): the real one follows
            return
        self.status = status
        self.headers = CIMultiDict(self._header_list)
        self._header_list.clear()
        self.head_done = True
        self._writable_again()  # an answer before the whole body: stop sending
        if self.head_only:
            # An answer to HEAD has no body whatever its Content-Length says; llhttp would wait
            # for one, so the connection is not reused.
            self.complete = True
        self._wake()

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)
        self.buffered += len(body)
        if self.buffered > HIGH_WATER and not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if not self.head_done:
            return  # the end of an interim answer
        if not self.complete:
            self.complete = True
            self.keep_alive = self._parser.should_keep_alive()
            self._wake()

    # used by the client and the response

    def _close_delimited(self) -> bool:
        return (
            "content-length" not in self.headers
            and "chunked" not in self.headers.get("transfer-encoding", "").lower()
        )

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _writable_again(self) -> None:
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)

    def _fail(self, error: BaseException) -> None:
        if self.error is None:
            self.error = error
        self.close()
        self._wake()

    def close(self) -> None:
        self.open = False
        self.closed_here = True
        if self.transport is not None:
            # abort, not close: close would first wait to send what is buffered, forever when
            # the upstream stopped reading, and nothing buffered matters once we let go.
            self.transport.abort()

    async def wait(self, seconds: float) -> None:
        """Until something new arrived for the answer (or it failed); UpstreamTimeout after
        `seconds` of nothing."""
        if self.error is not None:
            raise self.error
        self._waiter = self._loop.create_future()
        try:
            await self._within(self._waiter, seconds, "sent nothing")
        finally:
            self._waiter = None

    def take(self) -> list[bytes]:
        taken = list(self.chunks)
        self.chunks.clear()
        self.buffered = 0
        if self._paused and self.transport is not None:
            self._paused = False
            self.transport.resume_reading()
        return taken

    async def drain(self, seconds: float) -> None:
        """Until the upstream takes more of the request body; UpstreamTimeout after `seconds`
        in which it took nothing, so an upstream that stops reading cannot hold an upload."""
        if self._writable is not None:
            await self._within(self._writable, seconds, "read none of the request body")
        if not self.open:
            raise UpstreamConnectionError("upstream closed the connection while the body was sent")

    async def _within(self, event: asyncio.Future[None], seconds: float, what: str) -> None:
        """Until `event`; after `seconds` without it, the connection fails with UpstreamTimeout.
        Raises whatever failed the connection meanwhile."""

        def expire() -> None:
            if not event.done():
                event.set_result(None)
                self._fail(UpstreamTimeout(f"upstream {what} within the read timeout"))

        timer = self._loop.call_later(seconds, expire)
        try:
            await event
        finally:
            timer.cancel()
        if self.error is not None:
            raise self.error
