"""Background work of each process: refresh what was learnt, and reap expired files.

With several replicas, each expired file is deleted by exactly one of them: a lease in the
store is taken per file before anything is sent upstream. A failed deletion keeps its record and
gives its lease back, so it is tried again at the next round; it is never dropped."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator

from aiohttp import web

from gateway import keys
from gateway.errors import GatewayError
from gateway.learned import LearnedRefusals
from gateway.records import FileRecord
from gateway.store import StoreUnavailable

log = logging.getLogger("files_gateway.reaper")
LEASE_SECONDS = 60.0
BATCH = 100


async def reap_once(app: web.Application, holder: str, now: float | None = None) -> int:
    """Delete what is due; returns how many files this process deleted."""
    store = app[keys.STORE]
    now = time.time() if now is None else now
    deleted = 0
    for record in await store.due(now, BATCH):
        try:
            deleted += await _reap(app, record, holder, now)
        except StoreUnavailable:
            raise
        except Exception:
            # One record this code cannot handle must not stop every later one from expiring.
            log.exception("reaper: skipped %s", record.file_id)
    return deleted


async def _reap(app: web.Application, record: FileRecord, holder: str, now: float) -> int:
    store = app[keys.STORE]
    if record.deleted or not record.is_expired(now):
        return 0
    if not await store.lease(f"reap:{record.file_id}", holder, LEASE_SECONDS):
        return 0
    if await _delete_upstream(app, record):
        await store.put(record.tombstone())
        return 1
    await store.release(f"reap:{record.file_id}", holder)
    return 0


async def _delete_upstream(app: web.Application, record: FileRecord) -> bool:
    upstream = app[keys.SETTINGS].upstream
    if not upstream.api_key:
        # Without a key of its own the gateway cannot call the upstream; the file was sent up
        # with expires_after, so the upstream expires it itself.
        return True
    headers = {**upstream.own_headers(), "x-request-id": f"req_{uuid.uuid4().hex}"}
    try:
        response = await app[keys.UPSTREAM].send(
            "DELETE", f"/v1/files/{record.file_id}", headers, route="/v1/files/{file_id}"
        )
    except GatewayError:
        log.warning("reaper: upstream unreachable deleting %s; will retry", record.file_id)
        return False
    response.release()
    if response.status in (200, 404):
        log.info("reaper: deleted expired file %s (%s)", record.file_id, response.status)
        return True
    log.warning("reaper: upstream answered %s deleting %s; will retry", response.status,
                record.file_id)
    return False


async def _loop(app: web.Application) -> None:
    holder = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    interval = app[keys.SETTINGS].reaper_interval_seconds
    next_reap = time.monotonic() + interval
    while True:
        await asyncio.sleep(min(1.0, interval))
        try:
            await app[keys.LEARNED].refresh()
            if time.monotonic() >= next_reap:
                next_reap = time.monotonic() + interval
                await reap_once(app, holder)
        except StoreUnavailable as exc:
            log.warning("maintenance skipped: %s", exc)
        except Exception:
            # The task lives as long as the process: one bad round must not end expiry and
            # the refresh of learned refusals for good.
            log.exception("maintenance round failed; retrying next round")


async def maintenance_ctx(app: web.Application) -> AsyncIterator[None]:
    learned = LearnedRefusals(app[keys.STORE], app[keys.SETTINGS].policy)
    with contextlib.suppress(StoreUnavailable):
        await learned.refresh()
    app[keys.LEARNED] = learned
    task = asyncio.create_task(_loop(app), name="files-gateway-maintenance")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
