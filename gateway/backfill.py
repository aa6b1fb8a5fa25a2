"""Adopt files that exist upstream but were never seen by the gateway, as legacy files of an org.

Idempotent (records are written only where none exists) and so resumable: an interrupted run
is simply run again, and files it already adopted count as "already known".
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Any, TextIO
from urllib.parse import urlencode

import aiohttp

from gateway.records import FileRecord
from gateway.settings import Settings
from gateway.store import RecordStore, open_store

PAGE = 1000


@dataclass
class Summary:
    seen: int = 0
    adopted: int = 0
    known: int = 0

    def line(self) -> str:
        return f"seen {self.seen}, adopted {self.adopted}, already known {self.known}"


async def adopt_page(
    store: RecordStore, files: list[dict[str, Any]], org: str, owner: str, version: str,
    summary: Summary,
) -> None:
    for item in files:
        summary.seen += 1
        record = FileRecord(
            file_id=str(item["id"]), owner=owner, org=org, purpose=str(item.get("purpose", "")),
            created_at=int(item.get("created_at") or time.time()), policy_version=version,
            expires_at=item.get("expires_at"), legacy=True,
        )
        if await store.put_if_absent(record):
            summary.adopted += 1
        else:
            summary.known += 1


async def run_backfill(
    settings: Settings, org: str, owner: str | None, out: TextIO = sys.stderr
) -> int:
    if not settings.upstream.api_key:
        print("backfill needs upstream.api_key (FILES_GATEWAY_UPSTREAM_API_KEY)", file=out)
        return 2
    store = await open_store(settings.store_url, settings.store_timeout_seconds)
    summary = Summary()
    headers = {"Authorization": f"Bearer {settings.upstream.api_key}"}
    after: str | None = None
    try:
        async with aiohttp.ClientSession(headers=headers) as session:
            while True:
                query = {"limit": str(PAGE), "order": "asc", **({"after": after} if after else {})}
                url = f"{settings.upstream.url}/v1/files?{urlencode(query)}"
                async with session.get(url) as response:
                    response.raise_for_status()
                    body = await response.json()
                data = body.get("data") or []
                await adopt_page(store, data, org, owner or "legacy", settings.policy.version,
                                 summary)
                if out.isatty():
                    print(f"\r{summary.line()}", end="", file=out, flush=True)
                if not body.get("has_more") or not data:
                    break
                after = str(data[-1]["id"])
    finally:
        await store.close()
    print(("\n" if out.isatty() else "") + f"backfill done: {summary.line()}", file=out)
    return 0
