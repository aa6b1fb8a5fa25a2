"""Durable audit sinks: a tamper-evident JSONL file and a Redis Stream (DESIGN §9, issue #5).

Neither may fail or stall a request. The JSONL sink appends one line with one write(2) (a local
file; an error raises at once and is counted). The Redis sink only enqueues: a background task
drains a bounded queue with XADD, under explicit timeouts; overflow and failures are dropped
and counted, never waited for.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import json
import logging
import os
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from gateway.audit import AuditLog, SinkOutcomes
from gateway.settings import AuditSettings

GENESIS = "0" * 64
log = logging.getLogger("files_gateway.audit")


def line_hash(line: bytes) -> str:
    """The link to a line: the sha256 of its bytes, without the newline."""
    return hashlib.sha256(line).hexdigest()


def encode(event: Mapping[str, Any], prev_hash: str) -> bytes:
    return json.dumps({**event, "prev_hash": prev_hash}, separators=(",", ":"), default=str).encode()


class JsonlSink:
    """Append-only JSONL; each line carries `prev_hash`, the sha256 of the line before it.

    The chain continues across restarts and across workers sharing the file: under an
    exclusive flock, a writer that finds the file longer than it left it re-reads the last line.
    """

    name = "jsonl"

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o640)
        self._size = -1
        self._prev = GENESIS

    def write(self, event: Mapping[str, Any]) -> None:
        fd = self._fd
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            size = os.fstat(fd).st_size
            if size != self._size:
                size = self._resync(size)
            line = encode(event, self._prev)
            data = line + b"\n"
            if os.write(fd, data) != len(data):
                raise OSError(f"short write to {self.path}")
            self._size = size + len(data)
            self._prev = line_hash(line)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    def _resync(self, size: int) -> int:
        """Take the chain up from the file's last line; returns the (possibly new) size."""
        if size == 0:
            self._prev = GENESIS
            return 0
        if os.pread(self._fd, 1, size - 1) != b"\n":
            # A torn last line (a crash mid-write) stays as it is, on a line of its own, so
            # `audit verify` reports it instead of it being glued to the next event.
            os.write(self._fd, b"\n")
            size += 1
        end, tail = size - 1, b""
        while end > 0:
            start = max(0, end - 65536)
            tail = os.pread(self._fd, end - start, start) + tail
            end = start
            if b"\n" in tail:
                break
        self._prev = line_hash(tail.rpartition(b"\n")[2])
        return size

    def close(self) -> None:
        os.close(self._fd)


class RedisStreamSink:
    """XADD each event (field `event`, the JSON) with an approximate MAXLEN, off the request path."""

    name = "redis"

    def __init__(
        self,
        client: aioredis.Redis,
        stream: str,
        maxlen: int,
        *,
        timeout: float,
        queue_size: int = 10_000,
        batch_size: int = 200,
        retry_after: float = 1.0,
    ) -> None:
        self._client = client
        self._stream = stream
        self._maxlen = maxlen
        self._timeout = timeout
        self._batch_size = batch_size
        self._retry_after = retry_after
        self._queue: asyncio.Queue[str] = asyncio.Queue(maxsize=queue_size)
        self._outcomes: SinkOutcomes | None = None
        self._task: asyncio.Task[None] | None = None

    def bind(self, outcomes: SinkOutcomes) -> None:
        self._outcomes = outcomes

    def write(self, event: Mapping[str, Any]) -> None:
        try:
            self._queue.put_nowait(json.dumps(event, separators=(",", ":"), default=str))
        except asyncio.QueueFull:
            raise OverflowError(f"audit queue full ({self._queue.maxsize} events)") from None

    def start(self) -> None:
        # The task is kept on the sink, so it cannot be garbage-collected while it runs.
        self._task = asyncio.get_running_loop().create_task(self._drain(), name="audit-redis")

    async def _drain(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self._batch_size and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._send(batch)
            except (RedisError, OSError, TimeoutError) as exc:
                self._report(exc, len(batch))
                await asyncio.sleep(self._retry_after)
            else:
                if self._outcomes is not None:
                    self._outcomes.ok(self.name, len(batch))
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _send(self, batch: list[str]) -> None:
        async with asyncio.timeout(self._timeout):
            pipe = self._client.pipeline(transaction=False)
            for event in batch:
                pipe.xadd(self._stream, {"event": event}, maxlen=self._maxlen, approximate=True)
            await pipe.execute()

    def _report(self, error: BaseException | str, count: int) -> None:
        if self._outcomes is not None:
            self._outcomes.failed(self.name, error, count)

    async def close(self, drain_timeout: float = 2.0) -> None:
        """Give queued events a bounded time to reach Redis; count the rest as lost."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(drain_timeout):
                await self._queue.join()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if not self._queue.empty():
            self._report("shut down with events still queued", self._queue.qsize())
        with contextlib.suppress(RedisError, OSError):
            await self._client.aclose()


@contextlib.asynccontextmanager
async def durable_sinks(
    settings: AuditSettings, audit: AuditLog, timeout: float  # noqa: ASYNC109
) -> AsyncIterator[None]:
    """Open the configured sinks, attach them to the audit log, and close them at the end."""
    from gateway.store.redis import connect

    jsonl = JsonlSink(settings.jsonl_path) if settings.jsonl_path is not None else None
    stream: RedisStreamSink | None = None
    if settings.redis_stream is not None and settings.redis_url is not None:
        stream = RedisStreamSink(
            connect(settings.redis_url, timeout), settings.redis_stream, settings.redis_maxlen,
            timeout=timeout,
        )
        stream.start()
    sinks = [sink for sink in (jsonl, stream) if sink is not None]
    for sink in sinks:
        audit.add_sink(sink)
    try:
        yield
    finally:
        for sink in sinks:
            audit.remove_sink(sink)
        if stream is not None:
            await stream.close()
        if jsonl is not None:
            jsonl.close()
