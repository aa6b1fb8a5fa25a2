"""File records and their bytes on disk.

Metadata lives in memory. Bytes live under ``<root>/files/<id>`` and are only ever
moved, linked or streamed, never read whole. When the sandbox was given an explicit
data directory, metadata is also written to ``<root>/index.json`` so a restart keeps files.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
import string
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .errors import no_such_file

ALPHABET = string.ascii_letters + string.digits
BATCH_DEFAULT_TTL = 30 * 24 * 3600  # purpose=batch files expire after 30 days (facts §8)

JsonObject = dict[str, Any]


def new_id(prefix: str, length: int = 24) -> str:
    return prefix + "".join(secrets.choice(ALPHABET) for _ in range(length))


class Clock:
    """Wall-clock seconds plus an offset that tests may advance to reach expiry."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> int:
        return int(time.time() + self.offset)


@dataclass
class FileRecord:
    id: str
    bytes: int
    created_at: int
    expires_at: int | None
    filename: str
    purpose: str
    seq: int

    @property
    def sort_key(self) -> tuple[int, int]:
        return (self.created_at, self.seq)

    def to_json(self) -> JsonObject:
        return {
            "id": self.id,
            "object": "file",
            "bytes": self.bytes,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": "processed",
            "status_details": None,
        }


class FileStore:
    def __init__(self, root: Path, clock: Clock, *, persist: bool) -> None:
        self.root = root
        self.clock = clock
        self.persist = persist
        self.files_dir = root / "files"
        self.tmp_dir = root / "tmp"
        self.records: dict[str, FileRecord] = {}
        # Sort keys of every id ever issued, deleted ones included, so that a list
        # cursor naming a file deleted between two pages still resumes in place.
        self.cursors: dict[str, tuple[int, int]] = {}
        self._seq = 0
        self._save_lock = asyncio.Lock()

    def open(self) -> None:
        self.files_dir.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(self.tmp_dir, ignore_errors=True)
        self.tmp_dir.mkdir(parents=True)
        index = self.root / "index.json"
        if not (self.persist and index.exists()):
            return
        saved = json.loads(index.read_text())
        self._seq = int(saved["seq"])
        for raw in saved["files"]:
            record = FileRecord(**raw)
            if self.path(record.id).exists():
                self.records[record.id] = record
                self.cursors[record.id] = record.sort_key

    def path(self, file_id: str) -> Path:
        return self.files_dir / file_id

    def tmp_path(self) -> Path:
        return self.tmp_dir / new_id("spool-", 16)

    def get(self, file_id: str) -> FileRecord | None:
        """The live record, or None. A file past its ``expires_at`` is purged here."""
        record = self.records.get(file_id)
        if record is None:
            return None
        if record.expires_at is not None and record.expires_at <= self.clock.now():
            self._forget(file_id)
            return None
        return record

    def require(self, file_id: str) -> FileRecord:
        record = self.get(file_id)
        if record is None:
            raise no_such_file(file_id)
        return record

    def live(self) -> list[FileRecord]:
        return [r for r in list(self.records.values()) if self.get(r.id) is not None]

    async def add(
        self, spooled: Path, *, filename: str, purpose: str, size: int, ttl: int | None = None
    ) -> FileRecord:
        """Adopt a spooled file (moved, not copied) as a new File."""
        created = self.clock.now()
        if ttl is None and purpose == "batch":
            ttl = BATCH_DEFAULT_TTL
        self._seq += 1
        record = FileRecord(
            id=new_id("file-"),
            bytes=size,
            created_at=created,
            expires_at=None if ttl is None else created + ttl,
            filename=filename,
            purpose=purpose,
            seq=self._seq,
        )
        await asyncio.to_thread(os.replace, spooled, self.path(record.id))
        self.records[record.id] = record
        self.cursors[record.id] = record.sort_key
        await self.save()
        return record

    async def add_bytes(
        self, data: bytes, *, filename: str, purpose: str, ttl: int | None = None
    ) -> FileRecord:
        """Store a small, server-made file (seeded or generated output)."""
        spooled = self.tmp_path()
        await asyncio.to_thread(spooled.write_bytes, data)
        return await self.add(spooled, filename=filename, purpose=purpose, size=len(data), ttl=ttl)

    async def delete(self, file_id: str) -> None:
        self.require(file_id)
        self._forget(file_id)
        await self.save()

    def _forget(self, file_id: str) -> None:
        self.records.pop(file_id, None)
        with contextlib.suppress(FileNotFoundError):
            self.path(file_id).unlink()

    async def save(self) -> None:
        if not self.persist:
            return
        snapshot = json.dumps({"seq": self._seq, "files": [asdict(r) for r in self.records.values()]})
        # The lock keeps writes in call order, so the newest snapshot lands last.
        async with self._save_lock:
            await asyncio.to_thread(_write_atomically, self.root / "index.json", snapshot)


def _write_atomically(target: Path, text: str) -> None:
    partial = target.with_suffix(".tmp")
    partial.write_text(text)
    os.replace(partial, target)
