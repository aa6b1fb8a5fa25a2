"""Redis store for replicas: one JSON value per file under a namespaced key."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import unquote, urlsplit

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from gateway.records import FileRecord
from gateway.store.base import StoreUnavailable

PREFIX = "fgw:file:"


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

    async def get(self, file_id: str) -> FileRecord | None:
        try:
            raw = await self._client.get(PREFIX + file_id)
        except (RedisError, OSError) as exc:
            raise StoreUnavailable(f"redis: {exc}") from exc
        return FileRecord.from_json(raw) if raw is not None else None

    async def get_many(self, file_ids: Sequence[str]) -> dict[str, FileRecord]:
        ids = list(dict.fromkeys(file_ids))
        if not ids:
            return {}
        try:
            values = await self._client.mget([PREFIX + file_id for file_id in ids])
        except (RedisError, OSError) as exc:
            raise StoreUnavailable(f"redis: {exc}") from exc
        return {
            file_id: FileRecord.from_json(raw)
            for file_id, raw in zip(ids, values, strict=True)
            if raw is not None
        }

    async def put(self, record: FileRecord) -> None:
        try:
            await self._client.set(PREFIX + record.file_id, record.to_json())
        except (RedisError, OSError) as exc:
            raise StoreUnavailable(f"redis: {exc}") from exc

    async def put_if_absent(self, record: FileRecord) -> bool:
        try:
            return bool(await self._client.set(PREFIX + record.file_id, record.to_json(), nx=True))
        except (RedisError, OSError) as exc:
            raise StoreUnavailable(f"redis: {exc}") from exc

    async def ping(self) -> None:
        try:
            await self._client.ping()
        except (RedisError, OSError) as exc:
            raise StoreUnavailable(f"redis: {exc}") from exc

    async def close(self) -> None:
        await self._client.aclose()
