"""Embedded, durable store: one SQLite file in WAL mode, driven from one worker thread."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from gateway.records import FileRecord
from gateway.store.base import StoreUnavailable, decode, readable

T = TypeVar("T")
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS files (file_id TEXT PRIMARY KEY, data TEXT NOT NULL,"
    " expires_at INTEGER)",
    "CREATE INDEX IF NOT EXISTS files_expiry ON files (expires_at) WHERE expires_at IS NOT NULL",
    "CREATE TABLE IF NOT EXISTS leases (name TEXT PRIMARY KEY, holder TEXT, until REAL)",
    "CREATE TABLE IF NOT EXISTS learned (purpose TEXT PRIMARY KEY, observed TEXT)",
)


class SqliteStore:
    def __init__(self, path: Path, timeout: float) -> None:
        self._path = path
        self._timeout = timeout
        # One thread owns the connection, so SQLite never sees concurrent use from this process.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-store")
        self._conn: sqlite3.Connection | None = None

    @property
    def path(self) -> Path:
        return self._path

    async def open(self) -> None:
        await self._run(self._connect)

    def _connect(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        # Workers started together race to switch a new file to WAL, and SQLite answers the
        # loser "database is locked" at once, without waiting out its busy timeout: try again.
        deadline = time.monotonic() + self._timeout * 3  # within _run's wait (5x)
        while True:
            conn = sqlite3.connect(self._path, timeout=self._timeout, check_same_thread=False)
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                for statement in _SCHEMA:
                    conn.execute(statement)
                conn.commit()
            except sqlite3.OperationalError as exc:
                conn.close()
                if "locked" not in str(exc) or time.monotonic() >= deadline:
                    raise
                time.sleep(0.02)
                continue
            self._conn = conn
            return

    async def _run(self, func: Callable[[], T]) -> T:
        loop = asyncio.get_running_loop()
        try:
            return await asyncio.wait_for(
                loop.run_in_executor(self._executor, func), timeout=self._timeout * 5
            )
        except (sqlite3.Error, OSError, TimeoutError) as exc:
            raise StoreUnavailable(f"sqlite: {exc}") from exc

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise sqlite3.OperationalError("store is not open")
        return self._conn

    async def get(self, file_id: str) -> FileRecord | None:
        return (await self.get_many([file_id])).get(file_id)

    async def get_many(self, file_ids: Sequence[str]) -> dict[str, FileRecord]:
        ids = list(dict.fromkeys(file_ids))

        def query() -> dict[str, FileRecord]:
            found: dict[str, FileRecord] = {}
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = self._db().execute(
                    f"SELECT file_id, data FROM files WHERE file_id IN ({marks})", chunk
                )
                for file_id, data in rows:
                    found[file_id] = decode(data, file_id)
            return found

        return await self._run(query) if ids else {}

    async def put(self, record: FileRecord) -> None:
        await self._run(lambda: self._write("INSERT OR REPLACE", record))

    async def put_if_absent(self, record: FileRecord) -> bool:
        return await self._run(lambda: self._write("INSERT OR IGNORE", record))

    def _write(self, verb: str, record: FileRecord) -> bool:
        db = self._db()
        expiry = None if record.deleted else record.expires_at
        cursor = db.execute(
            f"{verb} INTO files (file_id, data, expires_at) VALUES (?, ?, ?)",
            (record.file_id, record.to_json(), expiry),
        )
        db.commit()
        return cursor.rowcount == 1

    async def due(self, now: float, limit: int) -> list[FileRecord]:
        def query() -> list[FileRecord]:
            rows = self._db().execute(
                "SELECT file_id, data FROM files WHERE expires_at IS NOT NULL AND expires_at <= ?"
                " ORDER BY expires_at LIMIT ?", (now, limit),
            )
            return readable(rows)

        return await self._run(query)

    async def lease(self, name: str, holder: str, ttl: float) -> bool:
        def take() -> bool:
            db = self._db()
            now = time.time()
            cursor = db.execute(
                "INSERT INTO leases (name, holder, until) VALUES (?, ?, ?) ON CONFLICT(name)"
                " DO UPDATE SET holder = excluded.holder, until = excluded.until"
                " WHERE leases.until < ?", (name, holder, now + ttl, now),
            )
            db.commit()
            return cursor.rowcount == 1

        return await self._run(take)

    async def release(self, name: str, holder: str) -> None:
        def drop() -> None:
            db = self._db()
            db.execute("DELETE FROM leases WHERE name = ? AND holder = ?", (name, holder))
            db.commit()

        await self._run(drop)

    async def learned_refusals(self) -> dict[str, str]:
        def query() -> dict[str, str]:
            return dict(self._db().execute("SELECT purpose, observed FROM learned").fetchall())

        return await self._run(query)

    async def learn_refusal(self, purpose: str, date: str) -> None:
        def write() -> None:
            db = self._db()
            db.execute("INSERT OR IGNORE INTO learned (purpose, observed) VALUES (?, ?)",
                       (purpose, date))
            db.commit()

        await self._run(write)

    async def ping(self) -> None:
        await self._run(lambda: self._db().execute("SELECT 1").fetchone())

    async def close(self) -> None:
        conn = self._conn
        if conn is not None:
            await asyncio.get_running_loop().run_in_executor(self._executor, conn.close)
        self._executor.shutdown(wait=True)
