"""Routes the gateway has no rules for are forwarded as they are, but not as a way around the
file rules: a JSON body or a form naming a file or a holder is checked first. A body that is not
JSON streams through unread."""

from __future__ import annotations

import hashlib
import http.server
import json
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest

from gateway.json_body import opens_json
from tests.conftest import Gateway, GatewayFactory
from tests.http import Reply, call
from tests.sdk import upload
from tests.test_references import multipart

ALICE = {"Authorization": "Bearer sk-alice", "Content-Type": "application/json"}
NEW_API = "/v1/realtime/client_secrets"
HEAD = 2048


def session(file_id: str) -> dict[str, Any]:
    return {"session": {"type": "realtime", "tools": [
        {"type": "code_interpreter", "container": {"type": "auto", "file_ids": [file_id]}}]}}


def post(gateway: Gateway, body: bytes, content_type: str = "application/json") -> Reply:
    gateway.sandbox.clear()
    return call(gateway.url, "POST", NEW_API, {**ALICE, "Content-Type": content_type}, body)


@pytest.mark.parametrize(
    ("head", "final", "expected"),
    [
        (b"", True, False),
        (b"  \r\n", False, None),
        (b"  \r\n", True, False),
        (b" {", False, None),  # under 4 bytes: the encoding is not known yet
        (b" {", True, True),
        (b'\t\n {"a"', False, True),
        (b"[1]", True, True),
        (b"\xef\xbb\xbf{}", False, True),
        ('{"a": 1}'.encode("utf-16-le"), False, True),
        ('  ["a"]'.encode("utf-16"), False, True),
        ("{}".encode("utf-32-be"), False, True),
        (b'"a string"', False, False),
        (b"12345", False, False),
        (b"RIFF\x00\x00", False, False),
        (b"v=0\r\no=- 0", False, False),
        (b"\x89PNG", False, False),
    ],
)
def test_opens_json(head: bytes, final: bool, expected: bool | None) -> None:
    """Whether a body is one the JSON parser reads as an object or array, from its first bytes."""
    assert opens_json(head, final=final) is expected


def test_files_named_in_an_unknown_api_follow_the_reference_rules(gateway: Gateway) -> None:
    """The caller's own file goes up whatever its purpose; a peer's private file, another org's
    file and an untracked one are refused with nothing sent upstream, and `param` says where."""
    mine = upload(gateway, "alice", "batch")
    allowed = post(gateway, json.dumps(session(mine)).encode())
    sent = gateway.sandbox.requests()
    assert allowed.status == 404, allowed.body  # the sandbox's own answer to a route it lacks
    assert allowed.json()["error"]["message"].startswith("Invalid URL")
    assert [(entry["path"], entry["json"]) for entry in sent] == [(NEW_API, session(mine))]

    param = "session.tools[0].container.file_ids[0]"
    for file_id, status, code in (
        (upload(gateway, "bob", "user_data", "private_only"), 403, "private_only_forbidden"),
        (upload(gateway, "carol", "user_data"), 404, "file_not_found"),
        (gateway.sandbox.seed("user_data"), 403, "file_untracked"),
    ):
        refused = post(gateway, json.dumps(session(file_id)).encode())
        assert (refused.status, refused.code) == (status, code), refused.body
        assert refused.json()["error"]["param"] == param
        assert gateway.sandbox.requests() == []


@pytest.mark.parametrize(
    ("encode", "content_type"),
    [
        pytest.param(lambda text: text.encode(), "text/plain", id="text/plain"),
        pytest.param(lambda text: b" \r\n\t " + text.encode(), "application/json", id="blanks first"),
        pytest.param(lambda text: b"\xef\xbb\xbf" + text.encode(), "application/json", id="utf-8 bom"),
        pytest.param(lambda text: text.encode("utf-16-le"), "application/json", id="utf-16"),
        pytest.param(lambda text: text.encode("utf-32"), "application/octet-stream", id="utf-32"),
    ],
)
def test_a_json_body_is_found_however_it_is_dressed(
    sqlite_gateway: Gateway, encode: Any, content_type: str
) -> None:
    """Whatever the Content-Type, leading blanks, a BOM or a UTF encoding the JSON parser reads:
    a body JSON can read is checked as JSON."""
    private = upload(sqlite_gateway, "bob", "user_data", "private_only")
    reply = post(sqlite_gateway, encode(json.dumps(session(private))), content_type)
    assert (reply.status, reply.code) == (403, "private_only_forbidden"), reply.body
    assert sqlite_gateway.sandbox.requests() == []


def test_a_holder_of_another_org_is_refused(sqlite_gateway: Gateway) -> None:
    """Vector stores named by an unknown API are references to holders, as anywhere else."""
    gateway = sqlite_gateway
    reply = call(gateway.url, "POST", "/v1/vector_stores", {**ALICE, "Authorization": "Bearer sk-carol"},
                 json.dumps({"name": "theirs"}).encode())
    assert reply.status == 200, reply.body
    body = {"session": {"tools": [{"type": "file_search", "vector_store_ids": [reply.json()["id"]]}]}}
    refused = post(gateway, json.dumps(body).encode())
    assert (refused.status, refused.code) == (404, "file_not_found"), refused.body
    assert refused.json()["error"]["param"] == "session.tools[0].vector_store_ids[0]"
    assert gateway.sandbox.requests() == []


def test_malformed_json_and_duplicate_keys_are_refused(sqlite_gateway: Gateway) -> None:
    """A body that opens as JSON and may name something must be JSON the gateway can check: two
    copies of a key could be read differently upstream. One that cannot name anything (no key
    or escape that could) goes up unparsed, for the upstream to refuse."""
    mine = upload(sqlite_gateway, "alice", "user_data")
    for raw in (b'{"file_id": "' + mine.encode() + b'", "file_id": "file-other"}',
                b'{"session": {"file_ids": ["' + mine.encode() + b'"]', b'{"session": {"\\u0066'):
        reply = post(sqlite_gateway, raw)
        assert (reply.status, reply.code) == (400, "invalid_request"), reply.body
        assert sqlite_gateway.sandbox.requests() == []
    post(sqlite_gateway, b'{"session": ')
    assert [r["path"] for r in sqlite_gateway.sandbox.requests()] == [NEW_API]


class _Recorder(http.server.BaseHTTPRequestHandler):
    """Answers 200 with the length, sha256 and first bytes of the body it got."""

    def do_POST(self) -> None:
        digest, size, first = hashlib.sha256(), 0, b""
        remaining = int(self.headers.get("Content-Length", "0"))
        chunked = self.headers.get("Transfer-Encoding") == "chunked"
        while chunked or remaining:
            if chunked:
                length = int(self.rfile.readline().split(b";")[0], 16)
                data = self.rfile.read(length + 2)[:length]
                if not length:
                    break
            else:
                data = self.rfile.read(min(remaining, 1 << 20))
                remaining -= len(data)
            digest.update(data)
            first += data[:HEAD - len(first)]
            size += len(data)
        answer = json.dumps({"bytes": size, "sha256": digest.hexdigest(),
                             "content_type": self.headers.get("Content-Type"),
                             "head": first.decode("latin-1")}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        pytest.param(b"v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\n", "application/sdp", id="sdp"),
        pytest.param(b"RIFF" + bytes(range(256)) * 160_000, "audio/wav", id="40 MiB of audio"),
        pytest.param(b"", "application/json", id="empty"),
    ],
)
def test_a_body_that_is_not_json_streams_through_whole(
    make_gateway: GatewayFactory, recorder: str, body: bytes, content_type: str
) -> None:
    """Bodies JSON cannot read name nothing: they go up unread and whole, even past the JSON
    size limit."""
    gateway = make_gateway(**{"upstream.url": recorder})
    reply = call(gateway.url, "POST", NEW_API, {**ALICE, "Content-Type": content_type}, body)
    assert reply.status == 200, reply.body
    got = reply.json()
    assert (got["bytes"], got["sha256"], got["content_type"]) == (
        len(body), hashlib.sha256(body).hexdigest(), content_type)


def test_file_ids_in_the_form_fields_of_an_unknown_api_are_checked(
    make_gateway: GatewayFactory, recorder: str
) -> None:
    """A form (an audio upload, say) streams its file through, but a field naming a file by id
    is a reference; the caller's own file passes with the form's fields and file whole."""
    gateway = make_gateway()
    audio = ("file", "a.wav", b"RIFF" + b"w" * 50000)
    private = upload(gateway, "bob", "user_data", "private_only")
    content_type, body = multipart([("model", "m"), ("file_id", private)], [audio])
    refused = post(gateway, body, content_type)
    assert (refused.status, refused.code) == (403, "private_only_forbidden"), refused.body
    assert refused.json()["error"]["param"] == "file_id"
    assert gateway.sandbox.requests() == []

    mine = upload(gateway, "alice", "batch")
    # The same store behind a gateway whose upstream shows what it got.
    recorded = make_gateway(**{"upstream.url": recorder})
    content_type, body = multipart([("model", "m"), ("file_id", mine)], [audio])
    reply = post(recorded, body, content_type)
    assert reply.status == 200, reply.body
    got = reply.json()
    assert got["content_type"].startswith("multipart/form-data; boundary=")
    assert f'name="file_id"\r\n\r\n{mine}\r\n' in got["head"]
    assert len(body) - 200 < got["bytes"] < len(body) + 200  # re-framed, the upload whole


@pytest.mark.parametrize("path", ["/v1/realtime?model=gpt-realtime", "/v1/responses",
                                  "/v1/live", "/v1/realtime?call_id=rtc_abc",
                                  # Routes with rules of their own refuse it all the same.
                                  "/v1/live/sessions/live_abc/attach", "/v1/files/file-abc/content"])
def test_websocket_connections_are_refused_plainly(sqlite_gateway: Gateway, path: str) -> None:
    """The gateway relays no upgraded connection, so a WebSocket handshake (Realtime, Live,
    Responses' WebSocket mode) gets a plain refusal instead of an upstream answer to a GET it
    never meant; another protocol's upgrade offer (curl's h2c) is simply not taken up."""
    handshake = {"Authorization": "Bearer sk-alice", "Connection": "Upgrade",
                 "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
                 "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}
    sqlite_gateway.sandbox.clear()
    reply = call(sqlite_gateway.url, "GET", path, handshake)
    assert (reply.status, reply.code) == (400, "invalid_request"), reply.body
    assert "WebSocket" in reply.json()["error"]["message"]
    assert sqlite_gateway.sandbox.requests() == []

    h2c = {**handshake, "Upgrade": "h2c", "HTTP2-Settings": "AAMAAABkAAQAoAAAAAIAAAAA"}
    reply = call(sqlite_gateway.url, "GET", "/v1/embeddings", h2c)
    assert reply.json()["error"]["message"] == "Invalid URL (GET /v1/embeddings)"  # the sandbox's
    assert [entry["path"] for entry in sqlite_gateway.sandbox.requests()] == ["/v1/embeddings"]


def test_json_in_a_form_field_is_checked_and_keeps_its_type(
    make_gateway: GatewayFactory, recorder: str
) -> None:
    """A field holding JSON (the SDK sends a Realtime call's `session` as an `application/json`
    part) names files as a JSON body does, and goes upstream with the type it came with."""
    def form(file_id: str) -> tuple[str, bytes]:
        boundary = "typedb0undary"
        parts = [("sdp", "application/sdp", "v=0\r\n"),
                 ("session", "application/json", json.dumps(session(file_id)["session"]))]
        body = b"".join(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n'
            f"Content-Type: {kind}\r\n\r\n{value}\r\n".encode() for name, kind, value in parts)
        return f"multipart/form-data; boundary={boundary}", body + f"--{boundary}--\r\n".encode()

    gateway = make_gateway()
    private = upload(gateway, "bob", "user_data", "private_only")
    refused = post(gateway, form(private)[1], form(private)[0])
    assert (refused.status, refused.code) == (403, "private_only_forbidden"), refused.body
    assert refused.json()["error"]["param"] == "session.tools[0].container.file_ids[0]"
    assert gateway.sandbox.requests() == []

    mine = upload(gateway, "alice", "user_data")
    content_type, body = form(mine)
    reply = post(make_gateway(**{"upstream.url": recorder}), body, content_type)
    assert reply.status == 200, reply.body
    head = reply.json()["head"]
    assert 'name="session"\r\nContent-Type: application/json\r\n\r\n{' in head
    assert 'name="sdp"\r\nContent-Type: application/sdp\r\n\r\nv=0' in head


def test_a_urlencoded_body_is_checked_as_a_form(sqlite_gateway: Gateway) -> None:
    """It streamed through unread; an upstream built on a web framework may read it, with the
    file ids its fields name, however their names are escaped."""
    gateway = sqlite_gateway
    carols = upload(gateway, "carol", "user_data")
    form = "application/x-www-form-urlencoded"
    for body, param in (
        (f"model=gpt-realtime&file_id={carols}", "file_id"),
        (f"tools%5B0%5D%5Bfile%5Fid%5D={carols}", "tools[0].file_id"),
        ("session=" + quote(json.dumps(session(carols)["session"])),
         "session.tools[0].container.file_ids[0]"),
    ):
        refused = post(gateway, body.encode(), form)
        assert (refused.status, refused.code) == (404, "file_not_found"), refused.body
        assert refused.json()["error"]["param"] == param
        assert gateway.sandbox.requests() == []
    post(gateway, b"model=gpt-realtime&voice=alloy", form)
    [sent] = gateway.sandbox.requests()
    assert sent["path"] == NEW_API
