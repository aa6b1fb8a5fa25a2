"""The store protocol. Backends raise StoreUnavailable, and nothing else, when they cannot answer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from gateway.records import FileRecord


class StoreUnavailable(Exception):
    """The store could not answer; callers must treat this as "could not decide" (503)."""


class RecordStore(Protocol):
    async def get(self, file_id: str) -> FileRecord | None: ...

    async def get_many(self, file_ids: Sequence[str]) -> dict[str, FileRecord]: ...

    async def put(self, record: FileRecord) -> None: ...

    async def put_if_absent(self, record: FileRecord) -> bool: ...

    async def due(self, now: float, limit: int) -> list[FileRecord]:
        """Live records whose expiry has passed, oldest first."""
        ...

    async def lease(self, name: str, holder: str, ttl: float) -> bool:
        """Take a named lease for `ttl` seconds unless another holder has it (replicas)."""
        ...

    async def release(self, name: str, holder: str) -> None:
        """Give a lease back early (only if still ours), e.g. so a failed step is retried soon."""
        ...

    async def learned_refusals(self) -> dict[str, str]:
        """Purposes the upstream was seen refusing to download, with the date first seen."""
        ...

    async def learn_refusal(self, purpose: str, date: str) -> None: ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...
