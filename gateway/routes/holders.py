"""Objects that hold files (batches, fine-tuning jobs, vector stores, containers, uploads) or
what was said about them (stored responses, chat completions, conversations): what they are
called, where they list, and which files they derive."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

from aiohttp import web

from gateway import keys
from gateway.errors import upstream_unavailable
from gateway.file_refs import FileRef, find_refs
from gateway.records import FileRecord
from gateway.routes.batch_input import batch_input_refs
from gateway.routes.paged import ListSpec
from gateway.store import StoreUnavailable

log = logging.getLogger("files_gateway")


class Derived(NamedTuple):
    """Something an object made: a file, unless `kind` says otherwise (a fine-tuned model)."""

    object_id: str
    purpose: str
    kind: str = "file"


Derive = Callable[[dict[str, Any]], list[Derived]]
# References a create body makes beyond its own JSON (a batch's input file's lines).
InnerRefs = Callable[[web.Request, Any], Awaitable[list[FileRef]]]
MODEL_KIND = "model"


def none(obj: dict[str, Any]) -> list[Derived]:
    return []


def batch_outputs(obj: dict[str, Any]) -> list[Derived]:
    return [Derived(str(obj[key]), "batch_output") for key in ("output_file_id", "error_file_id")
            if obj.get(key)]


def job_results(obj: dict[str, Any]) -> list[Derived]:
    """Its result files, and the model it trained: used by name in every model API, it holds
    what its training files taught it, so it is theirs to use as they are."""
    made = [Derived(str(file_id), "fine-tune-results") for file_id in obj.get("result_files") or []]
    model = obj.get("fine_tuned_model")
    if isinstance(model, str) and model:
        made.append(Derived(model, "", MODEL_KIND))
    return made


def upload_file(obj: dict[str, Any]) -> list[Derived]:
    file = obj.get("file")
    if isinstance(file, dict) and file.get("id"):
        return [Derived(str(file["id"]), str(file.get("purpose") or obj.get("purpose") or ""))]
    return []


@dataclass(frozen=True)
class Holder:
    kind: str
    api: str
    collection: str
    listing: ListSpec | None
    derive: Derive = none
    # The upstream deletes it with DELETE on its path (batches and jobs are only cancelled).
    deletable: bool = True
    # Where DELETE cannot take back one the gateway made but could not record, a POST to this
    # step below it stops it (a batch or job is cancelled, a call hung up): left running, it
    # would cost its org while nobody may reach it.
    stop_step: str | None = None
    inner_refs: InnerRefs | None = None
    # False for an API the purpose matrix does not know: files it is given are checked for use
    # by the caller, not for purpose.
    checks_purpose: bool = True

    def refs(self, body: Any) -> list[FileRef]:
        """What a body sent to this holder's API references."""
        return find_refs(body, self.api, check_purpose=self.checks_purpose)


BATCHES = Holder("batch", "batches", "/v1/batches",
                 ListSpec("/v1/batches", "/v1/batches", 100, 20, ()), batch_outputs, deletable=False,
                 stop_step="cancel", inner_refs=batch_input_refs)
JOBS = Holder("fine_tuning.job", "fine_tuning", "/v1/fine_tuning/jobs",
              ListSpec("/v1/fine_tuning/jobs", "/v1/fine_tuning/jobs", 100, 20, ("metadata[",)),
              job_results, deletable=False, stop_step="cancel")
VECTOR_STORES = Holder("vector_store", "vector_stores", "/v1/vector_stores",
                       ListSpec("/v1/vector_stores", "/v1/vector_stores", 100, 20, ("order",)))
CONTAINERS = Holder("container", "containers", "/v1/containers",
                    ListSpec("/v1/containers", "/v1/containers", 100, 20, ("order", "name")))
UPLOADS = Holder("upload", "uploads", "/v1/uploads",
                 ListSpec("/v1/uploads", "/v1/uploads", 100, 20, ()), upload_file, deletable=False,
                 stop_step="cancel")
# Stored model exchanges carry their inputs (file ids, inline file_data) and outputs: they are
# the caller's as much as a batch is. Only chat completions can be listed upstream.
CHAT_COMPLETIONS = Holder(
    "chat.completion", "chat_completions", "/v1/chat/completions",
    ListSpec("/v1/chat/completions", "/v1/chat/completions", 100, 20,
             ("order", "model", "metadata[")),
)
RESPONSES = Holder("response", "responses", "/v1/responses", None)
CONVERSATIONS = Holder("conversation", "responses", "/v1/conversations", None)


def new_record(
    request: web.Request, object_id: str, kind: str, purpose: str, flags: frozenset[str],
    derived_from: str | None = None, created_at: int | None = None,
    expires_at: int | None = None,
) -> FileRecord:
    """What the caller just created: theirs, in their org, under the policy in force now."""
    principal = request[keys.PRINCIPAL]
    return FileRecord(
        file_id=object_id, owner=principal.name, org=principal.org, purpose=purpose,
        flags=flags, created_at=created_at or int(time.time()),
        policy_version=request.app[keys.SETTINGS].policy.version,
        expires_at=expires_at, derived_from=derived_from, kind=kind,
    )


async def keep_created(request: web.Request, record: FileRecord) -> FileRecord:
    """Record what the upstream just made for the caller, never over another record. The same
    caller's earlier one stands: the upstream answered a retry again (an idempotent replay).
    Anyone else's is not taken over: an upstream that answers a create with an object the
    gateway already records for someone else has not made the caller one, so nothing is relayed."""
    store = request.app[keys.STORE]
    if await store.put_if_absent(record):
        return record
    existing = await store.get(record.file_id)
    if (existing is not None and not existing.deleted
            and (existing.owner, existing.org) == (record.owner, record.org)):
        return existing
    log.error("the upstream answered a create with %s, which is recorded for another owner",
              record.file_id)
    raise upstream_unavailable()


async def record_derived(
    request: web.Request, holder: Holder, parent: FileRecord, obj: dict[str, Any]
) -> dict[str, FileRecord]:
    """Derived files take owner, org and flags from their parent (DESIGN §4); first sight wins.
    Returns the records derived, by file id (the same on a later sight, from the same parent)."""
    store = request.app[keys.STORE]
    derived: dict[str, FileRecord] = {}
    for file_id, purpose, kind in holder.derive(obj):
        record = replace(parent, file_id=file_id, purpose=purpose, kind=kind,
                         derived_from=parent.file_id, created_at=int(time.time()))
        try:
            await store.put_if_absent(record)
        except StoreUnavailable:
            # Unrecorded means untracked, which is refused: failing here stays closed.
            break
        derived[file_id] = record
    return derived
