"""The Redis store through Sentinel (`redis+sentinel://`), with a real redis-server in both roles."""

from __future__ import annotations

import io
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from gateway.store.redis import PREFIX
from tests.conftest import GatewayFactory
from tests.servers import HOST, RedisServer, free_port, redis_binary, wait_for_port


@pytest.fixture
def sentinel(own_redis: RedisServer, tmp_path: Path) -> Iterator[int]:
    port = free_port()
    config = tmp_path / "sentinel.conf"
    config.write_text(
        f"port {port}\nbind {HOST}\ndir {tmp_path}\n"
        f"sentinel monitor mymaster {HOST} {own_redis.port} 1\n"
        "sentinel down-after-milliseconds mymaster 1000\n"
    )
    proc = subprocess.Popen([redis_binary(), str(config), "--sentinel"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_port(port)
    yield port
    proc.terminate()
    proc.wait(timeout=10)


def test_records_go_through_sentinel_to_the_master(
    make_gateway: GatewayFactory, own_redis: RedisServer, sentinel: int
) -> None:
    """A gateway on redis+sentinel:// finds the master through Sentinel and keeps records there."""
    gateway = make_gateway(store=f"redis+sentinel://{HOST}:{sentinel}/mymaster/0")
    created = gateway.client("alice").files.create(
        file=("a.jsonl", io.BytesIO(b"{}\n")), purpose="batch",
        extra_headers={"X-File-Access": "private_only"},
    )
    assert gateway.client("alice").files.content(created.id).content == b"{}\n"
    master = redis.Redis(host=HOST, port=own_redis.port)
    stored = master.get(PREFIX + created.id)
    master.close()
    assert stored is not None
    assert b'"owner":"alice"' in stored
