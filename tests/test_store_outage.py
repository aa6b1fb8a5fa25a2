"""Fail closed: a store that cannot answer gives 503, never an allow, and recovery is automatic."""

from __future__ import annotations

import io
import json
import threading
import time

import pytest

from tests.conftest import Gateway, GatewayFactory
from tests.http import Reply, call
from tests.servers import RedisServer

ALICE = {"Authorization": "Bearer sk-alice"}


@pytest.fixture
def redis_gateway(make_gateway: GatewayFactory, own_redis: RedisServer) -> Gateway:
    # Without the record cache: then not a single answer may come from memory (issue 2).
    return make_gateway(store=own_redis.url, store_timeout_seconds=0.5, cache_entries=0)


def timed(gateway: Gateway, path: str) -> tuple[Reply, float]:
    started = time.monotonic()
    reply = call(gateway.url, "GET", path, ALICE, timeout=10)
    return reply, time.monotonic() - started


def assert_store_unavailable(reply: Reply, elapsed: float) -> None:
    assert reply.status == 503, reply.body
    assert reply.code == "policy_store_unavailable"
    assert reply.headers["retry-after"] == "1"
    assert "x-should-retry" not in reply.headers  # not a refusal: the SDK may retry
    assert elapsed < 3.0


def test_paused_then_killed_store_gives_503_and_recovers(
    redis_gateway: Gateway, own_redis: RedisServer
) -> None:
    """SIGSTOP then SIGKILL of Redis give fast 503s; a restarted Redis serves again unaided."""
    gateway = redis_gateway
    file_id = gateway.client("alice").files.create(
        file=("a.jsonl", io.BytesIO(b"{}\n")), purpose="batch"
    ).id
    content = f"/v1/files/{file_id}/content"
    assert call(gateway.url, "GET", content, ALICE).status == 200

    own_redis.pause()
    gateway.sandbox.clear()
    for path in (content, f"/v1/files/{file_id}", "/v1/files"):
        assert_store_unavailable(*timed(gateway, path))
    assert [r["path"] for r in gateway.sandbox.requests() if r["path"] != "/v1/files"] == []

    own_redis.kill()
    assert_store_unavailable(*timed(gateway, content))
    ready = call(gateway.admin_url, "GET", "/readyz")
    assert ready.status == 503
    assert ready.json()["store"] is False
    metrics = gateway.metrics()
    assert 'files_gateway_store_errors_total{operation="get"}' in metrics
    assert (
        'files_gateway_decisions_total{action="download",decision="error",purpose="unknown",'
        'reason="policy_store_unavailable"} 2.0' in metrics
    )

    own_redis.start()
    # The records were in the killed Redis (it keeps nothing on disk): the file is now
    # untracked, which is a denial, never an allow.
    deadline = time.monotonic() + 5
    reply = call(gateway.url, "GET", content, ALICE)
    while reply.status == 503 and time.monotonic() < deadline:
        time.sleep(0.1)
        reply = call(gateway.url, "GET", content, ALICE)
    assert (reply.status, reply.code) == (403, "file_untracked")
    fresh = gateway.client("alice").files.create(
        file=("b.jsonl", io.BytesIO(b"{}\n")), purpose="batch"
    ).id
    assert call(gateway.url, "GET", f"/v1/files/{fresh}/content", ALICE).status == 200
    assert call(gateway.admin_url, "GET", "/readyz").status == 200


def test_upload_not_recorded_is_compensated(
    redis_gateway: Gateway, own_redis: RedisServer
) -> None:
    """An upload the store cannot record is deleted upstream and answered with 503."""
    gateway = redis_gateway
    gateway.sandbox.faults({"delay": {"POST /v1/files": 1.0}})
    gateway.sandbox.clear()
    boundary = "b0undary"
    body = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n"
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.jsonl\"\r\n"
        f"Content-Type: application/octet-stream\r\n\r\n{{}}\n\r\n--{boundary}--\r\n"
    ).encode()
    killer = threading.Timer(0.3, own_redis.kill)
    killer.start()
    reply = call(
        gateway.url, "POST", "/v1/files",
        {**ALICE, "Content-Type": f"multipart/form-data; boundary={boundary}"}, body,
    )
    killer.join()
    assert (reply.status, reply.code) == (503, "policy_store_unavailable")
    seen = [(r["method"], r["path"]) for r in gateway.sandbox.requests()]
    assert seen[0] == ("POST", "/v1/files")
    created = [r for r in gateway.sandbox.requests() if r["method"] == "DELETE"]
    assert len(created) == 1
    gateway.sandbox.faults({})
    listing = call(gateway.sandbox.url, "GET", "/v1/files", ALICE).json()
    assert listing["data"] == []


def test_this_stop_s_new_checks_fail_closed_when_the_store_is_down(
    redis_gateway: Gateway, own_redis: RedisServer
) -> None:
    """Every new way of deciding (a file named to an API without rules, a fine-tuned model, a
    ChatKit end user, an agent session, a phone call claimed, a Live recording) is a 503 that
    nothing passes while the store is down."""
    gateway = redis_gateway
    file_id = gateway.client("alice").files.create(
        file=("a.jsonl", io.BytesIO(b"{}\n")), purpose="user_data"
    ).id
    own_redis.pause()
    gateway.sandbox.clear()
    asks = (
        ("/v1/realtime/client_secrets", {"session": {"tools": [{"type": "code_interpreter",
                                                                "container": {"file_ids": [file_id]}}]}}),
        ("/v1/responses", {"model": "ft:gpt-4o-mini:acme::abc123", "input": "hi"}),
        ("/v1/chatkit/sessions", {"user": "customer-17", "workflow": {"id": "wf"}}),
        ("/v1/agents/sessions", {"agent": {"model": "gpt-5"}, "environment": {
            "type": "openai_hosted", "files": [{"type": "file_id", "file_id": file_id,
                                                "path": "/workspace/a"}]}}),
        ("/v1/realtime/calls/rtc_abc/accept", {"type": "realtime"}),  # claiming a phone call
    )
    for path, body in asks:
        started = time.monotonic()
        reply = call(gateway.url, "POST", path, {**ALICE, "Content-Type": "application/json"},
                     json.dumps(body).encode(), timeout=10)
        assert_store_unavailable(reply, time.monotonic() - started)
    assert_store_unavailable(*timed(gateway, "/v1/models/ft:gpt-4o-mini:acme::abc123"))
    assert_store_unavailable(*timed(gateway, "/v1/live/sessions/live_abc/content"))
    assert gateway.sandbox.requests() == []
