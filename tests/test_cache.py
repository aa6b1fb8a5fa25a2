"""The per-process record cache: shared invalidation, no stale allow, and a one-second bound
on answering from memory once the store is gone (DESIGN §7)."""

from __future__ import annotations

import asyncio
import io
import json
import time
from pathlib import Path

import openai
import pytest

from gateway.store.sqlite import SqliteStore
from tests.conftest import Gateway, GatewayFactory
from tests.http import call
from tests.servers import RedisServer

ALICE = {"Authorization": "Bearer sk-alice"}


@pytest.fixture
def replicas(make_gateway: GatewayFactory, own_redis: RedisServer) -> list[Gateway]:
    started = [make_gateway(store=own_redis.url, store_timeout_seconds=0.5) for _ in range(2)]
    time.sleep(0.6)  # let each cache hear its own heartbeat once
    return started


def store_gets(gateway: Gateway) -> float:
    return gateway.metric("files_gateway_store_operation_duration_seconds_count", operation="get")


def cached_then_made_private(first: Gateway, second: Gateway) -> tuple[str, openai.OpenAI, float]:
    """alice's file, read by bob through `second` until its cache answers; then alice makes it
    private through `first`. Returns the file id, bob's client and `second`'s store gets."""
    file_id = first.client("alice").files.create(
        file=("a.jsonl", io.BytesIO(b"{}\n")), purpose="batch").id
    bob = second.client("bob")
    assert bob.files.retrieve(file_id).id == file_id
    before = store_gets(second)
    for _ in range(5):
        assert bob.files.content(file_id).content == b"{}\n"
    assert store_gets(second) == before  # served from the cache
    changed = call(first.url, "POST", f"/gateway/v1/files/{file_id}/access",
                   {**ALICE, "Content-Type": "application/json"},
                   json.dumps({"flags": ["private_only"]}).encode())
    assert changed.status == 200
    return file_id, bob, before


def test_cache_answers_and_invalidates_across_replicas(replicas: list[Gateway]) -> None:
    """A replica answers repeat lookups from memory, yet sees another's flag change at once."""
    first, second = replicas
    file_id, bob, _ = cached_then_made_private(first, second)
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        try:
            bob.files.content(file_id)
        except openai.PermissionDeniedError as refused:
            assert refused.code == "private_only_forbidden"
            break
        time.sleep(0.01)
    else:
        raise AssertionError("the flag change never reached the other replica's cache")
    first.client("alice").files.delete(file_id)
    time.sleep(0.1)
    with pytest.raises(openai.NotFoundError):
        second.client("alice").files.retrieve(file_id)


def test_cache_stops_answering_within_a_second_of_an_outage(
    replicas: list[Gateway], own_redis: RedisServer
) -> None:
    """After the store stops, cached answers end within about a second; then only 503."""
    gateway = replicas[0]
    file_id = gateway.client("alice").files.create(
        file=("a.jsonl", io.BytesIO(b"{}\n")), purpose="batch").id
    content = f"/v1/files/{file_id}/content"
    assert call(gateway.url, "GET", content, ALICE).status == 200
    own_redis.pause()
    paused = time.monotonic()
    first_refusal = None
    while time.monotonic() - paused < 4.0:
        reply = call(gateway.url, "GET", content, ALICE, timeout=10)
        assert reply.status in (200, 503)
        if reply.status == 503:
            first_refusal = first_refusal or time.monotonic() - paused
            assert reply.code == "policy_store_unavailable"
        else:
            assert first_refusal is None, "an answer from memory after the cache was dropped"
            assert time.monotonic() - paused < 1.0 + 0.5
    assert first_refusal is not None and first_refusal < 2.0
    own_redis.resume()
    deadline = time.monotonic() + 5
    while call(gateway.url, "GET", content, ALICE).status != 200:
        assert time.monotonic() < deadline, "did not recover"
        time.sleep(0.1)


def test_sqlite_cache_answers_from_memory_and_sees_every_other_writer_at_once(
    make_gateway: GatewayFactory, tmp_path: Path
) -> None:
    """Two gateways on one SQLite file: repeat lookups come from memory, yet a flag change by
    the other gateway, or a record written by any other connection, counts on the next request."""
    first, second = make_gateway(), make_gateway()  # one records.db between them
    file_id, bob, before = cached_then_made_private(first, second)
    with pytest.raises(openai.PermissionDeniedError) as refused:
        bob.files.content(file_id)  # no wait: the next read asks the database what changed
    assert refused.value.code == "private_only_forbidden"
    assert store_gets(second) == before + 1

    async def tombstone() -> None:  # e.g. an operator's script, or `files-gateway backfill`
        store = SqliteStore(tmp_path / "records.db", 1.0)
        await store.open()
        record = await store.get(file_id)
        assert record is not None
        await store.put(record.tombstone())
        await store.close()

    alice = second.client("alice")
    assert alice.files.retrieve(file_id).id == file_id
    asyncio.run(tombstone())
    with pytest.raises(openai.NotFoundError):
        alice.files.retrieve(file_id)


def test_a_list_longer_than_the_cache_leaves_hot_records_in_it(make_gateway: GatewayFactory) -> None:
    """A list fills only the cache's free room: downloads of a hot file stay in memory after
    a list of more files than the cache holds."""
    gateway = make_gateway(cache_entries=4)
    alice = gateway.client("alice")
    hot = alice.files.create(file=("h.jsonl", io.BytesIO(b"{}\n")), purpose="batch").id
    for n in range(10):
        alice.files.create(file=(f"{n}.jsonl", io.BytesIO(b"{}\n")), purpose="batch")
    assert alice.files.content(hot).content == b"{}\n"
    before = store_gets(gateway)
    assert alice.files.content(hot).content == b"{}\n"
    assert store_gets(gateway) == before  # the hot record is cached
    for _ in range(2):
        assert len(alice.files.list(limit=100).data) == 11
        assert alice.files.content(hot).content == b"{}\n"
    assert store_gets(gateway) == before
