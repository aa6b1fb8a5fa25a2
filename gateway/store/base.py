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

    async def ping(self) -> None: ...

    async def close(self) -> None: ...
