"""A store opening a file another worker holds locked for a moment still opens: workers started
together race to create the schema and switch a new file to WAL (a CI run saw the second of two
workers die of "database is locked")."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest

from gateway.store import StoreUnavailable
from gateway.store.sqlite import SqliteStore

TIMEOUT = 0.2


def hold_locked(path: Path, seconds: float) -> threading.Thread:
    """Another connection holds the file exclusively for `seconds`, as a worker creating it does."""
    locked = threading.Event()

    def hold() -> None:
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("BEGIN EXCLUSIVE")
        locked.set()
        threading.Event().wait(seconds)
        conn.execute("COMMIT")
        conn.close()

    thread = threading.Thread(target=hold)
    thread.start()
    locked.wait()
    return thread


async def open_and_close(path: Path) -> None:
    store = SqliteStore(path, TIMEOUT)
    await store.open()
    await store.close()


def test_a_lock_held_past_the_busy_timeout_is_waited_out(tmp_path: Path) -> None:
    path = tmp_path / "records.db"
    holder = hold_locked(path, TIMEOUT * 2)
    asyncio.run(open_and_close(path))
    holder.join()


def test_a_lock_that_stays_is_store_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "records.db"
    holder = hold_locked(path, TIMEOUT * 8)
    with pytest.raises(StoreUnavailable):
        asyncio.run(open_and_close(path))
    holder.join()
