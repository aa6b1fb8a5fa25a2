"""Other /v1 routes pass through unchanged; ids in paths are validated before anything else."""

from __future__ import annotations

import socket
import socketserver
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from tests.conftest import Gateway, GatewayFactory, Sandbox
from tests.http import call

ALICE = {"Authorization": "Bearer sk-alice"}
BOB = {"Authorization": "Bearer sk-bob"}


# What a request may ask the store; the background loop's own calls (learned refusals every
# second, the reaper's due and lease, readiness pings) may land inside any test's window.
REQUEST_OPERATIONS = ("get", "get_many", "put")


def store_ops(gateway: Gateway) -> float:
    """Store operations made for requests so far."""
    return sum(
        gateway.metric("files_gateway_store_operation_duration_seconds_count", operation=operation)
        for operation in REQUEST_OPERATIONS
    )


@pytest.mark.parametrize(
    "path",
    [
        "/v1/files/file-abc%2F..%2Fx/content",
        "/v1/files/file-abc%2fx",
        "/v1/files/..%2Ffiles",
        "/v1/files/%2e%2e/content",
        "/v1/files/file-abc;jsessionid=1/content",
        "/v1/files/" + "a" * 65,
        "/v1/files/file-abc/../file-def/content",
        "/v1/files/file-abc/./content",
        "/v1/files/file.abc",
        "/v1/files/file-abc/content/extra",
        "/v1/batches/..%2Ffiles%2Ffile-abc%2Fcontent",
        # Empty segments match no route with rules, but nginx merges slashes and some
        # frameworks ignore a trailing one: each would be served as the route it hides.
        "/v1//files/file-abc/content",
        "/v1/batches//batch_abc",
        "/v1/batches/batch_abc/",
        "/v1/responses/resp_abc/",
        "/v1/files/file-abc/content/",
        "/v1/",
    ],
)
def test_invalid_ids_are_refused_without_lookup_or_upstream(gateway: Gateway, path: str) -> None:
    """Encoded slashes, dot and empty segments, `;` and over-long ids get 400 invalid_file_id
    at once."""
    before = store_ops(gateway)
    gateway.sandbox.clear()
    reply = call(gateway.url, "GET", path, ALICE)
    assert (reply.status, reply.code) == (400, "invalid_file_id"), reply.body
    assert reply.headers["x-gateway-reason"] == "invalid_file_id"
    assert gateway.sandbox.requests() == []
    assert store_ops(gateway) == before


@pytest.mark.parametrize("target", [
    "http://upstream.example/v1/batches/..%2Ffiles%2Ffile-abc%2Fcontent",
    "http://upstream.example/v1//files/file-abc/content",
    "http://upstream.example/v1/files",
])
def test_absolute_urls_are_refused_without_lookup_or_upstream(gateway: Gateway, target: str) -> None:
    """A forward proxy's request-target: the routes would match its path while the path guard,
    and what is forwarded, read the whole URL."""
    before = store_ops(gateway)
    gateway.sandbox.clear()
    reply = call(gateway.url, "GET", target, ALICE)
    assert (reply.status, reply.code) == (400, "invalid_request"), reply.body
    assert gateway.sandbox.requests() == []
    assert store_ops(gateway) == before


def test_refusals_are_json_in_openais_error_shape(gateway: Gateway) -> None:
    """A refusal answers application/json (no charset, as the gateway's other JSON answers) with
    OpenAI's error object."""
    reply = call(gateway.url, "GET", "/v1/files/file-abc;x=1/content", ALICE)
    assert reply.status == 400
    assert reply.headers["content-type"] == "application/json"
    error = reply.json()["error"]
    assert (error["code"], error["param"]) == ("invalid_file_id", "file_id")
    assert error["type"] == "invalid_request_error"


def test_passthrough_headers_allow_list(gateway: Gateway) -> None:
    """Hop-by-hop, Connection-named and unknown headers are stripped; API headers pass."""
    gateway.sandbox.clear()
    reply = call(
        gateway.url, "POST", "/v1/chat/completions",
        {
            **ALICE,
            "Content-Type": "application/json",
            "Connection": "keep-alive, X-Secret-Hop",
            "X-Secret-Hop": "1",
            "Keep-Alive": "timeout=5",
            "Proxy-Authorization": "Basic abc",
            "TE": "trailers",
            "X-Internal-Thing": "leak",
            "OpenAI-Organization": "org-1",
            "OpenAI-Project": "proj-1",
            "x-stainless-lang": "python",
            "x-request-id": "req-from-client",
        },
        b'{"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}',
    )
    assert reply.status == 200, reply.body
    assert reply.json()["object"] == "chat.completion"
    assert reply.headers["x-request-id"] == "req-from-client"
    sent = gateway.sandbox.requests()[-1]["headers"]
    for stripped in ("x-secret-hop", "keep-alive", "proxy-authorization", "te", "x-internal-thing"):
        assert stripped not in sent
    assert sent["openai-organization"] == "org-1"
    assert sent["openai-project"] == "proj-1"
    assert sent["x-stainless-lang"] == "python"
    assert sent["x-request-id"] == "req-from-client"


def test_a_header_the_connection_header_names_is_dropped_though_allowed(gateway: Gateway) -> None:
    """An allow-listed header that the caller's Connection header names is hop-by-hop for this
    hop (RFC 9110 §7.6.1): it stays behind, whatever its case; the others go up."""
    gateway.sandbox.clear()
    headers = {**ALICE, "Connection": "keep-alive, X-Stainless-Arch", "x-stainless-arch": "x64",
               "x-stainless-lang": "python"}
    assert call(gateway.url, "GET", "/v1/files", headers).status == 200
    sent = gateway.sandbox.requests()[-1]["headers"]
    assert "x-stainless-arch" not in sent
    assert sent["x-stainless-lang"] == "python"


def test_request_id_is_generated_and_passed_both_ways(gateway: Gateway) -> None:
    """Without an incoming x-request-id the gateway makes one and sends it up and back."""
    gateway.sandbox.clear()
    reply = call(gateway.url, "GET", "/v1/files", ALICE)
    generated = reply.headers["x-request-id"]
    assert generated.startswith("req_")
    assert {r["headers"]["x-request-id"] for r in gateway.sandbox.requests()} == {generated}
    refused = call(gateway.url, "GET", "/v1/files/x%2Fy", ALICE)
    assert refused.headers["x-request-id"].startswith("req_")


def test_unknown_route_passes_through_to_upstream_404(gateway: Gateway) -> None:
    """An unknown /v1 route reaches the upstream, whose own 404 comes back unchanged."""
    reply = call(gateway.url, "GET", "/v1/does-not-exist?x=1", ALICE)
    assert reply.status == 404
    assert reply.json()["error"]["message"].startswith("Invalid URL")
    assert gateway.sandbox.requests()[-1]["query"] == {"x": "1"}


def test_passthrough_streams_chunked_request_body(gateway: Gateway) -> None:
    """A chunked request body is forwarded intact to the upstream."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", int(gateway.url.rsplit(":", 1)[1]), timeout=10)
    chunks = [b'{"model": "gpt-4o", ', b'"messages": [{"role": "user", "content": "hi"}]}']
    conn.request("POST", "/v1/chat/completions", body=iter(chunks),
                 headers={**ALICE, "Content-Type": "application/json"}, encode_chunked=True)
    response = conn.getresponse()
    assert response.status == 200
    response.read()
    conn.close()
    assert gateway.sandbox.requests()[-1]["json"]["model"] == "gpt-4o"


def test_upstream_down_gives_502(gateway: Gateway) -> None:
    """An unreachable upstream gives 502 upstream_unavailable in OpenAI's error shape."""
    gateway.sandbox.server.stop()
    reply = call(gateway.url, "GET", "/v1/models", ALICE)
    assert (reply.status, reply.code) == (502, "upstream_unavailable")
    assert set(reply.json()["error"]) >= {"message", "type", "param", "code"}
    assert gateway.metric("files_gateway_upstream_errors_total", reason="connect") == 1


def test_upstream_failures_are_counted_by_reason(
    make_gateway: GatewayFactory, sandbox: Sandbox
) -> None:
    """A 5xx answer is relayed and counted as status_5xx; an answer slower than
    upstream.timeout_seconds gives 504 upstream_timeout and is counted as timeout."""
    gateway = make_gateway(**{"upstream.timeout_seconds": 0.5})
    sandbox.faults({"status": {"GET /v1/models": 503}, "delay": {"GET /v1/batches": 2}})
    failed = call(gateway.url, "GET", "/v1/models", ALICE)
    assert failed.status == 503
    assert gateway.metric("files_gateway_upstream_errors_total", reason="status_5xx") == 1
    slow = call(gateway.url, "GET", "/v1/batches", ALICE, timeout=10)
    assert (slow.status, slow.code) == (504, "upstream_timeout")
    assert slow.headers["x-gateway-reason"] == "upstream_timeout"
    assert gateway.metric("files_gateway_upstream_errors_total", reason="timeout") == 1
    assert gateway.metric("files_gateway_upstream_errors_total", reason="connect") == 0


def test_upstream_cookies_never_ride_along(make_gateway: GatewayFactory, sandbox: Sandbox) -> None:
    """The upstream sets a cookie on every answer, as Cloudflare does for api.openai.com: it
    reaches no caller, and no later request, of the same caller or another, sends it back."""
    # By name: aiohttp's default cookie jar ignores cookies from IP addresses.
    port = urlsplit(sandbox.url).port
    gateway = make_gateway(**{"upstream.url": f"http://localhost:{port}"})
    sandbox.clear()
    for headers in (ALICE, BOB, ALICE):
        reply = call(gateway.url, "GET", "/v1/files", headers)
        assert reply.status == 200, reply.body
        assert "set-cookie" not in reply.headers
    sent = gateway.sandbox.requests()
    assert len(sent) == 3
    assert [request["headers"].get("cookie") for request in sent] == [None, None, None]


class RawUpstream(socketserver.ThreadingTCPServer):
    """An upstream on 127.0.0.1 that answers every request with `answer`, whatever it is, and
    keeps each request head it read in `heads`."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Fixed)
        self.answer = b""
        self.heads: list[bytes] = []
        # Seconds to hold the connection after the head, reading nothing more, before answering.
        self.stall = 0.0
        # Seconds to hold it open after the answer, sending nothing more, before closing.
        self.hold = 0.0

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"


class _Fixed(socketserver.BaseRequestHandler):
    """Reads one request head, keeps it, sends the server's answer and closes."""

    server: RawUpstream

    def handle(self) -> None:
        sock: socket.socket = self.request
        head = b""
        while b"\r\n\r\n" not in head:
            data = sock.recv(65536)
            if not data:
                return
            head += data
        self.server.heads.append(head)
        time.sleep(self.server.stall)
        sock.sendall(self.server.answer)
        time.sleep(self.server.hold)


@pytest.fixture
def raw_upstream() -> Iterator[RawUpstream]:
    server = RawUpstream()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        pytest.param(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
                     b'{"object": "li', "connect", id="cut short"),
        pytest.param(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "protocol",
                     id="a chunk size that is no number"),
        pytest.param(b"SMTP ready\r\n\r\n", "protocol", id="not HTTP"),
    ],
)
@pytest.mark.parametrize("path", ["/v1/files", "/v1/models"])
def test_a_broken_upstream_answer_gives_502(
    make_gateway: GatewayFactory, raw_upstream: RawUpstream, answer: bytes,
    reason: str, path: str,
) -> None:
    """An answer the upstream breaks off or garbles gives 502 upstream_unavailable, on a route
    whose JSON the gateway reads (the file list) as on one it relays (models), and is counted
    once by what went wrong, in the head or in the body."""
    raw_upstream.answer = answer
    gateway = make_gateway(**{"upstream.url": raw_upstream.url})
    reply = call(gateway.url, "GET", path, ALICE)
    assert (reply.status, reply.code) == (502, "upstream_unavailable"), reply.body
    assert gateway.metric("files_gateway_upstream_errors_total", reason=reason) == 1


@pytest.mark.parametrize(
    ("answer", "path", "reason"),
    [
        pytest.param(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 100\r\n\r\n" + b'{"error": {"mess',
                     "/v1/files/file-abc123/content", "connect", id="a refusal whose body breaks off"),
        pytest.param(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 17\r\n\r\n"
                     b"<html>busy</html>", "/v1/files/file-abc123", "protocol",
                     id="a file object that is not JSON"),
    ],
)
def test_a_body_the_gateway_reads_that_is_broken_gives_502(
    make_gateway: GatewayFactory, raw_upstream: RawUpstream, answer: bytes, path: str, reason: str
) -> None:
    """Bodies the gateway reads itself: a download refusal (to tell a purpose refusal) and a
    file object (to annotate it). One that breaks off, or comes whole but is not JSON, is the
    upstream's failure, 502 upstream_unavailable, not a 500 of the gateway's, and is counted
    once among the upstream's errors."""
    raw_upstream.answer = answer
    gateway = make_gateway(
        lambda policy: policy.update(untracked="allow"), **{"upstream.url": raw_upstream.url}
    )
    reply = call(gateway.url, "GET", path, ALICE)
    assert (reply.status, reply.code) == (502, "upstream_unavailable"), reply.body
    assert gateway.metric("files_gateway_upstream_errors_total", reason=reason) == 1


def test_an_upstream_url_with_a_path_keeps_it_before_every_api_path(
    make_gateway: GatewayFactory, raw_upstream: RawUpstream
) -> None:
    """A provider serving the API under a prefix (`upstream.url: http://host/openai`) gets every
    request under it, with the query as the caller sent it."""
    raw_upstream.answer = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
    gateway = make_gateway(**{"upstream.url": raw_upstream.url + "/openai/"})
    reply = call(gateway.url, "GET", "/v1/models?x=1%202", ALICE)
    assert (reply.status, reply.body) == (200, b"{}")
    assert raw_upstream.heads[-1].startswith(b"GET /openai/v1/models?x=1%202 HTTP/1.1\r\nHost: ")


def _whole(body: bytes) -> bytes:
    return (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
            + str(len(body)).encode() + b"\r\n\r\n" + body)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"<html>busy</html>", id="not JSON"),
        pytest.param(b'{"object": "list", "data": ["file-abc123"]}', id="items that are not objects"),
        pytest.param(b'{"object": "list", "data": {"id": "file-abc123"}}', id="data not a list"),
        pytest.param(b'[{"id": "file-abc123"}]', id="not an object"),
    ],
)
@pytest.mark.parametrize("path", ["/v1/files", "/v1/batches", "/v1/vector_stores"])
def test_a_whole_answer_that_is_no_list_page_gives_502(
    make_gateway: GatewayFactory, raw_upstream: RawUpstream, body: bytes, path: str
) -> None:
    """A list page the upstream sends whole but garbled is the upstream's failure, 502
    upstream_unavailable, never a 500 of the gateway's or a list made of it, and is counted as
    a protocol error of the upstream's."""
    raw_upstream.answer = _whole(body)
    gateway = make_gateway(**{"upstream.url": raw_upstream.url})
    reply = call(gateway.url, "GET", path, ALICE)
    assert (reply.status, reply.code) == (502, "upstream_unavailable"), reply.body
    assert gateway.metric("files_gateway_upstream_errors_total", reason="protocol") == 1


def test_a_list_page_reads_only_id_and_has_more_and_keeps_the_rest_of_each_item(
    make_gateway: GatewayFactory, raw_upstream: RawUpstream
) -> None:
    """What the gateway reads of a page it filters: each item's id and `has_more`; an item it
    keeps comes back with every field as the upstream sent it (nested and unknown ones
    included), and a missing or null `has_more` ends the list."""
    item = (b'{"id": "file-abc123", "object": "file", "bytes": 12345678901234567890, '
            b'"purpose": "user_data", "nested": {"a": [1, 2.5, null, true]}, "x-new": "\\u00e9"}')
    raw_upstream.answer = _whole(b'{"object": "list", "data": [' + item + b'], "has_more": null}')
    gateway = make_gateway(
        lambda policy: policy.update(untracked="allow"), **{"upstream.url": raw_upstream.url}
    )
    reply = call(gateway.url, "GET", "/v1/files", ALICE)
    assert reply.status == 200, reply.body
    listed = reply.json()
    assert listed["has_more"] is False
    (got,) = listed["data"]
    assert got.pop("gateway")["owner_is_you"] is False
    assert got == {"id": "file-abc123", "object": "file", "bytes": 12345678901234567890,
                   "purpose": "user_data", "nested": {"a": [1, 2.5, None, True]}, "x-new": "é"}


def test_an_upstream_that_stops_reading_an_upload_gives_504(
    make_gateway: GatewayFactory, raw_upstream: RawUpstream
) -> None:
    """An upload whose upstream takes none of the body for `upstream.timeout_seconds`, and does
    not answer, ends in 504 upstream_timeout instead of holding the request."""
    raw_upstream.stall = 10.0
    gateway = make_gateway(**{"upstream.url": raw_upstream.url, "upstream.timeout_seconds": 0.5})
    boundary = "b0undary"
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.jsonl"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n").encode()
    body += b"x" * (48 << 20) + f"\r\n--{boundary}--\r\n".encode()
    started = time.monotonic()
    reply = call(gateway.url, "POST", "/v1/files",
                 {**ALICE, "Content-Type": f"multipart/form-data; boundary={boundary}"}, body)
    assert (reply.status, reply.code) == (504, "upstream_timeout"), reply.body
    assert time.monotonic() - started < 8.0
    assert len(raw_upstream.heads) == 1


@pytest.mark.parametrize("path", ["/v1/files/file-abc123", "/v1/models"])
def test_an_answer_whose_body_stalls_gives_504_and_is_counted_as_a_timeout(
    make_gateway: GatewayFactory, raw_upstream: RawUpstream, path: str
) -> None:
    """A body the gateway reads whole (a file object it annotates, a small answer it relays)
    that stops coming for `upstream.timeout_seconds` is 504 upstream_timeout, as a head that
    never comes is, and is counted once as a timeout."""
    raw_upstream.answer = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                           b"Content-Length: 100\r\n\r\n{\"id\": ")
    raw_upstream.hold = 5.0
    gateway = make_gateway(
        lambda policy: policy.update(untracked="allow"),
        **{"upstream.url": raw_upstream.url, "upstream.timeout_seconds": 0.5},
    )
    reply = call(gateway.url, "GET", path, ALICE, timeout=10)
    assert (reply.status, reply.code) == (504, "upstream_timeout"), reply.body
    assert gateway.metric("files_gateway_upstream_errors_total", reason="timeout") == 1
    assert gateway.metric("files_gateway_upstream_errors_total", reason="connect") == 0
