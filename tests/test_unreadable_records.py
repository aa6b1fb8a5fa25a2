"""A stored record this version cannot read whole is never decided on.

Such a record is corrupt, or was written by a newer replica during a rolling upgrade: a flag
this version does not know may be a restriction, so ignoring it would fail open. Every request
that needs the record is a 503 (could not decide, retried by the SDK), and the expiry sweep goes
on past it. The records are rewritten in the real stores, as another process would."""

from __future__ import annotations

import io
import json
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import openai
import pytest
import redis

from gateway.store.redis import EXPIRY, PREFIX
from tests.conftest import Gateway, GatewayFactory, MemorySink
from tests.servers import RedisServer

Damage = Callable[[dict[str, object]], bytes]
# Rewrites one record's stored bytes; with `expires_at`, moves it in the expiry index too.
Rewrite = Callable[[str, Damage, "int | None"], None]

# How a record can be beyond this version: each is a 503 where, before, the first was an allow
# (the flag was ignored) and the others a 500 with a traceback.
DAMAGE: dict[str, Damage] = {
    "unknown flag": lambda data: json.dumps({**data, "flags": ["no_share"]}).encode(),
    "unknown field": lambda data: json.dumps({**data, "retention_class": "legal_hold"}).encode(),
    "not JSON": lambda data: b"\x00\x01 not a record",
    "a field of the wrong type": lambda data: json.dumps({**data, "owner": 17}).encode(),
}


@pytest.fixture(params=["sqlite", "redis"])
def setting(
    request: pytest.FixtureRequest, make_gateway: GatewayFactory, tmp_path: Path
) -> tuple[Gateway, MemorySink, Rewrite]:
    """A gateway without the record cache (every answer comes from the store), its audit
    events, and a way to rewrite one record's stored bytes."""
    sink = MemorySink()
    if request.param == "sqlite":
        path = tmp_path / "unreadable.db"
        gateway = make_gateway(store=f"sqlite:///{path}", cache_entries=0, sinks=[sink],
                               reaper_interval_seconds=0.2, **{"upstream.api_key": "sk-own"})

        def rewrite(file_id: str, damage: Damage, expires_at: int | None = None) -> None:
            with sqlite3.connect(path) as db:
                (data, expiry) = db.execute("SELECT data, expires_at FROM files WHERE file_id = ?",
                                            (file_id,)).fetchone()
                db.execute("UPDATE files SET data = ?, expires_at = ? WHERE file_id = ?",
                           (damage(json.loads(data)), expires_at or expiry, file_id))
    else:
        server: RedisServer = request.getfixturevalue("own_redis")
        gateway = make_gateway(store=server.url, cache_entries=0, sinks=[sink],
                               reaper_interval_seconds=0.2, **{"upstream.api_key": "sk-own"})

        def rewrite(file_id: str, damage: Damage, expires_at: int | None = None) -> None:
            with redis.Redis(host="127.0.0.1", port=server.port) as client:
                key = PREFIX + file_id
                client.set(key, damage(json.loads(client.get(key) or b"")))
                if expires_at is not None:
                    client.zadd(EXPIRY, {file_id: expires_at})
    return gateway, sink, rewrite


def upload(gateway: Gateway, **headers: str) -> str:
    return gateway.client("alice").files.create(
        file=("a.jsonl", io.BytesIO(b"{}\n")), purpose="batch", extra_headers=headers
    ).id


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_record_this_version_cannot_read_is_a_503_not_a_decision(
    setting: tuple[Gateway, MemorySink, Rewrite], damage: str
) -> None:
    gateway, sink, rewrite = setting
    file_id = upload(gateway)
    rewrite(file_id, DAMAGE[damage], None)
    gateway.sandbox.clear()
    del sink.events[:]
    alice = gateway.client("alice")
    for attempt in (lambda: alice.files.content(file_id), lambda: alice.files.retrieve(file_id),
                    lambda: alice.files.delete(file_id)):
        with pytest.raises(openai.InternalServerError) as refused:
            attempt()
        assert refused.value.status_code == 503
        assert refused.value.code == "policy_store_unavailable"
    assert gateway.sandbox.requests() == []
    assert [(e["action"], e["decision"], e["reason"], e["file_id"]) for e in sink.events] == [
        (action, "error", "policy_store_unavailable", file_id)
        for action in ("download", "retrieve", "delete")
    ]
    assert gateway.metric("files_gateway_decisions_total", action="download", decision="error",
                          reason="policy_store_unavailable") == 1
    assert gateway.metric("files_gateway_store_errors_total", operation="get") >= 3
    # The list cannot say whose the file is either: it is refused, not shown or hidden.
    with pytest.raises(openai.InternalServerError):
        alice.files.list()


def test_the_expiry_sweep_goes_on_past_a_record_it_cannot_read(
    setting: tuple[Gateway, MemorySink, Rewrite]
) -> None:
    gateway, _, rewrite = setting
    ids = [upload(gateway, **{"X-File-Access": "ephemeral"}) for _ in range(4)]
    past = int(time.time()) - 1
    for file_id in ids:
        rewrite(file_id, lambda data: json.dumps({**data, "expires_at": past}).encode(), past)
    rewrite(ids[0], DAMAGE["unknown field"], None)
    # Readable, but not as the reaper expects, and first in the index: before, this ended the
    # maintenance task.
    rewrite(ids[1], lambda data: json.dumps({**data, "expires_at": "tomorrow"}).encode(), past - 9)

    def deleted() -> list[str]:
        return sorted(r["path"] for r in gateway.sandbox.requests() if r["method"] == "DELETE")

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and len(deleted()) < 2:
        time.sleep(0.1)
    time.sleep(0.6)  # more sweeps: the two it cannot handle are still not deleted
    assert deleted() == sorted(f"/v1/files/{file_id}" for file_id in ids[2:])


def test_a_failure_no_check_foresaw_is_a_500_audited_once(
    setting: tuple[Gateway, MemorySink, Rewrite]
) -> None:
    """DESIGN's last reason, `internal_error`, had no test. A record that reads whole but holds
    what no check foresaw (an expiry that is not a time) fails inside the decision: a 500, no
    upstream call, and still exactly one audit event and one metric increment."""
    gateway, sink, rewrite = setting
    file_id = upload(gateway)
    rewrite(file_id, lambda data: json.dumps({**data, "expires_at": "tomorrow"}).encode(), None)
    gateway.sandbox.clear()
    del sink.events[:]
    with pytest.raises(openai.InternalServerError) as failed:
        gateway.client("alice").files.content(file_id)
    assert (failed.value.status_code, failed.value.code) == (500, "internal_error")
    assert gateway.sandbox.requests() == []
    assert [(e["action"], e["decision"], e["reason"], e["file_id"]) for e in sink.events] == [
        ("download", "error", "internal_error", file_id)]
    assert gateway.metric("files_gateway_decisions_total", action="download", decision="error",
                          reason="internal_error", purpose="batch") == 1
