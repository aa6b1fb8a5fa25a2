"""The audit log: one event per decision on every exit path, durable sinks, no secrets (issue #5)."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import aiohttp
import pytest
import redis
from aiohttp.test_utils import TestServer
from prometheus_client import CollectorRegistry
from pytest_aiohttp import AiohttpServer

from gateway import keys
from gateway.app import create_app
from gateway.audit import AuditLog, AuditSink, StdoutSink
from gateway.audit_sinks import JsonlSink, RedisStreamSink
from gateway.audit_verify import verify_chain
from gateway.metrics import Metrics
from gateway.store.redis import connect
from tests.conftest import MemorySink, Sandbox, make_settings
from tests.servers import RedisServer, free_port
from tests.test_cli import run_cli

DESIGN_FIELDS = {
    "event", "timestamp", "decision_id", "request_id", "action", "decision", "reason", "file_id",
    "purpose", "flags", "owner", "owner_org", "principal", "org", "key_fingerprint", "api",
    "method", "route", "upstream_status", "policy_version", "client_ip",
}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


class BrokenSink:
    name = "broken"

    def write(self, event: Mapping[str, Any]) -> None:
        raise OSError("disk on fire")


@dataclass
class Audited:
    server: TestServer
    sink: MemorySink
    session: aiohttp.ClientSession
    sandbox: Sandbox

    @property
    def url(self) -> str:
        return str(self.server.make_url(""))

    def metrics(self) -> Metrics:
        return self.server.app[keys.METRICS]

    def audit_count(self, sink: str, result: str) -> float:
        value = self.metrics().registry.get_sample_value(
            "files_gateway_audit_events_total", {"sink": sink, "result": result}
        )
        return value or 0.0

    async def upload(self, key: str, content: bytes, purpose: str = "batch", flags: str = "") -> str:
        form = aiohttp.FormData()
        form.add_field("purpose", purpose)
        form.add_field("file", io.BytesIO(content), filename="data.jsonl")
        headers = {**bearer(key), **({"X-File-Access": flags} if flags else {})}
        async with self.session.post(self.url + "/v1/files", data=form, headers=headers) as reply:
            assert reply.status == 200, await reply.text()
            return str((await reply.json())["id"])

    async def get(self, path: str, key: str = "sk-alice") -> int:
        async with self.session.get(self.url + path, headers=bearer(key)) as reply:
            await reply.read()
            return reply.status

    async def wait_for(self, count: int) -> list[dict[str, Any]]:
        """Wait until `count` events arrived, then a little longer to catch any extra one."""
        await eventually(lambda: len(self.sink.events) >= count)
        await asyncio.sleep(0.2)
        return self.sink.events


async def eventually(condition: Callable[[], bool], within: float = 10.0) -> None:
    for _ in range(int(within / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)


def stream_events(url: str, stream: str) -> list[str]:
    client = redis.Redis.from_url(url, decode_responses=True)
    entries = cast(list[tuple[str, dict[str, str]]], client.xrange(stream))
    client.close()
    return [fields["event"] for _, fields in entries]


async def start_audited(
    aiohttp_server: AiohttpServer, sandbox: Sandbox, tmp_path: Path, *extra_sinks: AuditSink,
    **overrides: Any,
) -> Audited:
    sink = MemorySink()
    settings = make_settings(sandbox.url, f"sqlite:///{tmp_path / 'records.db'}", **overrides)
    app = create_app(settings, audit_sinks=[sink, *extra_sinks])
    # aiohttp's test server runs with handler_cancellation: a client that goes away cancels
    # its handler, the harshest exit path.
    server = await aiohttp_server(app)
    return Audited(server, sink, aiohttp.ClientSession(), sandbox)


@pytest.fixture
async def audited(
    aiohttp_server: AiohttpServer, sandbox: Sandbox, tmp_path: Path
) -> Any:
    running = await start_audited(
        aiohttp_server, sandbox, tmp_path, **{"upstream.timeout_seconds": 1.0}
    )
    yield running
    await running.session.close()


async def test_allow_and_deny_write_one_event_each_with_every_field(audited: Audited) -> None:
    """An allowed upload and download and a refused download each write one complete event."""
    file_id = await audited.upload("sk-alice", b"{}\n", flags="private_only")
    assert await audited.get(f"/v1/files/{file_id}/content") == 200
    assert await audited.get(f"/v1/files/{file_id}/content", "sk-bob") == 403
    events = await audited.wait_for(3)
    assert [(e["action"], e["decision"], e["reason"]) for e in events] == [
        ("upload", "allow", "owner"), ("download", "allow", "owner"),
        ("download", "deny", "private_only_forbidden"),
    ]
    for event in events:
        assert set(event) == DESIGN_FIELDS
        assert event["event"] == "file_access_decision"
        assert event["timestamp"].endswith("+00:00")
        assert event["file_id"] == file_id and event["flags"] == ["private_only"]
        assert event["owner"] == "alice" and event["owner_org"] == "acme"
    assert events[1]["route"] == "/v1/files/{file_id}/content"
    assert events[1]["upstream_status"] == 200
    assert events[2]["principal"] == "bob" and events[2]["upstream_status"] is None
    assert len({e["decision_id"] for e in events}) == 3


async def test_upstream_timeout_writes_one_error_event(audited: Audited) -> None:
    """An upstream that times out gives 504 and exactly one event with decision error."""
    file_id = await audited.upload("sk-alice", b"{}\n")
    audited.sink.events.clear()
    await asyncio.to_thread(audited.sandbox.faults, {"delay": {"GET /v1/files": 3}})
    assert await audited.get(f"/v1/files/{file_id}/content") == 504
    events = await audited.wait_for(1)
    assert [(e["decision"], e["reason"]) for e in events] == [("error", "upstream_timeout")]


async def test_client_gone_while_upstream_is_slow_writes_one_event(audited: Audited) -> None:
    """A client that leaves while the upstream is slow cancels the handler; one event is written."""
    file_id = await audited.upload("sk-alice", b"{}\n")
    audited.sink.events.clear()
    await asyncio.to_thread(audited.sandbox.faults, {"delay": {"GET /v1/files": 2}})
    with pytest.raises(TimeoutError):
        async with audited.session.get(
            f"{audited.url}/v1/files/{file_id}/content", headers=bearer("sk-alice"),
            timeout=aiohttp.ClientTimeout(total=0.3),
        ) as reply:
            await reply.read()
    events = await audited.wait_for(1)
    await asyncio.sleep(2.0)  # the upstream's answer arrives after the cancellation: no 2nd event
    assert len(events) == 1
    assert (events[0]["action"], events[0]["decision"]) == ("download", "allow")


async def test_client_disconnect_mid_download_writes_one_event(audited: Audited) -> None:
    """A client that closes the connection mid-download still produces exactly one event."""
    file_id = await audited.upload("sk-alice", b"x" * (32 * 1024 * 1024))
    audited.sink.events.clear()
    reply = await audited.session.get(
        f"{audited.url}/v1/files/{file_id}/content", headers=bearer("sk-alice")
    )
    assert reply.status == 200
    assert len(await reply.content.read(65536)) > 0
    reply.close()  # drops the connection with most of the body unsent
    events = await audited.wait_for(1)
    assert len(events) == 1
    assert (events[0]["action"], events[0]["decision"], events[0]["file_id"]) == (
        "download", "allow", file_id)


async def test_client_gone_mid_upload_writes_one_error_event(audited: Audited) -> None:
    """An upload abandoned mid-body, before the purpose is known, is one error event."""
    host, port = audited.server.host, audited.server.port
    assert port is not None
    _, writer = await asyncio.open_connection(host, port)
    boundary = "b0undary"
    head = (
        f"POST /v1/files HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer sk-alice\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: 10000000\r\n\r\n"
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\n'
    )
    writer.write(head.encode() + b"y" * 4096)
    await writer.drain()
    await asyncio.sleep(0.3)
    writer.close()
    await writer.wait_closed()
    events = await audited.wait_for(1)
    assert len(events) == 1
    assert (events[0]["action"], events[0]["decision"]) == ("upload", "error")
    assert events[0]["reason"] == "client_disconnected"


async def test_no_key_authorization_or_file_bytes_in_any_sink(
    aiohttp_server: AiohttpServer, sandbox: Sandbox, tmp_path: Path,
    redis_server: RedisServer, capsys: pytest.CaptureFixture[str],
) -> None:
    """stdout, the JSONL file and the Redis stream never hold a key, a bearer value or file bytes."""
    stream = f"audit-{uuid.uuid4().hex}"
    running = await start_audited(
        aiohttp_server, sandbox, tmp_path, StdoutSink(), **{
            "audit.jsonl_path": str(tmp_path / "audit.jsonl"), "audit.redis_stream": stream,
            "audit.redis_url": redis_server.url,
        },
    )
    marker = f"FILE-BYTES-{uuid.uuid4().hex}".encode()
    try:
        file_id = await running.upload("sk-alice", marker, flags="no_download")
        for key in ("sk-alice", "sk-bob", "sk-unknown-secret"):
            await running.get(f"/v1/files/{file_id}/content", key)
            await running.get(f"/v1/files/{file_id}", key)
        await running.wait_for(7)
    finally:
        await running.session.close()
    await running.server.close()  # drains the Redis sink
    stdout = capsys.readouterr().out
    jsonl = (tmp_path / "audit.jsonl").read_text()
    streamed = "\n".join(stream_events(redis_server.url, stream))
    for where, text in (("stdout", stdout), ("jsonl", jsonl), ("redis", streamed)):
        assert text.count("file_access_decision") == 7, where
        for secret in ("sk-alice", "sk-bob", "sk-unknown-secret", "Bearer", marker.decode()):
            assert secret not in text, (where, secret)
    assert verify_chain(tmp_path / "audit.jsonl").ok


async def test_failing_sink_never_fails_a_request_and_logs_once(
    aiohttp_server: AiohttpServer, sandbox: Sandbox, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A sink that raises leaves the request unharmed; failures are counted, logged once."""
    running = await start_audited(aiohttp_server, sandbox, tmp_path, BrokenSink())
    try:
        with caplog.at_level(logging.ERROR, logger="files_gateway.audit"):
            for _ in range(20):
                assert await running.get("/v1/files/file-unknown") == 403
    finally:
        await running.session.close()
    assert len(running.sink.events) == 20
    assert running.audit_count("broken", "error") == 20
    assert running.audit_count("memory", "ok") == 20
    failures = [r for r in caplog.records if "audit sink broken failed" in r.getMessage()]
    assert len(failures) == 1


@pytest.mark.parametrize("dead", ["refused", "paused"])
async def test_dead_redis_sink_does_not_slow_requests(
    aiohttp_server: AiohttpServer, sandbox: Sandbox, tmp_path: Path, own_redis: RedisServer,
    caplog: pytest.LogCaptureFixture, dead: str,
) -> None:
    """A refused or hung Redis stream: requests stay fast, errors are counted and logged once."""
    url = own_redis.url if dead == "paused" else f"redis://127.0.0.1:{free_port()}/0"
    if dead == "paused":
        own_redis.pause()
    running = await start_audited(
        aiohttp_server, sandbox, tmp_path, store_timeout_seconds=0.3,
        **{"audit.redis_stream": "audit", "audit.redis_url": url},
    )
    try:
        with caplog.at_level(logging.ERROR, logger="files_gateway.audit"):
            started = time.monotonic()
            for _ in range(30):
                assert await running.get("/v1/files/file-unknown") == 403
            assert time.monotonic() - started < 3.0
            await eventually(lambda: running.audit_count("redis", "error") > 0)
    finally:
        await running.session.close()
        await running.server.close()
        own_redis.resume()
    assert running.audit_count("redis", "error") == 30
    assert running.audit_count("redis", "ok") == 0
    failures = [r for r in caplog.records if "audit sink redis failed" in r.getMessage()]
    assert len(failures) == 1


async def test_redis_stream_gets_every_event_with_approximate_maxlen(
    redis_server: RedisServer, sandbox: Sandbox
) -> None:
    """Events are XADDed as JSON and the stream is trimmed near MAXLEN, never unbounded."""
    stream = f"audit-{uuid.uuid4().hex}"
    settings = make_settings(sandbox.url, "sqlite:///:memory:")
    metrics = Metrics(CollectorRegistry(), settings.policy)
    sink = RedisStreamSink(connect(redis_server.url, 1.0), stream, 100, timeout=1.0)
    audit = AuditLog(metrics, [sink])
    sink.start()
    for number in range(2000):
        audit.emit({"event": "file_access_decision", "number": number})
    await sink.close()
    assert metrics.registry.get_sample_value(
        "files_gateway_audit_events_total", {"sink": "redis", "result": "ok"}) == 2000
    events = stream_events(redis_server.url, stream)
    assert 100 <= len(events) < 2000
    assert json.loads(events[-1])["number"] == 1999


def test_full_queue_drops_and_counts() -> None:
    """When the Redis queue is full, further events are dropped and counted as errors."""

    async def scenario() -> Metrics:
        settings = make_settings("http://127.0.0.1:1", "sqlite:///:memory:")
        metrics = Metrics(CollectorRegistry(), settings.policy)
        sink = RedisStreamSink(connect("redis://127.0.0.1:1/0", 0.2), "s", 10, timeout=0.2,
                               queue_size=5)
        audit = AuditLog(metrics, [sink])
        for number in range(12):  # the drain task is not running: nothing leaves the queue
            audit.emit({"event": "file_access_decision", "number": number})
        await sink.close(drain_timeout=0.01)
        return metrics

    metrics = asyncio.run(scenario())
    errors = metrics.registry.get_sample_value(
        "files_gateway_audit_events_total", {"sink": "redis", "result": "error"})
    assert errors == 12  # 7 overflowed, 5 still queued at shutdown


def write_chain(path: Path, count: int, start: int = 0) -> None:
    sink = JsonlSink(path)
    for number in range(start, start + count):
        sink.write({"event": "file_access_decision", "number": number})
    sink.close()


def test_jsonl_chain_continues_across_restarts_and_writers(tmp_path: Path) -> None:
    """Reopened files and two interleaved writers (workers) keep one intact hash chain."""
    path = tmp_path / "audit.jsonl"
    write_chain(path, 3)
    write_chain(path, 3, start=3)
    first, second = JsonlSink(path), JsonlSink(path)
    for number in range(6, 12):
        (first if number % 2 else second).write({"number": number})
    first.close()
    second.close()
    lines = path.read_text().splitlines()
    assert [json.loads(line)["number"] for line in lines] == list(range(12))
    assert json.loads(lines[0])["prev_hash"] == "0" * 64
    assert verify_chain(path).ok and verify_chain(path).lines == 12


@pytest.mark.parametrize(
    ("tamper", "broken"),
    [
        ("edit", 4),      # line 3 altered: line 4's link to it breaks
        ("delete", 3),    # line 3 removed: line 3 (formerly 4) no longer links to line 2
        ("insert", 3),    # a forged line 3 links to nothing
        ("torn", 7),      # a torn last write
    ],
)
def test_verify_reports_the_first_broken_link(tmp_path: Path, tamper: str, broken: int) -> None:
    """`audit verify` names the first line whose link breaks, and exits non-zero."""
    path = tmp_path / "audit.jsonl"
    write_chain(path, 6)
    lines = path.read_text().splitlines(keepends=True)
    if tamper == "edit":
        lines[2] = lines[2].replace('"number":2', '"number":20')
    elif tamper == "delete":
        del lines[2]
    elif tamper == "insert":
        lines.insert(2, json.dumps({"number": 99, "prev_hash": "f" * 64}) + "\n")
    else:
        lines.append('{"number": 6, "prev_')
    path.write_text("".join(lines))
    assert verify_chain(path).broken_line == broken
    result = run_cli("audit", "verify", str(path))
    assert result.returncode == 1
    assert f"audit.jsonl:{broken}: broken link" in result.stdout


def test_verify_accepts_an_intact_chain_and_a_writer_heals_a_torn_tail(tmp_path: Path) -> None:
    """An intact file verifies (exit 0); a torn last line stays visible after new writes."""
    path = tmp_path / "audit.jsonl"
    write_chain(path, 4)
    result = run_cli("audit", "verify", str(path))
    assert (result.returncode, result.stdout.strip()) == (0, "ok: 4 events, chain intact")
    with path.open("a") as handle:
        handle.write('{"torn":')
    write_chain(path, 2, start=4)
    report = verify_chain(path)
    assert (report.broken_line, report.lines) == (5, 5)
    assert "not valid JSON" in str(report.reason)
