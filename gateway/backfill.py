"""Adopt objects that exist upstream but were never seen by the gateway, as legacy objects of an
org: files, and on request the other objects the upstream can list (stored chat completions,
evals and their runs, skills, videos, fine-tuning jobs with the models and checkpoints they
trained, the Agents beta's agents, sessions, environments, templates, automations and vaults,
webhook endpoints, and the end users of ChatKit threads). Responses, conversations, video
characters, Live sessions and Realtime calls cannot be listed upstream, so they cannot be
adopted.

Idempotent (records are written only where none exists) and so resumable: an interrupted run
is simply run again, and objects it already adopted count as "already known".
"""

from __future__ import annotations

import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, TextIO
from urllib.parse import urlencode

import aiohttp

from gateway.records import FileRecord
from gateway.routes.chatkit import thread_end_user
from gateway.settings import Settings
from gateway.store import RecordStore, open_store

Item = dict[str, Any]


def _purpose(item: Item) -> str:
    return str(item.get("purpose", ""))


def _no_purpose(item: Item) -> str:
    return ""


def _nothing(item: Item) -> str | None:
    return None


def _nothing_of_its_own(item: Item) -> str:
    return ""


def _own_id(item: Item) -> str:
    return str(item["id"])


def _thread_end_user(item: Item) -> str:
    return thread_end_user(item) or _own_id(item)


def _named(key: str) -> Callable[[Item], str]:
    """What an item names in `key` (a job's model, a checkpoint's); empty when it names none."""

    def named(item: Item) -> str:
        value = item.get(key)
        return value if isinstance(value, str) else ""

    return named


def _checkpoint_job(item: Item) -> str | None:
    job = item.get("fine_tuning_job_id")
    return str(job) if job else None


def _run_source_file(item: Item) -> str | None:
    """The file a run read, whose download rule guards the run's output items."""
    data_source = item.get("data_source")
    source = data_source.get("source") if isinstance(data_source, dict) else None
    if isinstance(source, dict) and source.get("type") == "file_id":
        return str(source.get("id"))
    return None


@dataclass(frozen=True)
class Collection:
    path: str  # may hold "{parent}": listed once for each item of the collection above it
    kind: str
    page: int
    purpose: Callable[[Item], str] = _no_purpose
    derived_from: Callable[[Item], str | None] = _nothing
    below: Collection | None = None
    headers: tuple[tuple[str, str], ...] = ()
    # The record an item adopts: its own id, or what it names (a ChatKit thread's end user, a
    # job's model); nothing when it names none (a job still training).
    record_id: Callable[[Item], str] = _own_id


# The Agents beta answers only callers that say they use it, as the SDK does.
AGENTS_BETA = (("OpenAI-Beta", "agents=v1"),)


EVAL_RUNS = Collection("/v1/evals/{parent}/runs", "eval.run", 100, derived_from=_run_source_file)
# A job's checkpoints (`ft:…:ckpt-step-N`) are its models too, listed job by job.
CHECKPOINTS = Collection("/v1/fine_tuning/jobs/{parent}/checkpoints", "model", 100,
                         derived_from=_checkpoint_job,
                         record_id=_named("fine_tuned_model_checkpoint"))
COLLECTIONS = {
    "files": Collection("/v1/files", "file", 1000, _purpose),
    "chat_completions": Collection("/v1/chat/completions", "chat.completion", 100),
    "evals": Collection("/v1/evals", "eval", 100, below=EVAL_RUNS),
    "skills": Collection("/v1/skills", "skill", 100),
    "videos": Collection("/v1/videos", "video", 100),
    "agents": Collection("/v1/agents", "agent", 100, headers=AGENTS_BETA),
    "agent_sessions": Collection("/v1/agents/sessions", "agent.session", 100, headers=AGENTS_BETA),
    "agent_environments": Collection("/v1/agents/environments", "agent.environment", 100,
                                     headers=AGENTS_BETA),
    "agent_templates": Collection("/v1/agents/environments/templates",
                                  "agent.environment_template", 100, headers=AGENTS_BETA),
    "agent_automations": Collection("/v1/agents/automations", "agent.automation", 100,
                                    headers=AGENTS_BETA),
    "vaults": Collection("/v1/vaults", "vault", 100, headers=AGENTS_BETA),
    "fine_tuning_jobs": Collection("/v1/fine_tuning/jobs", "fine_tuning.job", 100),
    # A job's model, once trained: used by name, it is no file the upstream can list.
    "fine_tuned_models": Collection("/v1/fine_tuning/jobs", "model", 100,
                                    record_id=_named("fine_tuned_model")),
    # The jobs are listed only to reach their checkpoints; `fine_tuning_jobs` adopts them.
    "fine_tuned_checkpoints": Collection("/v1/fine_tuning/jobs", "fine_tuning.job", 100,
                                         record_id=_nothing_of_its_own, below=CHECKPOINTS),
    "webhook_endpoints": Collection("/v1/webhook_endpoints", "webhook_endpoint", 100),
    # Threads are made by end users' browsers: adopting them adopts their end users.
    "chatkit_users": Collection("/v1/chatkit/threads", "chatkit.user", 100,
                                headers=(("OpenAI-Beta", "chatkit_beta=v1"),),
                                record_id=_thread_end_user),
}


@dataclass
class Summary:
    seen: int = 0
    adopted: int = 0
    known: int = 0

    def line(self) -> str:
        return f"seen {self.seen}, adopted {self.adopted}, already known {self.known}"


@dataclass(frozen=True)
class Adopter:
    store: RecordStore
    session: aiohttp.ClientSession
    base_url: str
    org: str
    owner: str
    version: str
    summary: Summary
    out: TextIO

    async def adopt(self, collection: Collection, parent: str = "") -> None:
        async for page in self._pages(collection, collection.path.format(parent=parent)):
            for item in page:
                await self._adopt_one(collection, item)
                if collection.below is not None:
                    await self.adopt(collection.below, str(item["id"]))
            if self.out.isatty():
                print(f"\r{self.summary.line()}", end="", file=self.out, flush=True)

    async def _pages(self, collection: Collection, path: str) -> AsyncIterator[list[Item]]:
        after: str | None = None
        while True:
            query = {"limit": str(collection.page), "order": "asc",
                     **({"after": after} if after else {})}
            async with self.session.get(f"{self.base_url}{path}?{urlencode(query)}",
                                        headers=dict(collection.headers)) as response:
                response.raise_for_status()
                body = await response.json()
            data = body.get("data") or []
            yield data
            if not body.get("has_more") or not data:
                return
            after = str(data[-1]["id"])

    async def _adopt_one(self, collection: Collection, item: Item) -> None:
        record_id = collection.record_id(item)
        if not record_id:
            return
        self.summary.seen += 1
        created = item.get("created_at") or item.get("created") or time.time()
        record = FileRecord(
            file_id=record_id, owner=self.owner, org=self.org,
            purpose=collection.purpose(item), created_at=int(created),
            policy_version=self.version, expires_at=item.get("expires_at"), legacy=True,
            derived_from=collection.derived_from(item), kind=collection.kind,
        )
        if await self.store.put_if_absent(record):
            self.summary.adopted += 1
        else:
            self.summary.known += 1


async def run_backfill(
    settings: Settings, org: str, owner: str | None, out: TextIO = sys.stderr,
    objects: tuple[str, ...] = ("files",),
) -> int:
    if not settings.upstream.api_key:
        print("backfill needs upstream.api_key (FILES_GATEWAY_UPSTREAM_API_KEY)", file=out)
        return 2
    store = await open_store(settings.store_url, settings.store_timeout_seconds)
    summary = Summary()
    try:
        async with aiohttp.ClientSession(headers=settings.upstream.own_headers()) as session:
            adopter = Adopter(store, session, settings.upstream.url, org, owner or "legacy",
                              settings.policy.version, summary, out)
            for name in objects:
                await adopter.adopt(COLLECTIONS[name])
    finally:
        await store.close()
    print(("\n" if out.isatty() else "") + f"backfill done: {summary.line()}", file=out)
    return 0
