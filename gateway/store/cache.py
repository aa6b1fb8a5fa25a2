"""A per-process record cache that answers only while its invalidation channel is healthy.

Every write through RedisStore publishes the file id on a channel; each process drops what it
hears. The process also publishes a heartbeat on that channel and listens for it: the cache
answers only while a heartbeat came back within the last second (DESIGN §7), so within a second
of a store outage every decision goes to the store again, and fails closed there (503). When the
channel is lost, the cache is emptied, since invalidations may have been missed."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import uuid
from collections.abc import Sequence

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from gateway.records import FileRecord
from gateway.store.base import RecordStore
from gateway.store.redis import INVALIDATE

log = logging.getLogger("files_gateway.cache")
HEARTBEAT_SECONDS = 0.25
FRESH_SECONDS = 1.0
_MISSING = object()


class CachedStore:
    def __init__(self, inner: RecordStore, client: aioredis.Redis, max_entries: int) -> None:
        self._inner = inner
        self._client = client
        self._max = max_entries
        self._entries: dict[str, FileRecord | None] = {}
        # Bumped on every invalidation: a read that raced with one is not cached.
        self._generation = 0
        self._heard = 0.0
        self._token = f"hb:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def healthy(self) -> bool:
        return time.monotonic() - self._heard < FRESH_SECONDS

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._listen(), name="cache-listen"),
                       asyncio.create_task(self._beat(), name="cache-heartbeat")]

    def _forget_all(self) -> None:
        self._entries.clear()
        self._generation += 1

    async def _listen(self) -> None:
        while True:
            pubsub = self._client.pubsub()
            try:
                await pubsub.subscribe(INVALIDATE)
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True,
                                                       timeout=HEARTBEAT_SECONDS)
                    if not self.healthy:
                        self._forget_all()
                    if message is None:
                        continue
                    data = message["data"]
                    text = data.decode() if isinstance(data, bytes) else str(data)
                    if text == self._token:
                        self._heard = time.monotonic()
                    elif not text.startswith("hb:"):
                        self._entries.pop(text, None)
                        self._generation += 1
            except (RedisError, OSError) as exc:
                log.warning("cache invalidation channel lost: %s", exc)
                self._heard = 0.0
                self._forget_all()
                await asyncio.sleep(HEARTBEAT_SECONDS)
            finally:
                # Bounded: closing must never hang on a connection the store left half-open.
                with contextlib.suppress(RedisError, OSError, TimeoutError):
                    async with asyncio.timeout(FRESH_SECONDS):
                        await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def _beat(self) -> None:
        while True:
            with contextlib.suppress(RedisError, OSError):
                await self._client.publish(INVALIDATE, self._token)
            await asyncio.sleep(HEARTBEAT_SECONDS)

    def _keep(self, generation: int, found: dict[str, FileRecord | None]) -> None:
        if generation != self._generation or not self.healthy:
            return
        for file_id, record in found.items():
            if len(self._entries) >= self._max:
                self._entries.pop(next(iter(self._entries)))
            self._entries[file_id] = record

    async def get(self, file_id: str) -> FileRecord | None:
        if self.healthy:
            cached = self._entries.get(file_id, _MISSING)
            if cached is not _MISSING:
                return cached  # type: ignore[return-value]
        generation = self._generation
        record = await self._inner.get(file_id)
        self._keep(generation, {file_id: record})
        return record

    async def get_many(self, file_ids: Sequence[str]) -> dict[str, FileRecord]:
        found: dict[str, FileRecord] = {}
        missing: list[str] = []
        healthy = self.healthy
        for file_id in file_ids:
            cached = self._entries.get(file_id, _MISSING) if healthy else _MISSING
            if cached is _MISSING:
                missing.append(file_id)
            elif cached is not None:
                found[file_id] = cached  # type: ignore[assignment]
        if missing:
            generation = self._generation
            fetched = await self._inner.get_many(missing)
            self._keep(generation, {file_id: fetched.get(file_id) for file_id in missing})
            found.update(fetched)
        return found

    async def put(self, record: FileRecord) -> None:
        self._entries.pop(record.file_id, None)
        await self._inner.put(record)

    async def put_if_absent(self, record: FileRecord) -> bool:
        self._entries.pop(record.file_id, None)
        return await self._inner.put_if_absent(record)

    async def due(self, now: float, limit: int) -> list[FileRecord]:
        return await self._inner.due(now, limit)

    async def lease(self, name: str, holder: str, ttl: float) -> bool:
        return await self._inner.lease(name, holder, ttl)

    async def release(self, name: str, holder: str) -> None:
        await self._inner.release(name, holder)

    async def learned_refusals(self) -> dict[str, str]:
        return await self._inner.learned_refusals()

    async def learn_refusal(self, purpose: str, date: str) -> None:
        await self._inner.learn_refusal(purpose, date)

    async def ping(self) -> None:
        await self._inner.ping()

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=2 * FRESH_SECONDS)
        await self._inner.close()
