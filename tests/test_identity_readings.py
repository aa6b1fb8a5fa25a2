"""Identity, one audit event per decision, secrets and unbounded values in logs, audit events,
labels and headers, and other principals' ids out of lists, found by probing: each test was a
finding until fixed (stop 22), or held already and stays as a regression test.
"""

from __future__ import annotations

import base64
import http.client
import io
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from tests.conftest import Gateway, GatewayFactory, MemorySink
from tests.http import Reply, call
from tests.servers import ServerThread

ALICE = {"Authorization": "Bearer sk-alice"}
BOB = {"Authorization": "Bearer sk-bob"}
CAROL = {"Authorization": "Bearer sk-carol"}
BOUNDARY = "probeboundary"


def form(purpose: str = "batch", content: str = "{}\n") -> tuple[dict[str, str], bytes]:
    body = (
        f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\n{purpose}\r\n"
        f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.jsonl\"\r\n"
        f"\r\n{content}\r\n--{BOUNDARY}--\r\n"
    ).encode()
    return {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}, body


def upload(gateway: Gateway, headers: dict[str, str], flags: str = "", purpose: str = "batch") -> str:
    extra, body = form(purpose)
    sent = {**headers, **extra, **({"X-File-Access": flags} if flags else {})}
    reply = call(gateway.url, "POST", "/v1/files", sent, body)
    assert reply.status == 200, reply.body
    return str(reply.json()["id"])


def raw_call(base: str, method: str, path: str, header_lines: list[tuple[str, str]],
             body: bytes | None = None) -> Reply:
    """Like tests.http.call, but headers are a list, so a name may repeat."""
    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for name, value in header_lines:
            conn.putheader(name, value)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        response = conn.getresponse()
        data = response.read()
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, data)
    finally:
        conn.close()


def wait_events(sink: MemorySink, count: int, within: float = 5.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline and len(sink.events) < count:
        time.sleep(0.02)
    time.sleep(0.2)  # catch any extra one
    return list(sink.events)


def decisions_total(gateway: Gateway) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    total = 0.0
    for family in text_string_to_metric_families(gateway.metrics()):
        for sample in family.samples:
            if sample.name == "files_gateway_decisions_total":
                total += sample.value
    return total


# --------------------------------------------------------------------------------------------
# A programmable upstream in front of the sandbox, for what the sandbox cannot be made to do.
# --------------------------------------------------------------------------------------------

Hook = Callable[[web.Request], "web.StreamResponse | None"]
HOP = {"host", "content-length", "transfer-encoding", "connection", "keep-alive"}


def shim_app(target: str, hook: Hook | None, extra: dict[str, str]) -> Callable[[], web.Application]:
    def factory() -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)

        async def handler(request: web.Request) -> web.StreamResponse:
            if hook is not None:
                answer = hook(request)
                if answer is not None:
                    return answer
            body = await request.read()
            headers = [(k, v) for k, v in request.headers.items() if k.lower() not in HOP]
            async with aiohttp.ClientSession(auto_decompress=False) as session, session.request(
                request.method, target + request.raw_path, headers=headers,
                data=body if body else None,
            ) as upstream:
                data = await upstream.read()
                out = web.Response(status=upstream.status, body=data)
                for name, value in upstream.headers.items():
                    if name.lower() not in HOP:
                        out.headers.add(name, value)
            for name, value in extra.items():
                out.headers[name] = value
            return out

        app.router.add_route("*", "/{tail:.*}", handler)
        return app

    return factory


@pytest.fixture
def shim(sandbox: Any) -> Iterator[Callable[..., str]]:
    started: list[ServerThread] = []

    def start(hook: Hook | None = None, extra: dict[str, str] | None = None) -> str:
        server = ServerThread(shim_app(sandbox.url, hook, extra or {})).start()
        started.append(server)
        return server.url()

    yield start
    for server in started:
        server.stop()


# --------------------------------------------------------------------------------------------
# (a) Being taken for another principal or org
# --------------------------------------------------------------------------------------------


def header_gateway(make_gateway: GatewayFactory, sink: MemorySink | None = None) -> Gateway:
    return make_gateway(sinks=[sink] if sink else None, **{
        "identity.mode": "header", "identity.header.trusted_proxies": ["127.0.0.1/32"]})


def test_duplicate_user_header_from_trusted_proxy_is_refused(make_gateway: GatewayFactory) -> None:
    """Header mode: a request from the trusted proxy with X-Forwarded-User twice (the client's
    own line, then the proxy's appended one, as HAProxy `add-header` or Envoy's append do) is
    ambiguous about who is asking. A careful operator expects it refused (401), never read as
    the first line, which is the one the client chose."""
    gateway = header_gateway(make_gateway)
    file_id = upload(gateway, {"Authorization": "Bearer sk-x", "X-Forwarded-User": "alice",
                               "X-Forwarded-Org": "acme"}, flags="private_only")
    reply = raw_call(gateway.url, "GET", f"/v1/files/{file_id}/content", [
        ("Authorization", "Bearer sk-x"),
        ("X-Forwarded-User", "alice"),      # sent by the client
        ("X-Forwarded-User", "mallory"),    # appended by the proxy
        ("X-Forwarded-Org", "acme"),
    ])
    assert reply.status == 401, (reply.status, reply.body)


def test_duplicate_org_header_from_trusted_proxy_is_refused(make_gateway: GatewayFactory) -> None:
    """Header mode: X-Forwarded-Org twice from the trusted proxy is ambiguous about the org;
    a careful operator expects 401, not the first (client-chosen) value."""
    gateway = header_gateway(make_gateway)
    file_id = upload(gateway, {"Authorization": "Bearer sk-x", "X-Forwarded-User": "dave",
                               "X-Forwarded-Org": "initech"})
    reply = raw_call(gateway.url, "GET", f"/v1/files/{file_id}", [
        ("Authorization", "Bearer sk-x"),
        ("X-Forwarded-User", "mallory"),
        ("X-Forwarded-Org", "initech"),     # sent by the client
        ("X-Forwarded-Org", "evilcorp"),    # set by the proxy
    ])
    assert reply.status == 401, (reply.status, reply.body)


def test_forwarded_for_does_not_make_an_untrusted_peer_trusted(make_gateway: GatewayFactory) -> None:
    """Header mode with trusted_proxies 10.0.0.0/8: a direct client claiming X-Forwarded-For /
    X-Real-IP / Forwarded from 10.0.0.1 is still untrusted (401 untrusted_identity_header), the
    upstream sees nothing, and the audit's client_ip is the socket peer."""
    gateway = make_gateway(**{"identity.mode": "header",
                              "identity.header.trusted_proxies": ["10.0.0.0/8"]})
    gateway.sandbox.clear()
    for spoof in ({"X-Forwarded-For": "10.0.0.1"}, {"X-Forwarded-For": "10.0.0.1, 127.0.0.1"},
                  {"X-Real-IP": "10.0.0.1"}, {"Forwarded": "for=10.0.0.1"}):
        reply = call(gateway.url, "GET", "/v1/files",
                     {"Authorization": "Bearer sk-x", "X-Forwarded-User": "alice",
                      "X-Forwarded-Org": "acme", **spoof})
        assert (reply.status, reply.code) == (401, "untrusted_identity_header"), spoof
    assert gateway.sandbox.requests() == []


@pytest.mark.parametrize("name", ["x-forwarded-user", "X-FORWARDED-USER", "x-Forwarded-org"])
def test_identity_header_in_any_case_is_refused_in_api_key_mode(
    make_gateway: GatewayFactory, name: str
) -> None:
    """An identity header in any letter case, in api_key mode, is 401 untrusted_identity_header."""
    gateway = make_gateway()
    reply = call(gateway.url, "GET", "/v1/files", {**CAROL, name: "alice"})
    assert (reply.status, reply.code) == (401, "untrusted_identity_header")


def test_identity_header_in_static_mode_is_refused(make_gateway: GatewayFactory) -> None:
    """Static mode: identity headers are refused even from 127.0.0.1 (a trusted proxy only
    counts in header mode)."""
    gateway = make_gateway(**{"identity.mode": "static", "identity.static.principal": "svc",
                              "identity.static.org": "acme"})
    reply = call(gateway.url, "GET", "/v1/files", {**ALICE, "X-Forwarded-User": "root"})
    assert (reply.status, reply.code) == (401, "untrusted_identity_header")


def who(gateway: Gateway, sink: MemorySink, header_lines: list[tuple[str, str]]) -> tuple[int, Any]:
    """Status of a retrieve of a file of carol's, the audited principal, and what reached the
    upstream as Authorization."""
    sink.events.clear()
    gateway.sandbox.clear()
    reply = raw_call(gateway.url, "GET", "/v1/files/file-doesnotexist0", header_lines)
    events = wait_events(sink, 1)
    sent = [r["headers"].get("authorization") for r in gateway.sandbox.requests()]
    principal = events[0]["principal"] if events else None
    return reply.status, (principal, sent)


def test_two_authorization_headers_never_split_identity(make_gateway: GatewayFactory) -> None:
    """Two Authorization headers (carol's, then alice's): whatever the gateway does, the
    principal it decides for must be the owner of the one key that goes upstream, and only one
    key may go upstream; a careful user would rather see 401."""
    sink = MemorySink()
    gateway = make_gateway(sinks=[sink])
    status, (principal, sent) = who(gateway, sink, [
        ("Authorization", "Bearer sk-carol"), ("Authorization", "Bearer sk-alice")])
    if status == 401:
        assert sent == []
        return
    assert principal == "carol"
    assert sent in ([], ["Bearer sk-carol"])


@pytest.mark.parametrize(("value", "expected"), [
    ("bearer sk-alice", "alice"),
    ("BEARER sk-alice", "alice"),
    ("Bearer   sk-alice  ", "alice"),
])
def test_bearer_spellings(make_gateway: GatewayFactory, value: str, expected: str) -> None:
    """The auth scheme is case-insensitive (RFC 9110 §11.1) and surrounding blanks are not part
    of the key: these are alice."""
    sink = MemorySink()
    gateway = make_gateway(sinks=[sink])
    _, (principal, _) = who(gateway, sink, [("Authorization", value)])
    assert principal == expected


@pytest.mark.parametrize("value", [
    "Bearer sk-carol, Bearer sk-alice", "Bearer sk-carol,sk-alice", "Bearer sk-alice sk-carol",
    "Bearer\tsk-alice",
])
def test_odd_bearer_values_are_never_someone_known(make_gateway: GatewayFactory, value: str) -> None:
    """A key with a comma or two tokens is not a known key: never alice nor carol, and (with
    unknown_keys: reject) refused with 401 and no upstream call."""
    sink = MemorySink()
    gateway = make_gateway(sinks=[sink])
    _, (principal, _) = who(gateway, sink, [("Authorization", value)])
    assert principal not in ("alice", "carol")
    strict = make_gateway(**{"identity.unknown_keys": "reject"})
    strict.sandbox.clear()
    reply = raw_call(strict.url, "GET", "/v1/files", [("Authorization", value)])
    assert reply.status == 401
    assert strict.sandbox.requests() == []


def test_basic_auth_and_query_keys_are_not_identities(make_gateway: GatewayFactory) -> None:
    """Basic auth carrying a key as password, or a key in the query string, is not a bearer
    key: 401 missing_api_key, nothing upstream, and the key is in no audit event."""
    sink = MemorySink()
    gateway = make_gateway(sinks=[sink])
    gateway.sandbox.clear()
    basic = base64.b64encode(b":sk-alice").decode()
    for path, headers in (
        ("/v1/files", {"Authorization": f"Basic {basic}"}),
        ("/v1/files?api_key=sk-alice", {}),
        ("/v1/files/file-abc/content?api_key=sk-alice", {}),
    ):
        reply = call(gateway.url, "GET", path, headers)
        assert (reply.status, reply.code) == (401, "missing_api_key"), path
        assert b"sk-alice" not in reply.body
    assert gateway.sandbox.requests() == []
    assert "sk-alice" not in json.dumps(sink.events)


# --------------------------------------------------------------------------------------------
# (b) One decision, one audit event, one metric increment
# --------------------------------------------------------------------------------------------


def test_malformed_id_in_a_body_reference_is_one_audited_decision(
    make_gateway: GatewayFactory,
) -> None:
    """A Chat Completions body naming a malformed file id ("file-a/../b") is refused with 400
    invalid_file_id: a refused reference, so one audit event (action reference, deny,
    invalid_file_id) and one decision metric, as for a malformed id in a path
    (enforce.plain_or_refused: "so that it is audited like any other refusal")."""
    sink = MemorySink()
    gateway = make_gateway(sinks=[sink])
    before = decisions_total(gateway)
    body = {"model": "m", "messages": [
        {"role": "user", "content": [{"type": "file", "file": {"file_id": "file-a/../b"}}]}]}
    reply = call(gateway.url, "POST", "/v1/chat/completions",
                 {**ALICE, "Content-Type": "application/json"}, json.dumps(body).encode())
    assert (reply.status, reply.code) == (400, "invalid_file_id")
    events = wait_events(sink, 1)
    assert [(e["action"], e["decision"], e["reason"]) for e in events] == [
        ("reference", "deny", "invalid_file_id")]
    assert decisions_total(gateway) - before == 1


def audited_file(
    make_gateway: GatewayFactory, **upload_args: str
) -> tuple[Gateway, MemorySink, str, float]:
    """A gateway writing to a memory sink, one of alice's files, and the decisions so far; the
    sink holds nothing yet."""
    sink = MemorySink()
    gateway = make_gateway(sinks=[sink])
    file_id = upload(gateway, ALICE, **upload_args)
    sink.events.clear()
    return gateway, sink, file_id, decisions_total(gateway)


def test_head_download_is_one_event_and_no_body(make_gateway: GatewayFactory) -> None:
    """HEAD /v1/files/{id}/content is decided like a download: one event, one metric, no
    bytes; a HEAD refused for bob (private file) is one deny event."""
    gateway, sink, file_id, before = audited_file(make_gateway, flags="private_only")
    allowed = call(gateway.url, "HEAD", f"/v1/files/{file_id}/content", ALICE)
    denied = call(gateway.url, "HEAD", f"/v1/files/{file_id}/content", BOB)
    listed = call(gateway.url, "HEAD", "/v1/files", ALICE)
    assert (allowed.status, denied.status, listed.status) == (200, 403, 200)
    assert allowed.body == b""
    events = wait_events(sink, 3)
    assert [(e["action"], e["decision"], e["method"]) for e in events] == [
        ("download", "allow", "HEAD"), ("download", "deny", "HEAD"), ("list", "allow", "HEAD")]
    assert decisions_total(gateway) - before == 3


def test_upstream_refusal_after_allow_is_one_event_one_metric(make_gateway: GatewayFactory) -> None:
    """A user_data download the gateway allows but the upstream refuses: one event (deny
    purpose_download_forbidden) and exactly one decisions_total increment, not an allow and a
    deny."""
    gateway, sink, file_id, before = audited_file(make_gateway, purpose="user_data")
    reply = call(gateway.url, "GET", f"/v1/files/{file_id}/content", ALICE)
    assert reply.code == "purpose_download_forbidden"
    events = wait_events(sink, 1)
    assert [(e["decision"], e["reason"]) for e in events] == [("deny", "purpose_download_forbidden")]
    assert decisions_total(gateway) - before == 1


def test_upstream_5xx_and_timeout_on_list_are_one_event(make_gateway: GatewayFactory) -> None:
    """A list whose upstream answers 500, or stalls past the timeout, is one event each."""
    sink = MemorySink()
    gateway = make_gateway(sinks=[sink], **{"upstream.timeout_seconds": 0.5})
    upload(gateway, ALICE)
    sink.events.clear()
    gateway.sandbox.faults({"status": {"GET /v1/files": 500}})
    assert call(gateway.url, "GET", "/v1/files", ALICE).status == 500
    gateway.sandbox.faults({"delay": {"GET /v1/files": 2}})
    assert call(gateway.url, "GET", "/v1/files", ALICE).status == 504
    gateway.sandbox.faults({})
    events = wait_events(sink, 2)
    assert [(e["action"], e["decision"], e["reason"]) for e in events] == [
        ("list", "allow", "org"), ("list", "error", "upstream_timeout")]


# --------------------------------------------------------------------------------------------
# (c) Secrets and unbounded values in logs, audit events, labels and headers
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("route", ["/v1/files", "/v1/batches", "/v1/vector_stores"])
def test_list_cursor_in_audit_is_bounded(make_gateway: GatewayFactory, route: str) -> None:
    """`after` is caller input. The audit event of a list refused for a malformed cursor keeps
    a bounded file_id (paths' ids are cut to 128 characters by enforce.raw_id), never 8 KB of
    whatever the caller sent."""
    sink = MemorySink()
    gateway = make_gateway(sinks=[sink])
    junk = "A" * 8000
    reply = call(gateway.url, "GET", f"{route}?after={junk}", ALICE)
    assert reply.status == 400
    events = wait_events(sink, 1)
    assert len(events) == 1
    assert len(events[0]["file_id"] or "") <= 128, len(events[0]["file_id"])


def test_request_id_is_bounded_and_plain(make_gateway: GatewayFactory) -> None:
    """An x-request-id too long or with odd characters is replaced by a generated one, in the
    answer, the upstream request and the audit event."""
    sink = MemorySink()
    gateway = make_gateway(sinks=[sink])
    file_id = upload(gateway, ALICE)
    for bad in ("r" * 5000, "id with spaces", "sk-alice\u00e9", "a\"b{c}"):
        sink.events.clear()
        gateway.sandbox.clear()
        reply = call(gateway.url, "GET", f"/v1/files/{file_id}", {**ALICE, "x-request-id": bad})
        assert reply.status == 200
        sent = gateway.sandbox.requests()[0]["headers"]["x-request-id"]
        events = wait_events(sink, 1)
        for value in (reply.headers["x-request-id"], sent, events[0]["request_id"]):
            assert value != bad and len(value) <= 128


def test_upstream_set_cookie_is_not_relayed(make_gateway: GatewayFactory) -> None:
    """The sandbox sets a Cloudflare cookie on every answer; no answer through the gateway
    (file, list, passthrough, error) carries Set-Cookie."""
    gateway = make_gateway()
    file_id = upload(gateway, ALICE)
    for path in (f"/v1/files/{file_id}", f"/v1/files/{file_id}/content", "/v1/files",
                 "/v1/models", "/v1/files/file-nope000"):
        reply = call(gateway.url, "GET", path, ALICE)
        assert "set-cookie" not in reply.headers, path


def test_gateways_own_upstream_account_headers_are_not_relayed(
    make_gateway: GatewayFactory, shim: Callable[..., str]
) -> None:
    """With upstream.api_key set, callers share the gateway's OpenAI account; the upstream's
    openai-organization and openai-project answer headers name that account (the gateway's
    org id and project id), which callers are not meant to see or choose. A careful operator
    expects them dropped from every answer, as the caller's own OpenAI-Organization /
    OpenAI-Project are dropped from requests."""
    url = shim(extra={"openai-organization": "org-GATEWAYSECRETORG",
                      "openai-project": "proj_GATEWAYSECRETPROJ"})
    gateway = make_gateway(**{"upstream.url": url, "upstream.api_key": "sk-upstream-secret"})
    file_id = upload(gateway, ALICE)
    leaked = {}
    for path in (f"/v1/files/{file_id}", "/v1/files", "/v1/models", f"/v1/files/{file_id}/content"):
        reply = call(gateway.url, "GET", path, ALICE)
        assert reply.status == 200, (path, reply.body)
        found = {k: v for k, v in reply.headers.items()
                 if "GATEWAYSECRET" in v}
        if found:
            leaked[path] = found
    assert leaked == {}


def test_keys_never_in_metrics_or_request_log(
    make_gateway: GatewayFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    """Keys in paths, queries and headers never reach metric labels or the request log."""
    gateway = make_gateway(**{"request_log_level": "info", "log_level": "info"})
    capsys.readouterr()
    for path in ("/v1/files/sk-alice-in-path/content", "/v1/models/sk-alice-in-path",
                 "/v1/files?after=sk-alice-in-path", "/v1/files/file-x?api_key=sk-alice-in-path",
                 "/v1/sk-alice-in-path"):
        call(gateway.url, "GET", path, {"Authorization": "Bearer sk-alice-in-header"})
    text = gateway.metrics()
    err = capsys.readouterr().err
    for secret in ("sk-alice-in-path", "sk-alice-in-header"):
        assert secret not in text
        assert secret not in err


# --------------------------------------------------------------------------------------------
# (d) Another principal's ids out of a list
# --------------------------------------------------------------------------------------------


def test_list_never_names_a_hidden_id_even_when_a_later_page_fails(
    make_gateway: GatewayFactory, shim: Callable[..., str]
) -> None:
    """The gateway pages the upstream itself, using as cursor the last id of a page, which may
    be a file the caller may not see. If that later page fails with a body that names the
    cursor (here a shim answers 404 "No such File object: <after>"; whether OpenAI answers so
    for a cursor deleted between two pages is not verified), the caller must not get that body:
    DESIGN §6 "No other principal's id ever appears in the response"."""

    def hook(request: web.Request) -> web.StreamResponse | None:
        after = request.query.get("after")
        if request.method == "GET" and request.path == "/v1/files" and after:
            return web.json_response({"error": {
                "message": f"No such File object: {after}", "type": "invalid_request_error",
                "param": "after", "code": None}}, status=404)
        return None

    url = shim(hook)
    gateway = make_gateway(**{"upstream.url": url})
    upload(gateway, ALICE)  # the oldest: on a later page
    hidden = [upload(gateway, CAROL) for _ in range(20)]  # newest first: fill the first page
    reply = call(gateway.url, "GET", "/v1/files?limit=5", ALICE)
    for file_id in hidden:
        assert file_id.encode() not in reply.body, (reply.status, reply.body)


def test_list_pagination_ids_are_only_visible_ones(make_gateway: GatewayFactory) -> None:
    """Interleaved files of alice, bob (private) and carol: every page alice walks, with
    first_id/last_id/has_more, names only ids she may see, and the walk returns them all."""
    gateway = make_gateway()
    mine, hidden = [], []
    for index in range(25):
        mine.append(upload(gateway, ALICE))
        hidden.append(upload(gateway, BOB, flags="private_only"))
        if index % 3 == 0:
            hidden.append(upload(gateway, CAROL))
    seen: list[str] = []
    after = None
    while True:
        query = "?limit=4" + (f"&after={after}" if after else "")
        reply = call(gateway.url, "GET", f"/v1/files{query}", ALICE)
        assert reply.status == 200
        page = reply.json()
        for file_id in hidden:
            assert file_id.encode() not in reply.body
        ids = [item["id"] for item in page["data"]]
        if ids:
            assert (page["first_id"], page["last_id"]) == (ids[0], ids[-1])
        seen += ids
        if not page["has_more"]:
            break
        after = page["last_id"]
    assert sorted(seen) == sorted(mine)


def test_cursor_naming_another_principals_file_is_refused_without_naming_it(
    make_gateway: GatewayFactory,
) -> None:
    """after=<bob's private file> or <carol's file> is refused like a retrieve; the refusal
    body says nothing about the file (no owner, no purpose)."""
    gateway = make_gateway()
    bobs = upload(gateway, BOB, flags="private_only")
    carols = upload(gateway, CAROL)
    for cursor, expected in ((bobs, 403), (carols, 404)):
        reply = call(gateway.url, "GET", f"/v1/files?after={cursor}", ALICE)
        assert reply.status == expected
        text = reply.body.decode()
        assert "bob" not in text and "carol" not in text and "globex" not in text


# --------------------------------------------------------------------------------------------
# Raw bytes: what no well-behaved client sends, but any client can
# --------------------------------------------------------------------------------------------


def raw_bytes(base: str, request: bytes) -> bytes:
    import socket

    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(request)
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    return data


def test_non_utf8_authorization_is_a_401_not_a_500(
    make_gateway: GatewayFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """An Authorization value that is not UTF-8 (`Bearer sk-\\xff\\xfe…`) is no key anyone has:
    401 (missing or invalid key) as for any other unknown key, not 500 internal_error with an
    ERROR traceback in the process log for every such request."""
    import logging

    caplog.set_level(logging.INFO)
    gateway = make_gateway(**{"identity.unknown_keys": "reject"})
    answer = raw_bytes(gateway.url, b"GET /v1/files HTTP/1.1\r\nHost: x\r\n"
                       b"Authorization: Bearer sk-\xff\xfealice\r\nConnection: close\r\n\r\n")
    status_line = answer.split(b"\r\n", 1)[0]
    assert b" 401 " in status_line, status_line
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize("suffix", [b"\x00", b"\x7f", b"\x1b[0m"])
def test_a_malformed_authorization_line_never_puts_the_key_in_the_log(
    make_gateway: GatewayFactory, caplog: pytest.LogCaptureFixture, suffix: bytes
) -> None:
    """A key with a stray control character (copied from a terminal, a file) makes the header
    unparseable. The gateway must still never write the key or the Authorization line to its
    logs (README: keys appear only as sha256 fingerprints): aiohttp's parser error, logged
    through `aiohttp.server` at ERROR into the gateway's stderr, quotes the offending line."""
    import logging

    caplog.set_level(logging.DEBUG)
    secret = b"sk-proj-SECRETKEYMATERIAL0123456789"
    gateway = make_gateway()
    raw_bytes(gateway.url, b"GET /v1/files HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
              + secret + suffix + b"\r\nConnection: close\r\n\r\n")
    time.sleep(0.2)
    leaked = [(r.name, r.levelname) for r in caplog.records
              if r.levelno >= logging.INFO and "SECRETKEYMATERIAL" in caplog.handler.format(r)]
    assert leaked == [], caplog.text[-600:]


def test_header_mode_non_utf8_user_is_refused(make_gateway: GatewayFactory) -> None:
    """Header mode: a trusted proxy that sends a Latin-1 user name (`jos\\xe9`) was decided on
    with a name no sink could write, so the decision went unaudited. It is refused now (401
    untrusted_identity_header), and that refusal is no decision on a file."""
    from gateway.audit import StdoutSink

    stream = io.BytesIO()
    gateway = make_gateway(sinks=[StdoutSink(stream)], **{"identity.mode": "header"})
    answer = raw_bytes(gateway.url, b"GET /v1/files HTTP/1.1\r\nHost: x\r\n"
                       b"Authorization: Bearer sk-x\r\nX-Forwarded-User: jos\xe9\r\n"
                       b"X-Forwarded-Org: acme\r\nConnection: close\r\n\r\n")
    assert b" 401 " in answer.split(b"\r\n", 1)[0], answer[:200]
    assert b"untrusted_identity_header" in answer
    errors = gateway.metric("files_gateway_audit_events_total", sink="stdout", result="error")
    assert errors == 0.0


def test_retag_with_malformed_id_is_audited(make_gateway: GatewayFactory) -> None:
    """POST /gateway/v1/files/{id}/access (a flag change, action retag) with a malformed id is a
    refused decision: one audit event, like the same refusal on /v1/files/{id}."""
    sink = MemorySink()
    gateway = make_gateway(sinks=[sink])
    reply = call(gateway.url, "POST", "/gateway/v1/files/file.a.b/access",
                 {**ALICE, "Content-Type": "application/json"}, b'{"flags": []}')
    assert (reply.status, reply.code) == (400, "invalid_file_id")
    assert len(wait_events(sink, 1)) == 1


def test_streamed_response_with_references_is_one_event_per_reference(
    make_gateway: GatewayFactory,
) -> None:
    """A streamed Responses call naming alice's file writes one reference event; one naming
    bob's private file one deny event; a client gone mid-stream adds nothing."""
    sink = MemorySink()
    gateway = make_gateway(sinks=[sink])
    mine = upload(gateway, ALICE, purpose="user_data")
    bobs = upload(gateway, BOB, flags="private_only", purpose="user_data")
    sink.events.clear()

    def body(file_id: str) -> bytes:
        return json.dumps({"model": "gpt-4o", "stream": True, "input": [{"role": "user", "content": [
            {"type": "input_file", "file_id": file_id}]}]}).encode()

    headers = {**ALICE, "Content-Type": "application/json"}
    ok = call(gateway.url, "POST", "/v1/responses", headers, body(mine))
    assert ok.status == 200, ok.body
    denied = call(gateway.url, "POST", "/v1/responses", headers, body(bobs))
    assert denied.code == "private_only_forbidden"
    # Gone mid-stream: the headers read, the connection dropped.
    conn = http.client.HTTPConnection("127.0.0.1", int(gateway.url.rsplit(":", 1)[1]), timeout=10)
    conn.request("POST", "/v1/responses", body(mine), headers)
    conn.getresponse().read(10)
    conn.close()
    events = wait_events(sink, 3)
    assert [(e["action"], e["decision"], e["file_id"]) for e in events] == [
        ("reference", "allow", mine), ("reference", "deny", bobs), ("reference", "allow", mine)]


def test_a_chatkit_thread_list_with_a_cursor_is_one_decision(make_gateway: GatewayFactory) -> None:
    """GET /v1/files?after=<id> is one list decision (the cursor is checked inside it): one
    event, one metric. GET /v1/chatkit/threads?after=<thread> should be the same, not one
    event for the cursor and another for the list."""
    sink = MemorySink()
    gateway = make_gateway(sinks=[sink])
    gateway.client("alice").beta.chatkit.sessions.create(user="customer-17",
                                                         workflow={"id": "wf_support"})
    threads = [gateway.sandbox.chatkit_thread("customer-17", f"t{i}") for i in range(3)]
    mine = upload(gateway, ALICE)
    sink.events.clear()
    before = decisions_total(gateway)
    assert call(gateway.url, "GET", f"/v1/files?after={mine}", ALICE).status == 200
    files_events = wait_events(sink, 1)
    files_metric = decisions_total(gateway) - before
    sink.events.clear()
    before = decisions_total(gateway)
    assert call(gateway.url, "GET", f"/v1/chatkit/threads?after={threads[-1]}",
                {**ALICE, "OpenAI-Beta": "chatkit_beta=v1"}).status == 200
    chatkit_events = wait_events(sink, 1)
    chatkit_metric = decisions_total(gateway) - before
    assert (len(files_events), files_metric) == (1, 1)
    assert (len(chatkit_events), chatkit_metric) == (1, 1), [
        (e["action"], e["decision"], e["file_id"]) for e in chatkit_events]
