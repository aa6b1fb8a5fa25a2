"""Times every store operation and counts its failures, around any backend."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from gateway.metrics import Metrics
from gateway.records import FileRecord
from gateway.store.base import RecordStore, StoreUnavailable

T = TypeVar("T")


class InstrumentedStore:
    def __init__(self, inner: RecordStore, metrics: Metrics) -> None:
        self._inner = inner
        self._metrics = metrics

    async def _timed(self, operation: str, call: Callable[[], Awaitable[T]]) -> T:
        started = time.perf_counter()
        failed = False
        try:
            return await call()
        except StoreUnavailable:
            failed = True
            raise
        finally:
            self._metrics.store(operation, time.perf_counter() - started, failed)

    async def get(self, file_id: str) -> FileRecord | None:
        return await self._timed("get", lambda: self._inner.get(file_id))

    async def get_many(self, file_ids: Sequence[str]) -> dict[str, FileRecord]:
        return await self._timed("get_many", lambda: self._inner.get_many(file_ids))

    async def put(self, record: FileRecord) -> None:
        await self._timed("put", lambda: self._inner.put(record))

    async def put_if_absent(self, record: FileRecord) -> bool:
        return await self._timed("put", lambda: self._inner.put_if_absent(record))

    async def due(self, now: float, limit: int) -> list[FileRecord]:
        return await self._timed("due", lambda: self._inner.due(now, limit))

    async def lease(self, name: str, holder: str, ttl: float) -> bool:
        return await self._timed("lease", lambda: self._inner.lease(name, holder, ttl))

    async def release(self, name: str, holder: str) -> None:
        await self._timed("lease", lambda: self._inner.release(name, holder))

    async def learned_refusals(self) -> dict[str, str]:
        return await self._timed("learned", self._inner.learned_refusals)

    async def learn_refusal(self, purpose: str, date: str) -> None:
        await self._timed("learn", lambda: self._inner.learn_refusal(purpose, date))

    async def ping(self) -> None:
        await self._timed("ping", self._inner.ping)

    async def close(self) -> None:
        await self._inner.close()
