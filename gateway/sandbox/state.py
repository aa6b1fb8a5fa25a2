"""The sandbox's in-memory state: stores, the request log and the fault set."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .store import Clock, FileStore, JsonObject

UPLOAD_TTL = 3600  # an Upload expires one hour after creation (facts §3)


@dataclass
class Part:
    id: str
    size: int
    path: Path
    created_at: int


@dataclass
class Upload:
    id: str
    bytes: int
    created_at: int
    filename: str
    purpose: str
    mime_type: str
    file_ttl: int | None
    status: str = "pending"
    parts: dict[str, Part] = field(default_factory=dict)
    file: JsonObject | None = None
    busy: bool = False

    def to_json(self) -> JsonObject:
        return {
            "id": self.id,
            "object": "upload",
            "bytes": self.bytes,
            "created_at": self.created_at,
            "expires_at": self.created_at + UPLOAD_TTL,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": self.status,
            "file": self.file,
        }


@dataclass
class Call:
    """A Live session or a Realtime call. Neither API reads one back, so it is kept as the sandbox
    needs it to answer the controls: its transport, where it is in its life, and its settings.

    ``status`` is ``incoming`` (a SIP call not yet accepted or rejected), ``active``, ``ended``
    (hung up) or ``rejected``; only a call that was once active has a conversation to record.
    """

    id: str
    transport: str  # "webrtc" (made by an API call) or "sip" (announced by webhook)
    status: str
    created_at: int
    config: JsonObject = field(default_factory=dict)
    store: bool = False  # Live only: kept for forking and the recording download
    forked_from: str | None = None

    @property
    def answered(self) -> bool:
        return self.status in ("active", "ended")


@dataclass
class WebhookEndpoint:
    """A webhook endpoint as retrieval answers it, and the secrets deliveries to it would be signed
    with. The API shows a secret only once, so the sandbox is the one place that still knows it."""

    object: JsonObject
    secret: str
    # A secret a rotation kept valid for 24 hours, and when it lapses; otherwise the old one
    # stopped verifying at the rotation.
    previous: tuple[str, int] | None = None


@dataclass
class Stored:
    """A stored Chat Completion, Response, Conversation, Eval, Eval run or Skill as answered, with
    what is listed under it (the request messages, the input items, the conversation items, the
    run's output items, the skill's versions; nothing for an eval), oldest first."""

    object: JsonObject
    items: list[JsonObject] = field(default_factory=list)


class SandboxState:
    """Everything the emulated API remembers. ``open``/``close`` run in the app's cleanup_ctx."""

    def __init__(self, data_dir: Path | None) -> None:
        self._given_dir = data_dir
        self.clock = Clock()
        self._files: FileStore | None = None
        self.uploads: dict[str, Upload] = {}
        self.batches: dict[str, JsonObject] = {}
        self.jobs: dict[str, JsonObject] = {}
        # checkpoint model -> permission id -> permission (sharing it with another project).
        self.checkpoint_permissions: dict[str, dict[str, JsonObject]] = {}
        self.vector_stores: dict[str, JsonObject] = {}
        self.vector_store_files: dict[str, dict[str, JsonObject]] = {}
        # batch id -> (the batch object as answered, the file ids it attached)
        self.file_batches: dict[str, tuple[JsonObject, list[str]]] = {}
        self.containers: dict[str, JsonObject] = {}
        self.container_files: dict[str, dict[str, JsonObject]] = {}
        # Kept in memory only, in creation order (the order their lists page in).
        self.chat_completions: dict[str, Stored] = {}
        self.responses: dict[str, Stored] = {}
        self.conversations: dict[str, Stored] = {}
        self.evals: dict[str, Stored] = {}
        # The same eval ids, least recently changed first: the order of `order_by=updated_at`.
        self.eval_updates: dict[str, None] = {}
        # Runs of every eval, each with its output items.
        self.eval_runs: dict[str, Stored] = {}
        # Skills with their versions; bundles live under `<root>/skills/<skill id>/`.
        self.skills: dict[str, Stored] = {}
        # Versions each skill has issued, deleted ones included: a version number is never reused.
        self.skill_version_counts: dict[str, int] = {}
        # Videos, whose MP4s live under `<root>/videos/`, and the characters made from uploads.
        self.videos: dict[str, Stored] = {}
        self.video_characters: dict[str, Stored] = {}
        # The Agents beta (the `agent*` modules); placed files and artifacts live under
        # `<root>/agents/`. An environment lists its files in its own `files`; a template keeps
        # the files it places as its items, and a session the items of its turn.
        self.agents: dict[str, Stored] = {}
        self.agent_environments: dict[str, Stored] = {}
        self.agent_templates: dict[str, Stored] = {}
        self.agent_sessions: dict[str, Stored] = {}
        # session id -> artifact id -> artifact, as containers keep their files.
        self.agent_artifacts: dict[str, dict[str, JsonObject]] = {}
        self.agent_vaults: dict[str, Stored] = {}
        self.agent_automations: dict[str, Stored] = {}
        # The ChatKit beta: sessions, and threads with their items (a user message and a reply).
        self.chatkit_sessions: dict[str, Stored] = {}
        self.chatkit_threads: dict[str, Stored] = {}
        # Live sessions and Realtime calls: WebRTC ones made through the API, SIP ones by the
        # control routes (upstream, a phone call makes them and a webhook announces them).
        self.live_sessions: dict[str, Call] = {}
        self.realtime_calls: dict[str, Call] = {}
        # Safety alerts (about a response) and cases (about a safety identifier), by id.
        self.safety_alerts: dict[str, JsonObject] = {}
        self.safety_cases: dict[str, JsonObject] = {}
        # Webhook endpoints, in creation order (their list pages newest first).
        self.webhook_endpoints: dict[str, WebhookEndpoint] = {}

    @property
    def files(self) -> FileStore:
        if self._files is None:
            raise RuntimeError("the sandbox state is used before the app started")
        return self._files

    @property
    def root(self) -> Path:
        return self.files.root

    def open(self) -> None:
        root = self._given_dir or Path(tempfile.mkdtemp(prefix="files-gateway-sandbox-"))
        root.mkdir(parents=True, exist_ok=True)
        self._files = FileStore(root, self.clock, persist=self._given_dir is not None)
        self._files.open()

    def close(self) -> None:
        if self._files is None:
            return
        if self._given_dir is None:
            shutil.rmtree(self._files.root, ignore_errors=True)
        else:
            shutil.rmtree(self._files.tmp_dir, ignore_errors=True)
            # Only File metadata is persisted; parts, container copies, skill bundles, video
            # MP4s and agent files would be orphans.
            for transient in ("uploads", "containers", "skills", "videos", "agents"):
                shutil.rmtree(self._files.root / transient, ignore_errors=True)
        self._files = None

    def forget_file(self, file_id: str) -> None:
        """Deleting a File also removes it from every vector store (facts §1, Delete)."""
        for vs_id, attached in self.vector_store_files.items():
            if attached.pop(file_id, None) is not None:
                self.vector_stores[vs_id]["file_counts"] = file_counts(len(attached))


def file_counts(total: int) -> JsonObject:
    return {"in_progress": 0, "completed": total, "failed": 0, "cancelled": 0, "total": total}


@dataclass
class LoggedRequest:
    """One request as a test sees it: never a file's bytes, only their count."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    form: dict[str, str] = field(default_factory=dict)
    files: dict[str, JsonObject] = field(default_factory=dict)
    json: Any = None
    status: int | None = None

    def to_json(self) -> JsonObject:
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": self.headers,
            "form": self.form,
            "files": self.files,
            "json": self.json,
            "status": self.status,
        }


@dataclass(frozen=True)
class FaultRule:
    method: str  # upper-case, or "*" for any method
    prefix: str
    value: float | str  # seconds, a status, or a header's name

    def matches(self, method: str, path: str) -> bool:
        return self.method in ("*", method) and path.startswith(self.prefix)


@dataclass
class FaultSet:
    """Injected delays and statuses, and response headers dropped (as a proxy on the way that
    strips them would); replaced as a whole by ``POST /__sandbox/faults``."""

    delays: list[FaultRule] = field(default_factory=list)
    statuses: list[FaultRule] = field(default_factory=list)
    dropped_headers: list[FaultRule] = field(default_factory=list)
    # Routes that honour `Idempotency-Key` as some OpenAI-compatible upstreams do (OpenAI's own
    # API does not): a key used again with the same bearer key replays the first answer.
    idempotent: list[FaultRule] = field(default_factory=list)
    replays: dict[tuple[str, str, str, str], tuple[int, bytes, str]] = field(default_factory=dict)

    def replace(self, other: FaultSet) -> None:
        self.delays = other.delays
        self.statuses = other.statuses
        self.dropped_headers = other.dropped_headers
        self.idempotent = other.idempotent
        self.replays = other.replays

    def delay_for(self, method: str, path: str) -> float | None:
        found = _longest(self.delays, method, path)
        return None if found is None else float(found)

    def status_for(self, method: str, path: str) -> int | None:
        found = _longest(self.statuses, method, path)
        return None if found is None else int(found)

    def is_idempotent(self, method: str, path: str) -> bool:
        return _longest(self.idempotent, method, path) is not None

    def header_dropped_for(self, method: str, path: str) -> str | None:
        found = _longest(self.dropped_headers, method, path)
        return None if found is None else str(found)

    def to_json(self) -> JsonObject:
        return {
            "delay": {f"{r.method} {r.prefix}": r.value for r in self.delays},
            "status": {f"{r.method} {r.prefix}": int(r.value) for r in self.statuses},
            "drop_header": {f"{r.method} {r.prefix}": r.value for r in self.dropped_headers},
            "idempotent": {f"{r.method} {r.prefix}": True for r in self.idempotent},
        }


def _longest(rules: list[FaultRule], method: str, path: str) -> float | str | None:
    """The most specific (longest prefix) matching rule wins."""
    matching = [r for r in rules if r.matches(method, path)]
    if not matching:
        return None
    return max(matching, key=lambda r: len(r.prefix)).value
