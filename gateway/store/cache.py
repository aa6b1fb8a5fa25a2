"""Per-process record caches that answer only while they know they are fresh.

Both keep decoded records in memory, bounded, and never answer from memory unless a check that
any write elsewhere would have failed has just passed (DESIGN §7: no stale allow):

- With Redis, every write publishes the file id on a channel; each process drops what it hears.
  The process also publishes a heartbeat there and listens for it: the cache answers only while
  a heartbeat came back within the last second, so within a second of a store outage every
  decision goes to the store again, and fails closed there (503). When the channel is lost, the
  cache is emptied, since invalidations may have been missed.
- With SQLite, every read first asks the database's `PRAGMA data_version`, which changes when
  any other connection (another worker, `files-gateway backfill`) has committed since the last
  ask; then the cache is emptied. The question is a few microseconds on the event loop: in WAL
  mode it reads shared memory and never waits for a writer (a busy database is answered "not
  fresh" at once, and the read goes to the store).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from gateway.records import FileRecord
from gateway.store.base import RecordStore
from gateway.store.redis import INVALIDATE

log = logging.getLogger("files_gateway.cache")
HEARTBEAT_SECONDS = 0.25
FRESH_SECONDS = 1.0
_MISSING = object()


class RecordCache:
    """The shared core: a subclass says whether the cache is fresh right now."""

    def __init__(self, inner: RecordStore, max_entries: int) -> None:
        self._inner = inner
        self._max = max_entries
        self._entries: dict[str, FileRecord | None] = {}
        # Bumped on every invalidation: a read that raced with one is not cached.
        self._generation = 0

    def fresh(self) -> bool:
        """True when the cache may answer now; may empty it first (what changed is unknown)."""
        raise NotImplementedError

    def start(self) -> None:
        """Background work a subclass needs; none by default."""

    def _forget_all(self) -> None:
        self._entries.clear()
        self._generation += 1

    def _keep(self, generation: int, found: dict[str, FileRecord | None], *, evict: bool) -> None:
        """`evict` is for single lookups only: a list reads records once each, and letting it
        push out the oldest would flush every hot record with one long list (and, with a list
        longer than the cache, leave nothing of it for the next one either)."""
        # fresh() first: it may empty the cache, which the generation check then sees.
        if not self.fresh() or generation != self._generation:
            return
        entries = self._entries
        for file_id, record in found.items():
            if len(entries) >= self._max:
                if not evict:
                    return
                entries.pop(next(iter(entries)))
            entries[file_id] = record

    async def get(self, file_id: str) -> FileRecord | None:
        if self.fresh():
            cached = self._entries.get(file_id, _MISSING)
            if cached is not _MISSING:
                return cached  # type: ignore[return-value]
        generation = self._generation
        record = await self._inner.get(file_id)
        self._keep(generation, {file_id: record}, evict=True)
        return record

    async def get_many(self, file_ids: Sequence[str]) -> dict[str, FileRecord]:
        if not self.fresh():
            return await self._inner.get_many(file_ids)
        entries = self._entries
        found: dict[str, FileRecord] = {}
        missing: list[str] = []
        for file_id in file_ids:  # one pass: a list page asks for 10,000 ids at a time
            cached = entries.get(file_id, _MISSING)
            if cached is _MISSING:
                missing.append(file_id)
            elif cached is not None:
                found[file_id] = cached  # type: ignore[assignment]
        if missing:
            generation = self._generation
            fetched = await self._inner.get_many(missing)
            self._keep(generation, {file_id: fetched.get(file_id) for file_id in missing}, evict=False)
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
        await self._inner.close()


class RedisCachedStore(RecordCache):
    def __init__(self, inner: RecordStore, client: aioredis.Redis, max_entries: int) -> None:
        super().__init__(inner, max_entries)
        self._client = client
        self._heard = 0.0
        self._token = f"hb:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._tasks: list[asyncio.Task[None]] = []

    def fresh(self) -> bool:
        return time.monotonic() - self._heard < FRESH_SECONDS

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._listen(), name="cache-listen"),
                       asyncio.create_task(self._beat(), name="cache-heartbeat")]

    async def _listen(self) -> None:
        while True:
            pubsub = self._client.pubsub()
            try:
                await pubsub.subscribe(INVALIDATE)
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True,
                                                       timeout=HEARTBEAT_SECONDS)
                    if not self.fresh():
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

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=2 * FRESH_SECONDS)
        await super().close()


class SqliteCachedStore(RecordCache):
    def __init__(self, inner: RecordStore, path: Path, max_entries: int) -> None:
        super().__init__(inner, max_entries)
        # Autocommit and no busy wait: the probe never holds a transaction open, never blocks.
        self._probe = sqlite3.connect(path, timeout=0, isolation_level=None)
        self._version: int | None = None
        self._checked_this_turn = False

    def fresh(self) -> bool:
        # One check serves every callback until the one it queues has run. asyncio's loop runs
        # I/O callbacks from that same first-in-first-out queue, so whatever is served in
        # between was read off a socket before the check: a write another process committed
        # before a request was sent is still seen by the check that serves the request. Under
        # load one turn of the loop serves many requests; a check each was 5 % of a refusal
        # (issue 6).
        if self._checked_this_turn:
            return True
        try:
            # fetchall() steps the statement to its end, so no read transaction stays open.
            version = self._probe.execute("PRAGMA data_version").fetchall()[0][0]
        except sqlite3.Error:
            return False
        if version != self._version:
            self._forget_all()
            self._version = version
        loop = asyncio.get_running_loop()
        # Another loop (uvloop) runs I/O callbacks outside that queue: it is asked every time.
        if isinstance(loop, asyncio.SelectorEventLoop):
            self._checked_this_turn = True
            loop.call_soon(self._next_turn)
        return True

    def _next_turn(self) -> None:
        self._checked_this_turn = False

    async def close(self) -> None:
        self._probe.close()
        await super().close()
