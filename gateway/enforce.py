"""Turning decisions into refusals, and the shared steps of every file handler."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from gateway import keys
from gateway.decisions import DecisionScope
from gateway.deprecation import note_purpose
from gateway.errors import GatewayError, invalid_access_flag, invalid_file_id
from gateway.policy import Action, Decision, Policy, decide, is_downloadable
from gateway.principal import Principal
from gateway.records import FileRecord, FlagError, merge_flag_sources

# OpenAI ids are short, plain tokens (file-…, upload_…, batch_…); anything else is refused
# before any store lookup or upstream call (DESIGN §7 invalid_file_id).
_PLAIN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


# A fine-tuned model's name: `ft:` and the base model, org, suffix and job, colon-separated.
_MODEL_ID = re.compile(r"^ft:[A-Za-z0-9._-]+(:[A-Za-z0-9._-]*){1,5}$")


def plain_id(value: str) -> str:
    if not _PLAIN_ID.match(value):
        raise invalid_file_id(value)
    return value


def reference_id(value: str) -> str:
    """An id a body names: a plain id, or a fine-tuned model's name (bounded all the same)."""
    if len(value) <= 256 and _MODEL_ID.match(value):
        return value
    return plain_id(value)


def raw_id(request: web.Request, name: str = "file_id") -> str:
    """The id as sent, bounded, for the audit event of a refusal of a malformed one."""
    return request.match_info[name][:128]


def path_id(request: web.Request, name: str = "file_id") -> str:
    return plain_id(request.match_info[name])


async def plain_or_refused(request: web.Request, action: Action, value: str, api: str) -> str:
    """An id checked before the decision it is for, where that decision waits on an upstream
    read (a ChatKit thread, a safety alert): a malformed one is refused there and then as a
    decision of its own, so that it is audited like any other refusal."""
    try:
        return plain_id(value)
    except GatewayError:
        async with scope(request, action, value[:128], api=api):
            raise


def access_flags(header: str | None, field: str | None) -> frozenset[str]:
    """The flags asked for by the X-File-Access header or the form's `access` field."""
    try:
        return merge_flag_sources(header, field)
    except FlagError as exc:
        raise invalid_access_flag(str(exc)) from exc


def upload_flags(policy: Policy, purpose: str, header: str | None, field: str | None) -> frozenset[str]:
    """The flags a new file or Upload starts with: those asked for, plus its purpose's defaults."""
    rule = policy.rule(purpose)
    return access_flags(header, field) | (rule.default_flags if rule is not None else frozenset())


def decision_error(decision: Decision) -> GatewayError:
    return GatewayError(
        decision.status,
        decision.reason,
        decision.message,
        param="file_id" if decision.status == 404 else None,
        error_type="invalid_request_error",
    )


def scope(
    request: web.Request, action: Action, file_id: str | None = None, api: str = "files"
) -> DecisionScope:
    # Bounded as raw_id bounds a path's: a cursor or body id is the caller's text, of any length.
    bounded = file_id[:128] if file_id is not None else None
    return DecisionScope(request=request, action=action, api=api, file_id=bounded)


Decider = Callable[[Action, Principal, FileRecord | None, Policy, float, str], Decision]


async def decide_file(
    request: web.Request, decision_scope: DecisionScope, action: Action, file_id: str,
    fallback: FileRecord | None = None, decider: Decider = decide,
) -> FileRecord | None:
    """Look up, decide and refuse in one step; returns the record when the action is allowed.
    `fallback` stands in for a missing record (e.g. a file a container made itself); `decider`
    is decide() unless the step has rules of its own (e.g. decide_owner_only)."""
    record = await request.app[keys.STORE].get(file_id) or fallback
    return decide_record(request, decision_scope, action, file_id, record, decider)


def decide_record(
    request: web.Request, decision_scope: DecisionScope, action: Action, file_id: str,
    record: FileRecord | None, decider: Decider = decide,
) -> FileRecord | None:
    """decide_file for a record the caller has looked up already."""
    app = request.app
    decision_scope.record = record
    if record is not None:
        note_purpose(request, app[keys.SETTINGS].policy, record.purpose)
    decision = decision_scope.decided(
        decider(action, decision_scope.principal, record, app[keys.SETTINGS].policy, time.time(),
                file_id)
    )
    if not decision.allowed:
        raise decision_error(decision)
    return record


def gateway_view(request: web.Request, record: FileRecord | None) -> dict[str, Any]:
    """The `gateway` object every file object carries (DESIGN §8), by the effective matrix."""
    return file_view(request[keys.PRINCIPAL], record, request.app[keys.LEARNED].policy, time.time())


def file_view(
    principal: Principal, record: FileRecord | None, policy: Policy, now: float
) -> dict[str, Any]:
    """gateway_view with its inputs fetched once, for a list that annotates thousands of items."""
    if record is None:
        return {"access": [], "downloadable": policy.untracked == "allow", "owner_is_you": False}
    return {
        "access": sorted(record.flags),
        "downloadable": is_downloadable(principal, record, policy, now),
        "owner_is_you": record.owner == principal.name,
    }
