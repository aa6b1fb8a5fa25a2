"""Redis store for replicas: one JSON value per file under a namespaced key."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import cast
from urllib.parse import unquote, urlsplit

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from gateway.records import FileRecord
from gateway.store.base import StoreUnavailable, decode, readable

PREFIX = "fgw:file:"
EXPIRY = "fgw:expiry"
LEASES = "fgw:lease:"
LEARNED = "fgw:learned"
INVALIDATE = "fgw:invalidate"
# Compare-and-delete in one step, so a lease that expired and was re-taken is never dropped.
_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"


def connect(url: str, timeout: float) -> aioredis.Redis:
    # No client-side retries: a dead store must turn into a 503 within the timeout, not after
    # several backoff rounds; the next request reconnects by itself.
    options = {
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "health_check_interval": 5,
        "retry": Retry(NoBackoff(), 0),
        "retry_on_timeout": False,
    }
    if url.startswith("redis+sentinel://"):
        return _sentinel(url, options)
    return aioredis.Redis.from_url(url, **options)  # type: ignore[arg-type]


def _sentinel(url: str, options: dict[str, object]) -> aioredis.Redis:
    """redis+sentinel://[:password@]host:port[,host:port]/service_name[/db]"""
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    nodes = []
    for node in netloc.split(","):
        host, _, port = node.rpartition(":")
        nodes.append((host or "127.0.0.1", int(port or 26379)))
    path = [segment for segment in parts.path.split("/") if segment]
    service = path[0] if path else "mymaster"
    db = int(path[1]) if len(path) > 1 else 0
    password = unquote(parts.password) if parts.password else None
    sentinel = Sentinel(  # type: ignore[no-untyped-call]
        nodes, sentinel_kwargs={"socket_timeout": options["socket_timeout"]}
    )
    return sentinel.master_for(service, db=db, password=password, **options)  # type: ignore[arg-type,no-any-return]


class RedisStore:
    def __init__(self, client: aioredis.Redis) -> None:
        self._client = client

    @property
    def client(self) -> aioredis.Redis:
        return self._client

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        # RedisError becomes StoreUnavailable here, at the boundary, and nowhere else.
        try:
            yield
        except (RedisError, OSError) as exc:
            raise StoreUnavailable(f"redis: {exc}") from exc

    async def get(self, file_id: str) -> FileRecord | None:
        with self._errors():
            raw = await self._client.get(PREFIX + file_id)
        return decode(raw, file_id) if raw is not None else None

    async def get_many(self, file_ids: Sequence[str]) -> dict[str, FileRecord]:
        ids = list(dict.fromkeys(file_ids))
        if not ids:
            return {}
        with self._errors():
            values = await self._client.mget([PREFIX + file_id for file_id in ids])
        return {
            file_id: decode(raw, file_id)
            for file_id, raw in zip(ids, values, strict=True)
            if raw is not None
        }

    async def put(self, record: FileRecord) -> None:
        await self._write(record, only_new=False)

    async def put_if_absent(self, record: FileRecord) -> bool:
        return await self._write(record, only_new=True)

    async def _write(self, record: FileRecord, *, only_new: bool) -> bool:
        # The record and its expiry index change together, in one transaction.
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.set(PREFIX + record.file_id, record.to_json(), nx=only_new)
            if record.expires_at is not None and not record.deleted:
                pipe.zadd(EXPIRY, {record.file_id: record.expires_at}, nx=only_new)
            elif not only_new:
                pipe.zrem(EXPIRY, record.file_id)
            # Every process's record cache drops this id (gateway.store.cache).
            pipe.publish(INVALIDATE, record.file_id)
            with self._errors():
                results = await pipe.execute()
        return bool(results[0])

    async def due(self, now: float, limit: int) -> list[FileRecord]:
        with self._errors():
            due = await self._client.zrangebyscore(EXPIRY, "-inf", now, start=0, num=limit)
            ids = [_text(raw) for raw in cast(list[bytes], due)]
            values = await self._client.mget([PREFIX + file_id for file_id in ids]) if ids else []
        rows = ((file_id, raw) for file_id, raw in zip(ids, values, strict=True) if raw is not None)
        return [record for record in readable(rows) if not record.deleted]

    async def lease(self, name: str, holder: str, ttl: float) -> bool:
        with self._errors():
            return bool(await self._client.set(LEASES + name, holder, nx=True, px=int(ttl * 1000)))

    async def release(self, name: str, holder: str) -> None:
        with self._errors():
            await self._client.eval(_RELEASE, 1, LEASES + name, holder)

    async def learned_refusals(self) -> dict[str, str]:
        with self._errors():
            raw = await self._client.hgetall(LEARNED)
        return {_text(key): _text(value) for key, value in raw.items()}

    async def learn_refusal(self, purpose: str, date: str) -> None:
        with self._errors():
            await self._client.hsetnx(LEARNED, purpose, date)

    async def ping(self) -> None:
        with self._errors():
            await self._client.ping()

    async def close(self) -> None:
        await self._client.aclose()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
