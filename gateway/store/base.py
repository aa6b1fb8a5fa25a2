"""The store protocol. Backends raise StoreUnavailable, and nothing else, when they cannot answer."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Sequence
from typing import Protocol

from gateway.records import FileRecord, UnreadableRecord

log = logging.getLogger("files_gateway.store")


class StoreUnavailable(Exception):
    """The store could not answer; callers must treat this as "could not decide" (503)."""


def decode(raw: str | bytes, key: str) -> FileRecord:
    """A stored record, or StoreUnavailable when this version cannot read it whole: during a
    rolling upgrade a newer replica's record is retried (503) until this replica is replaced,
    never decided on without the field or flag it did not understand."""
    try:
        return FileRecord.from_json(raw)
    except UnreadableRecord as exc:
        log.error("record %s is unreadable by this version: %s", key, exc)
        raise StoreUnavailable(f"record {key} is unreadable: {exc}") from exc


def readable(rows: Iterable[tuple[str, str | bytes]]) -> list[FileRecord]:
    """The records of `rows` this version can read. The expiry sweep goes on past one it cannot
    (logged by decode): one such record must not stop every other file from expiring."""
    found: list[FileRecord] = []
    for key, raw in rows:
        with contextlib.suppress(StoreUnavailable):
            found.append(decode(raw, key))
    return found


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
