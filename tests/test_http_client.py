"""HTTPClient (and the UpstreamConnection under it) against real servers on 127.0.0.1: raw
asyncio servers that send exact bytes (so the framing is ours to choose), and aiohttp for one
end-to-end round trip."""

from __future__ import annotations

import asyncio
import enum
import hashlib
import socket
import ssl
import struct
import subprocess
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvloop
from aiohttp import web
from multidict import CIMultiDict
from pytest_aiohttp import AiohttpServer

from gateway.http_client import BodyLengthError, HTTPClient
from gateway.upstream_connection import (
    HIGH_WATER,
    UpstreamConnectionError,
    UpstreamError,
    UpstreamProtocolError,
    UpstreamTimeout,
)

HOST = "127.0.0.1"
MIB = 1024 * 1024
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
# Answers whose body is cut after "hello": short of its length, and one that runs until close.
SHORT = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello"
UNTIL_CLOSE = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nhello"

Body = bytes | AsyncIterable[bytes] | None


# What the servers saw ---------------------------------------------------------------------------


@dataclass
class Request:
    """One request as a server read it off the wire: the head verbatim, the body de-chunked."""

    head: bytes
    body: bytes = b""
    raw_body: bytes = b""

    @property
    def headers(self) -> list[tuple[str, str]]:
        lines = self.head.decode("latin-1").split("\r\n")[1:-2]
        return [(name, value.strip()) for name, _, value in (line.partition(":") for line in lines)]

    def header(self, name: str) -> str:
        return next((v for n, v in self.headers if n.lower() == name), "")

    @property
    def framing(self) -> list[tuple[str, str]]:
        return [(n, v) for n, v in self.headers if n.lower() in ("content-length", "transfer-encoding")]


async def read_chunked(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """A chunked body (no trailers) off the wire: (de-chunked, as sent)."""
    body = raw = b""
    while True:
        line = await reader.readuntil(b"\r\n")
        size = int(line.split(b";")[0], 16)
        data = await reader.readexactly(size + 2)
        if data[-2:] != b"\r\n":
            raise ValueError(f"chunk of {size} bytes not followed by CRLF: {data[-2:]!r}")
        body, raw = body + data[:-2], raw + line + data
        if size == 0:
            return body, raw


class Act(enum.Enum):
    """Steps of a script besides bytes to send and seconds to wait."""

    NEXT = "read the next request"
    RESET = "reset the connection (RST, not FIN)"


NEXT, RESET = Act.NEXT, Act.RESET
Step = bytes | float | Act


@dataclass
class Peer:
    """One accepted connection, numbered from 0 in the order the server accepted them."""

    server: RawServer
    index: int
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    async def read_head(self) -> Request | None:
        """The next request head, or None when the client closed between requests."""
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            if exc.partial:
                raise
            return None
        request = Request(head)
        self.server.requests.append(request)
        return request

    async def read_request(self) -> Request | None:
        request = await self.read_head()
        if request is None:
            return None
        if "chunked" in request.header("transfer-encoding"):
            request.body, request.raw_body = await read_chunked(self.reader)
        else:
            length = int(request.header("content-length") or 0)
            request.body = request.raw_body = await self.reader.readexactly(length)
        return request

    async def play(self, *steps: Step) -> None:
        """Send bytes (drained), wait seconds, read the next request or reset, in order."""
        for step in steps:
            if isinstance(step, bytes):
                self.writer.write(step)
                await self.writer.drain()
            elif step is Act.NEXT:
                await self.read_request()
            elif step is Act.RESET:
                sock = self.writer.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.writer.transport.abort()
            else:
                await asyncio.sleep(step)


Handler = Callable[[Peer], Awaitable[None]]


class RawServer:
    """An asyncio server on 127.0.0.1 running `handler` for each connection; it counts the
    connections and keeps every request it read."""

    def __init__(self, handler: Handler, ssl_context: ssl.SSLContext | None = None) -> None:
        self._handler = handler
        self._ssl = ssl_context
        self._tasks: set[asyncio.Task[None]] = set()
        self.accepted = 0
        self.requests: list[Request] = []
        self.leftovers: list[bytes] = []
        self.port = 0

    @property
    def url(self) -> str:
        return f"{'https' if self._ssl else 'http'}://{HOST}:{self.port}"

    async def start(self) -> RawServer:
        self._server = await asyncio.start_server(self._run, HOST, 0, ssl=self._ssl)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def _run(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        peer = Peer(self, self.accepted, reader, writer)
        self.accepted += 1
        try:
            await self._handler(peer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away mid-request: what some tests provoke
        except asyncio.CancelledError:
            pass  # close() ended a handler still waiting; asyncio logs a cancelled callback task
        finally:
            writer.close()
            self._tasks.discard(task)

    async def finished(self) -> None:
        """Until every connection's handler has returned."""
        async with asyncio.timeout(2):
            await asyncio.gather(*self._tasks)

    async def close(self) -> None:
        self._server.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()


# Server behaviours ------------------------------------------------------------------------------


def answer(reply: bytes, delay: float = 0.0) -> Handler:
    """Every request on every connection gets `reply` after `delay`; connections stay open."""

    async def handle(peer: Peer) -> None:
        while await peer.read_request() is not None:
            await peer.play(delay, reply)

    return handle


def scripted(*steps: Step) -> Handler:
    """The first connection reads a request, plays `steps` and closes; later ones answer OK."""

    async def handle(peer: Peer) -> None:
        if peer.index > 0:
            await answer(OK)(peer)
            return
        await peer.read_request()
        await peer.play(*steps)

    return handle


async def swallow(peer: Peer) -> None:
    """Keeps whatever the client sends, until it closes."""
    peer.server.leftovers.append(await peer.reader.read())


def block(index: int) -> bytes:
    """1 MiB that differs from every other block, so a lost or repeated block shows in a hash."""
    return hashlib.sha256(b"%d" % index).digest() * (MIB // 32)


@dataclass
class Flood:
    """Answers one request with `blocks` MiB, honouring drain(), and remembers how far it got."""

    blocks: int
    written: int = 0
    writer: asyncio.StreamWriter | None = None

    async def __call__(self, peer: Peer) -> None:
        await peer.read_request()
        self.writer = peer.writer
        await peer.play(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (self.blocks * MIB), 0.01)
        for index in range(self.blocks):
            peer.writer.write(block(index))
            self.written += MIB
            await peer.writer.drain()


@dataclass
class Upload:
    """An async-iterable request body of `pieces` pieces that counts how many were taken, and
    raises `error` after the last one when given."""

    pieces: int
    size: int = 64 * 1024
    error: Exception | None = None
    taken: int = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for _ in range(self.pieces):
            self.taken += 1
            yield b"u" * self.size
        if self.error is not None:
            raise self.error


async def pieces(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


# Fixtures ---------------------------------------------------------------------------------------


class Rig:
    """Starts servers and clients for a test and closes them all after it."""

    def __init__(self) -> None:
        self._servers: list[RawServer] = []
        self._clients: list[HTTPClient] = []

    async def serve(self, handler: Handler, ssl_context: ssl.SSLContext | None = None) -> RawServer:
        server = await RawServer(handler, ssl_context).start()
        self._servers.append(server)
        return server

    def client(
        self, url: str, *, connect_timeout: float = 1.0, read_timeout: float = 1.0,
        keepalive_timeout: float = 30.0, ssl_context: ssl.SSLContext | None = None,
        on_error: Callable[[UpstreamError], None] | None = None,
    ) -> HTTPClient:
        client = HTTPClient(
            url, connect_timeout=connect_timeout, read_timeout=read_timeout,
            keepalive_timeout=keepalive_timeout, ssl_context=ssl_context, on_error=on_error,
        )
        self._clients.append(client)
        return client

    async def pair(
        self, handler: Handler, *, read_timeout: float = 1.0, keepalive_timeout: float = 30.0,
        on_error: Callable[[UpstreamError], None] | None = None,
    ) -> tuple[RawServer, HTTPClient]:
        server = await self.serve(handler)
        return server, self.client(
            server.url, read_timeout=read_timeout, keepalive_timeout=keepalive_timeout,
            on_error=on_error,
        )

    async def close(self) -> None:
        for client in self._clients:
            await client.close()
        for server in self._servers:
            await server.close()


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    running = Rig()
    yield running
    await running.close()


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key."""
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "c.pem", directory / "k.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-days", "1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    return cert, key


async def get(client: HTTPClient, path: str = "/") -> bytes:
    """GET `path` and read the whole body."""
    async with await client.request("GET", path, {}) as response:
        return await response.read()


async def read_with(response_reader: str, client: HTTPClient, method: str = "GET") -> tuple[int, bytes]:
    """One request whose body is read with read() or joined from iter_chunks()."""
    async with await client.request(method, "/", {}) as response:
        if response_reader == "read":
            return response.status, await response.read()
        return response.status, b"".join([chunk async for chunk in response.iter_chunks()])


# Answers ----------------------------------------------------------------------------------------

BIG = bytes(range(256)) * 1200  # 300 KiB: more than one socket read, more than MAX_HEAD


@pytest.mark.parametrize("reader", ["read", "iter_chunks"])
@pytest.mark.parametrize(
    ("reply", "status", "body"),
    [
        pytest.param(b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world", 200, b"hello world",
                     id="content-length"),
        pytest.param(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(BIG), BIG), 200, BIG,
                     id="300 KiB sent in one write with its head"),
        pytest.param(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 200, b"", id="empty body"),
        pytest.param(b"HTTP/1.1 204 No Content\r\n\r\n", 204, b"", id="204"),
        pytest.param(b'HTTP/1.1 304 Not Modified\r\nETag: "v1"\r\nContent-Length: 5\r\n\r\n', 304, b"",
                     id="304 with the representation's Content-Length"),
        pytest.param(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                     b"5\r\nhello\r\n1\r\n \r\nA\r\nworld, etc\r\n0\r\n\r\n", 200, b"hello world, etc",
                     id="chunked"),
        pytest.param(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                     b'5;name=value\r\nhello\r\n6;a;b="q r"\r\n world\r\n0;last\r\n\r\n', 200, b"hello world",
                     id="chunk extensions"),
        pytest.param(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n"
                     b"5\r\nhello\r\n0\r\nX-Sum: abc\r\nX-Other: 1\r\n\r\n", 200, b"hello",
                     id="chunked with trailers"),
    ],
)
async def test_answer_bodies_arrive_exactly_and_the_connection_carries_the_next(
    rig: Rig, reader: str, reply: bytes, status: int, body: bytes
) -> None:
    """Each framing gives its body byte for byte and ends exactly, so the connection carries the next."""
    server, client = await rig.pair(answer(reply))
    for _ in range(2):
        assert await read_with(reader, client) == (status, body)
    assert server.accepted == 1


async def test_head_fields_are_exposed_as_sent(rig: Rig) -> None:
    """status, reason, repeated headers and content_length are the answer's head, as sent."""
    _, client = await rig.pair(answer(
        b"HTTP/1.1 201 Made It\r\nSet-Cookie: a=1\r\nContent-Length: 2\r\nset-cookie: b=2\r\n"
        b"X-Odd: \xc3\xa9t\xc3\xa9\r\n\r\nok"
    ))
    async with await client.request("GET", "/", {}) as response:
        assert (response.status, response.reason, response.content_length) == (201, "Made It", 2)
        assert response.headers.getall("SET-COOKIE") == ["a=1", "b=2"]
        assert response.headers["x-odd"] == "été"
        assert await response.read() == b"ok"


@pytest.mark.parametrize(
    "head",
    [
        pytest.param(b"HTTP/1.0 200 OK\r\n\r\n", id="HTTP/1.0"),
        pytest.param(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", id="Connection: close"),
    ],
)
async def test_a_body_without_length_runs_until_the_server_closes(rig: Rig, head: bytes) -> None:
    """With no length and no chunks, the body runs to the close; the next request opens a connection."""
    server, client = await rig.pair(scripted(head, b"abc", 0.05, b"def", 0.05, b"ghi"))
    assert await get(client) == b"abcdefghi"
    assert await get(client) == b"ok"
    assert server.accepted == 2


# Keep-alive -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "connections"),
    [
        pytest.param(OK, 1, id="HTTP/1.1 keeps alive"),
        pytest.param(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", 2,
                     id="Connection: close is not reused"),
        pytest.param(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", 2, id="HTTP/1.0 is not reused"),
        pytest.param(b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok", 1,
                     id="HTTP/1.0 keep-alive is reused"),
    ],
)
async def test_connections_are_reused_only_when_the_answer_allows(
    rig: Rig, reply: bytes, connections: int
) -> None:
    """Two sequential requests share one connection unless the answer said it would close."""
    server, client = await rig.pair(answer(reply))
    assert [await get(client), await get(client)] == [b"ok", b"ok"]
    assert server.accepted == connections


async def test_concurrent_requests_get_a_connection_each_and_all_return_to_the_pool(rig: Rig) -> None:
    """Requests in flight together get a connection each; both connections then serve later requests."""
    server, client = await rig.pair(answer(OK, delay=0.05))
    assert list(await asyncio.gather(get(client), get(client))) == [b"ok", b"ok"]
    assert [await get(client), await get(client)] == [b"ok", b"ok"]
    assert server.accepted == 2


async def test_a_response_released_before_its_body_arrived_is_not_reused(rig: Rig) -> None:
    """Releasing an answer whose body is still coming closes its connection; the next opens another."""
    server, client = await rig.pair(scripted(SHORT, 5.0))
    response = await client.request("GET", "/", {})
    response.release()
    assert await get(client) == b"ok"
    assert server.accepted == 2


async def test_a_released_answer_whose_whole_body_arrived_unread_leaves_no_trace(rig: Rig) -> None:
    """A whole body over HIGH_WATER released unread does not stall the next answer on the connection."""
    body = b"b" * (HIGH_WATER + 100)  # HIGH_WATER - 100 bytes, then the last 200 cross it
    head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body)
    steps = (head, 0.02, body[:-200], 0.05, body[-200:], NEXT, OK, 5.0)
    _, client = await rig.pair(scripted(*steps), read_timeout=0.5)
    response = await client.request("GET", "/", {})
    await asyncio.sleep(0.15)  # the whole body is in
    response.release()
    assert await get(client) == b"ok"


@pytest.mark.parametrize(
    ("handler", "keepalive"),
    [
        pytest.param(scripted(OK + b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nextra", NEXT, OK, 5.0),
                     30.0, id="a second answer in the same write"),
        pytest.param(scripted(OK + b"\x00garbage", NEXT, OK, 5.0), 30.0, id="garbage in the same write"),
        pytest.param(scripted(OK, 0.05, b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nextra", NEXT, OK,
                              5.0), 30.0, id="a second answer while idle"),
        pytest.param(answer(OK), 0.05, id="idle past keepalive_timeout"),
        pytest.param(scripted(OK, 0.02), 30.0, id="a GET after the upstream closed it while idle"),
        pytest.param(scripted(OK, NEXT), 30.0, id="a GET the upstream closes it on, unanswered"),
    ],
)
async def test_a_connection_that_cannot_carry_the_next_request_is_replaced(
    rig: Rig, handler: Handler, keepalive: float
) -> None:
    """The next GET goes on a new connection, and gets its own answer, when the first one cannot
    carry it: bytes nobody asked for came on it (they are not part of the answer before them),
    it idled too long, or the upstream closed it (the GET goes again once on a fresh one)."""
    server, client = await rig.pair(handler, keepalive_timeout=keepalive)
    assert await get(client) == b"ok"
    await asyncio.sleep(0.1)
    assert await get(client) == b"ok"
    assert server.accepted == 2


async def test_a_post_on_a_connection_closed_under_it_is_not_sent_again(rig: Rig) -> None:
    """A POST whose connection closed unanswered raises UpstreamConnectionError and is not resent."""
    server, client = await rig.pair(scripted(OK, NEXT))
    assert await get(client) == b"ok"
    with pytest.raises(UpstreamConnectionError):
        await client.request("POST", "/charge", {}, b"pay once")
    assert server.accepted == 1
    assert [r.body for r in server.requests] == [b"", b"pay once"]


async def test_on_error_hears_of_each_failure_a_caller_is_given_once(rig: Rig) -> None:
    """A GET retried on a fresh connection after the pooled one closed is no failure; a POST
    the closed connection loses is one; a body that stalls mid-way is one more, heard as it is
    raised to the reader."""
    heard: list[UpstreamError] = []
    server, client = await rig.pair(scripted(OK, NEXT), on_error=heard.append)
    assert await get(client) == b"ok"
    await asyncio.sleep(0.1)
    assert await get(client) == b"ok"  # the first connection closed under it: sent again
    assert heard == [] and server.accepted == 2
    _, poster = await rig.pair(scripted(OK, NEXT), on_error=heard.append)
    assert await get(poster) == b"ok"
    with pytest.raises(UpstreamConnectionError) as lost:
        await poster.request("POST", "/charge", {}, b"pay once")
    assert heard == [lost.value]
    _, reader = await rig.pair(scripted(SHORT, 5.0), read_timeout=0.2, on_error=heard.append)
    response = await reader.request("GET", "/", {})
    with pytest.raises(UpstreamTimeout) as stalled:
        await response.read()
    assert heard == [lost.value, stalled.value]


# Interim answers and HEAD -----------------------------------------------------------------------

FINAL = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Final: 1\r\n\r\nfinal"


@pytest.mark.parametrize(
    "handler",
    [
        pytest.param(answer(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\n"
                            b"Link: </a.css>; rel=preload\r\n\r\n" + FINAL), id="in one write"),
        pytest.param(scripted(b"HTTP/1.1 100 Continue\r\n\r\n", 0.05, FINAL, 5.0), id="apart"),
    ],
)
async def test_interim_answers_are_skipped(rig: Rig, handler: Handler) -> None:
    """100 Continue and 103 Early Hints before the answer are skipped, their headers with them."""
    _, client = await rig.pair(handler)
    async with await client.request("POST", "/", {"Expect": "100-continue"}, b"data") as response:
        assert response.status == 200
        assert "link" not in response.headers and response.headers["x-final"] == "1"
        assert await response.read() == b"final"


async def test_a_head_answer_with_a_length_has_no_body_and_is_not_reused(rig: Rig) -> None:
    """A HEAD answer's Content-Length announces no body: read() gives b"" at once; no reuse."""
    server, client = await rig.pair(scripted(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", 5.0))
    async with asyncio.timeout(0.5):
        status, body = await read_with("read", client, "HEAD")
    assert (status, body) == (200, b"")
    assert await get(client) == b"ok"
    assert server.accepted == 2


# The request on the wire ------------------------------------------------------------------------


async def test_a_get_goes_out_as_the_request_line_host_and_the_callers_headers_only(rig: Rig) -> None:
    """A GET is its request line, Host with port, the caller's headers in order, and nothing else."""
    server, client = await rig.pair(answer(OK))
    headers = CIMultiDict([("X-Tag", "a"), ("authorization", "Bearer k"), ("X-Tag", "b")])
    async with await client.request("GET", "/v1/files?limit=2&after=f%20x", headers) as response:
        assert await response.read() == b"ok"
    assert server.requests[0].head == (
        f"GET /v1/files?limit=2&after=f%20x HTTP/1.1\r\nHost: {HOST}:{server.port}\r\n"
        "X-Tag: a\r\nauthorization: Bearer k\r\nX-Tag: b\r\n\r\n"
    ).encode()


@pytest.mark.parametrize(
    ("method", "make_body", "headers", "framing", "raw_body"),
    [
        pytest.param("POST", lambda: b"hello", {}, [("Content-Length", "5")], b"hello",
                     id="bytes get their Content-Length"),
        pytest.param("POST", lambda: b"hello", {"content-length": "99"}, [("Content-Length", "5")], b"hello",
                     id="the caller's wrong Content-Length is replaced"),
        pytest.param("POST", lambda: pieces(b"hel", b"", b"lo world"), {}, [("Transfer-Encoding", "chunked")],
                     b"3\r\nhel\r\n8\r\nlo world\r\n0\r\n\r\n",
                     id="an iterable is chunked, empty pieces skipped"),
        pytest.param("PUT", lambda: pieces(b"hel", b"lo"), {"Content-Length": "5"}, [("Content-Length", "5")],
                     b"hello", id="an iterable with a Content-Length goes unchunked"),
        pytest.param("POST", lambda: None, {}, [("Content-Length", "0")], b"", id="a bodiless POST"),
        pytest.param("DELETE", lambda: None, {}, [("Content-Length", "0")], b"", id="a bodiless DELETE"),
        pytest.param("GET", lambda: None, {}, [], b"", id="a GET says nothing of a body"),
        pytest.param("GET", lambda: None, {"Content-Length": "40"}, [], b"",
                     id="nor does a GET given a length and no body"),
        pytest.param("POST", lambda: None, {"Content-Length": "40"}, [("Content-Length", "0")], b"",
                     id="a bodiless POST given a length says 0"),
    ],
)
async def test_request_bodies_are_framed_on_the_wire(
    rig: Rig, method: str, make_body: Callable[[], Body], headers: Mapping[str, str],
    framing: list[tuple[str, str]], raw_body: bytes,
) -> None:
    """The client frames each kind of request body as HTTP/1.1 asks, and the server reads it whole."""
    server, client = await rig.pair(answer(OK))
    async with await client.request(method, "/", headers, make_body()) as response:
        assert await response.read() == b"ok"
    sent = server.requests[0]
    assert (sent.framing, sent.raw_body) == (framing, raw_body)
    assert sent.head.startswith(f"{method} / HTTP/1.1\r\nHost: ".encode())
    assert {name.lower() for name, _ in sent.headers} <= {"host", "content-length", "transfer-encoding"}


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        pytest.param("/", {"X-A": "1\r\nX-Injected: 1"}, id="CRLF in a value"),
        pytest.param("/", {"X-A": "1\nX-Injected: 1"}, id="LF in a value"),
        pytest.param("/", {"X-A": "1\rX"}, id="CR in a value"),
        pytest.param("/", {"X-A\r\nX-Injected": "1"}, id="CRLF in a name"),
        pytest.param("/a HTTP/1.1\r\nX-Injected: 1\r\nX:", {}, id="CRLF in the path"),
        pytest.param("/a\n", {}, id="LF in the path"),
        pytest.param("/a b", {}, id="a space in the path"),
    ],
)
async def test_cr_lf_or_space_that_would_split_the_request_is_refused_before_anything_is_sent(
    rig: Rig, path: str, headers: dict[str, str]
) -> None:
    """A CR, LF or space that would split the request raises ValueError, and no byte reaches the
    server."""
    server, client = await rig.pair(swallow)
    with pytest.raises(ValueError, match="CR, LF or space"):
        await client.request("GET", path, headers)
    await client.close()
    await server.finished()
    assert b"".join(server.leftovers) == b""


# Failures ---------------------------------------------------------------------------------------


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


async def test_nothing_listening_is_a_connection_error(rig: Rig) -> None:
    """Connecting to a port nobody listens on raises UpstreamConnectionError."""
    client = rig.client(f"http://{HOST}:{unused_port()}")
    with pytest.raises(UpstreamConnectionError):
        await client.request("GET", "/", {})


async def test_a_connect_over_connect_timeout_is_a_timeout(rig: Rig) -> None:
    """A connection not made within connect_timeout (0: none is that quick) raises UpstreamTimeout."""
    server = await rig.serve(answer(OK))
    client = rig.client(server.url, connect_timeout=0)
    with pytest.raises(UpstreamTimeout):
        await client.request("GET", "/", {})


async def test_an_upstream_that_never_answers_times_out_after_read_timeout(rig: Rig) -> None:
    """No answer within read_timeout raises UpstreamTimeout, which is also a TimeoutError."""
    _, client = await rig.pair(scripted(5.0), read_timeout=0.2)
    started = time.monotonic()
    with pytest.raises(UpstreamTimeout) as caught:
        await client.request("GET", "/", {})
    assert isinstance(caught.value, TimeoutError)
    assert 0.19 <= time.monotonic() - started < 0.6


@pytest.mark.parametrize(
    ("reader", "steps"),
    [
        pytest.param("read", (SHORT, 5.0), id="content-length"),
        pytest.param("iter_chunks", (SHORT, 5.0), id="content-length, iter_chunks"),
        pytest.param("read", (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", 5.0),
                     id="chunked"),
        pytest.param("read", (UNTIL_CLOSE, 5.0), id="until close"),
    ],
)
async def test_an_upstream_that_stalls_mid_body_times_out(
    rig: Rig, reader: str, steps: tuple[Step, ...]
) -> None:
    """A body that stops coming for read_timeout raises UpstreamTimeout, never gives a short body."""
    _, client = await rig.pair(scripted(*steps), read_timeout=0.2)
    with pytest.raises(UpstreamTimeout):
        await read_with(reader, client)


async def test_read_timeout_bounds_each_wait_not_the_whole_body(rig: Rig) -> None:
    """A body that keeps coming, each piece within read_timeout, is read whole however long it takes."""
    _, client = await rig.pair(scripted(
        b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\na", 0.1, b"b", 0.1, b"c", 0.1, b"d"
    ), read_timeout=0.2)
    assert await get(client) == b"abcd"


@pytest.mark.parametrize(
    "reply",
    [
        pytest.param(SHORT, id="short of Content-Length"),
        pytest.param(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", id="mid-chunk"),
        pytest.param(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
                     id="before the last chunk"),
    ],
)
async def test_a_close_mid_body_is_a_connection_error(rig: Rig, reply: bytes) -> None:
    """A server that closes before the body's end makes read() raise UpstreamConnectionError."""
    _, client = await rig.pair(scripted(reply))
    response = await client.request("GET", "/", {})
    with pytest.raises(UpstreamConnectionError):
        await response.read()


CUT_FRAMINGS = [pytest.param(SHORT, id="content-length"), pytest.param(UNTIL_CLOSE, id="until close")]


@pytest.mark.parametrize("reply", CUT_FRAMINGS)
async def test_a_reset_mid_body_is_a_connection_error(rig: Rig, reply: bytes) -> None:
    """A reset mid-body raises UpstreamConnectionError, even for a body that runs until the close."""
    _, client = await rig.pair(scripted(reply, 0.05, RESET))
    response = await client.request("GET", "/", {})
    with pytest.raises(UpstreamConnectionError):
        await response.read()


@pytest.mark.parametrize("reply", CUT_FRAMINGS)
async def test_closing_the_client_mid_body_is_a_connection_error(rig: Rig, reply: bytes) -> None:
    """close() during a body's read makes it raise UpstreamConnectionError, never give a short body."""
    _, client = await rig.pair(scripted(reply, 5.0))
    response = await client.request("GET", "/", {})

    async def close_soon() -> None:
        await asyncio.sleep(0.05)
        await client.close()

    closing = asyncio.create_task(close_soon())
    with pytest.raises(UpstreamConnectionError):
        await response.read()
    await closing


PAD = b"X-Pad: " + b"a" * (16 * 1024) + b"\r\n"


@pytest.mark.parametrize(
    "steps",
    [
        pytest.param((b"SMTP ready\r\n\r\n",), id="garbage status line"),
        pytest.param((b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n",),
                     id="bad chunk size"),
        pytest.param((b"HTTP/1.1 200 OK\r\nContent-Length: ten\r\n\r\n",), id="non-numeric Content-Length"),
        pytest.param((b"HTTP/1.1 200 OK\r\n" + PAD * 5 + b"Content-Length: 0\r\n\r\n",),
                     id="an 80 KiB head in one write"),
        pytest.param((b"HTTP/1.1 200 OK\r\n", *(step for _ in range(6) for step in (PAD, 0.01))),
                     id="a head that never ends, in 16 KiB pieces"),
    ],
)
async def test_malformed_answers_are_protocol_errors(rig: Rig, steps: tuple[Step, ...]) -> None:
    """An answer that breaks HTTP/1.1, or whose head is over 64 KiB, raises UpstreamProtocolError."""
    _, client = await rig.pair(scripted(*steps, 5.0))
    with pytest.raises(UpstreamProtocolError):
        await get(client)


# Streamed uploads -------------------------------------------------------------------------------


def refusing(delay: float) -> Handler:
    """Reads the head only, waits `delay`, answers 413 and closes, as a server does with an
    upload too large; the unread body makes the close a reset."""

    async def handle(peer: Peer) -> None:
        await peer.read_head()
        await peer.play(delay, b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 8\r\n\r\ntoo big!")

    return handle


@pytest.mark.parametrize(
    "delay",
    [pytest.param(0.0, id="at once"), pytest.param(0.1, id="once the client is held back")],
)
async def test_an_early_answer_ends_a_streamed_upload(rig: Rig, delay: float) -> None:
    """A 413 sent before the upload's end is returned, readable, without taking the rest of the body."""
    _, client = await rig.pair(refusing(delay))
    upload = Upload(pieces=1024)  # 64 MiB
    async with asyncio.timeout(3):
        response = await client.request("POST", "/upload", {}, upload)
        assert (response.status, await response.read()) == (413, b"too big!")
    assert upload.taken < upload.pieces


async def test_an_upstream_that_stops_reading_an_upload_times_out_after_read_timeout(rig: Rig) -> None:
    """An upstream that takes nothing more of a body, and does not answer, raises UpstreamTimeout
    once read_timeout passes with nothing taken; the connection is not reused."""
    read_heads: list[Request] = []

    async def stop_reading(peer: Peer) -> None:
        request = await peer.read_head()
        if request is not None and request.head.startswith(b"POST"):
            read_heads.append(request)
            await asyncio.sleep(5.0)  # the body stays in the socket buffers: the client is held back
            return
        await peer.play(OK)

    server, client = await rig.pair(stop_reading, read_timeout=0.3)
    upload = Upload(pieces=1024)  # 64 MiB: far more than the socket buffers hold
    started = time.monotonic()
    with pytest.raises(UpstreamTimeout):
        await client.request("POST", "/upload", {}, upload)
    assert 0.29 <= time.monotonic() - started < 2.0
    assert len(read_heads) == 1 and upload.taken < upload.pieces
    assert await get(client) == b"ok"
    assert server.accepted == 2


async def test_an_error_in_the_body_iterable_propagates_and_the_connection_is_dropped(rig: Rig) -> None:
    """The body iterable's exception leaves request() as it is, and its connection is not reused."""
    server, client = await rig.pair(answer(OK))
    assert await get(client) == b"ok"
    error = ValueError("the source file vanished")
    with pytest.raises(ValueError) as caught:
        await client.request("POST", "/", {}, Upload(pieces=2, error=error))
    assert caught.value is error
    assert await get(client) == b"ok"
    assert server.accepted == 2


@pytest.mark.parametrize("stated", [b"hello worl", b"hello world!"], ids=["longer", "shorter"])
async def test_a_streamed_body_that_is_not_its_stated_length_is_never_sent_whole(
    rig: Rig, stated: bytes
) -> None:
    """A byte past the stated length would be read upstream as the next request's first: the
    request fails (BodyLengthError) before a byte past the length is written (the longer body's
    last piece is not), and its connection is replaced."""
    server, client = await rig.pair(answer(OK))
    assert await get(client) == b"ok"
    with pytest.raises(BodyLengthError):
        await client.request("POST", "/", {"Content-Length": str(len(stated))},
                             pieces(b"hello ", b"world"))
    assert await get(client) == b"ok"
    assert server.accepted == 2


async def test_a_large_answer_read_slowly_holds_the_server_back_and_arrives_whole(rig: Rig) -> None:
    """While nobody reads, the server's drain() blocks; then all 64 MiB arrive exactly."""
    flood = Flood(blocks=64)
    _, client = await rig.pair(flood)
    response = await client.request("GET", "/big", {})
    await asyncio.sleep(0.15)
    held = flood.written
    await asyncio.sleep(0.1)
    assert flood.written == held < flood.blocks * MIB
    assert flood.writer is not None and flood.writer.transport.get_write_buffer_size() > 0
    expected, received, size = hashlib.sha256(), hashlib.sha256(), 0
    for index in range(flood.blocks):
        expected.update(block(index))
    async for chunk in response.iter_chunks():
        received.update(chunk)
        size += len(chunk)
        if size < 4 * MIB:
            await asyncio.sleep(0.001)  # a slow reader at first
    assert size == flood.blocks * MIB
    assert received.hexdigest() == expected.hexdigest()


async def test_aiohttp_reads_a_chunked_upload_and_serves_a_chunked_download(
    aiohttp_server: AiohttpServer, rig: Rig
) -> None:
    """aiohttp reads a 3 MiB chunked upload and streams 3 MiB back, exactly, on one connection."""
    peers: list[object] = []

    async def upload(request: web.Request) -> web.Response:
        assert request.transport is not None
        peers.append(request.transport.get_extra_info("peername"))
        digest = hashlib.sha256()
        async for chunk in request.content.iter_chunked(64 * 1024):
            digest.update(chunk)
        return web.Response(text=f"{request.headers.get('Transfer-Encoding')} {digest.hexdigest()}")

    async def download(request: web.Request) -> web.StreamResponse:
        assert request.transport is not None
        peers.append(request.transport.get_extra_info("peername"))
        out = web.StreamResponse()
        await out.prepare(request)
        for index in range(3):
            await out.write(block(index))
        await out.write_eof()
        return out

    app = web.Application()
    app.router.add_post("/up", upload)
    app.router.add_get("/down", download)
    server = await aiohttp_server(app)
    client = rig.client(f"http://{HOST}:{server.port}")
    async with await client.request("POST", "/up", {}, Upload(pieces=48)) as response:
        assert await response.read() == f"chunked {hashlib.sha256(b'u' * 3 * MIB).hexdigest()}".encode()
    async with await client.request("GET", "/down", {}) as response:
        assert response.headers["Transfer-Encoding"] == "chunked"
        assert await response.read() == block(0) + block(1) + block(2)
    assert len(peers) == 2 and peers[0] == peers[1]


# TLS and closing --------------------------------------------------------------------------------


async def tls_server(rig: Rig, certificate: tuple[Path, Path]) -> RawServer:
    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return await rig.serve(answer(OK), ssl_context=context)


async def test_https_works_with_the_given_trust(rig: Rig, certificate: tuple[Path, Path]) -> None:
    """An https upstream whose certificate the given SSL context trusts answers, kept alive."""
    server = await tls_server(rig, certificate)
    client = rig.client(server.url, ssl_context=ssl.create_default_context(cafile=certificate[0]))
    assert [await get(client), await get(client)] == [b"ok", b"ok"]
    assert server.accepted == 1


async def test_https_with_an_untrusted_certificate_is_a_connection_error(
    rig: Rig, certificate: tuple[Path, Path]
) -> None:
    """With the default trust, a self-signed upstream is refused with UpstreamConnectionError."""
    server = await tls_server(rig, certificate)
    client = rig.client(server.url)
    with pytest.raises(UpstreamConnectionError):
        await client.request("GET", "/", {})
    assert server.requests == []


async def test_a_closed_client_refuses_requests_and_closes_its_pool(rig: Rig) -> None:
    """After close(), closed is True, the pool's connection is closed and request() raises."""
    server, client = await rig.pair(answer(OK))
    assert await get(client) == b"ok"
    await client.close()
    assert client.closed
    await server.finished()  # the server's handler saw the pooled connection end
    with pytest.raises(UpstreamConnectionError):
        await client.request("GET", "/", {})
    assert server.accepted == 1


def test_errors_form_one_family() -> None:
    """Every client error is an UpstreamError; only the timeout is also a TimeoutError."""
    for error in (UpstreamConnectionError, UpstreamProtocolError, UpstreamTimeout):
        assert issubclass(error, UpstreamError)
    assert issubclass(UpstreamTimeout, TimeoutError)
    assert not issubclass(UpstreamConnectionError, TimeoutError)


def test_two_requests_share_a_connection_under_uvloop() -> None:
    """Under uvloop's event loop (`serve --event-loop uvloop`), whose transports are not asyncio's own
    classes, answers arrive and the connection is kept for the next request."""

    async def main() -> tuple[list[bytes], int]:
        accepted = 0

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal accepted
            accepted += 1
            while await reader.readuntil(b"\r\n\r\n"):
                writer.write(OK)

        server = await asyncio.start_server(handle, HOST, 0)
        client = HTTPClient(f"http://{HOST}:{server.sockets[0].getsockname()[1]}",
                            connect_timeout=1.0, read_timeout=1.0)
        bodies = []
        for _ in range(2):
            async with await client.request("GET", "/", {}) as response:
                bodies.append(await response.read())
        await client.close()
        server.close()
        return bodies, accepted

    assert uvloop.run(main()) == ([b"ok", b"ok"], 1)
