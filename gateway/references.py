"""Checking every file id a request body references: use by the caller, and purpose vs API."""

from __future__ import annotations

import dataclasses
import time

from aiohttp import web

from gateway import keys
from gateway.enforce import decision_error, reference_id, scope
from gateway.errors import GatewayError
from gateway.file_refs import FileRef, find_inline
from gateway.policy import Action, Decision, Policy, decide
from gateway.records import INHERITED_FLAGS, PRIVATE_ONLY, FileRecord


def purpose_api_mismatch(ref: FileRef, purpose: str) -> GatewayError:
    return GatewayError(
        400, "purpose_api_mismatch",
        f"File {ref.file_id} has purpose {purpose!r}, which the {ref.api} API does not accept",
        param=ref.path,
    )


def accepts(policy: Policy, record: FileRecord, api: str) -> bool:
    rule = policy.rule_for(record)
    return rule is not None and api in rule.apis


def refuse_inline(policy: Policy, body: object) -> None:
    if policy.inline_files == "deny":
        refuse_inline_at(find_inline(body))


def refuse_inline_at(paths: list[str]) -> None:
    """Refuse the first of these inline file inputs, if any (policy `inline_files: deny`)."""
    if paths:
        raise GatewayError(
            400, "purpose_api_mismatch", "Inline file inputs are disabled by policy", param=paths[0]
        )


async def check_refs(
    request: web.Request, refs: list[FileRef], holder: FileRecord | None = None
) -> dict[str, FileRecord]:
    """One decision (and audit event) per reference, in body order; the first refusal wins.
    With `holder` (a vector store, container or conversation the files go into), a private file
    may only go into a holder of its own owner, or the holder's owner could read it through the
    holder; and the holder takes over the files' restrictions before the upstream sees them."""
    for ref in refs:
        try:
            reference_id(ref.file_id)
        except GatewayError:
            # Refused before any lookup, and audited as the refusal of this reference.
            async with scope(request, Action.REFERENCE, ref.file_id, api=ref.api):
                raise
    app = request.app
    policy = app[keys.SETTINGS].policy
    records: dict[str, FileRecord] | None = None
    for ref in refs:
        async with scope(request, Action.REFERENCE, ref.file_id, api=ref.api) as decision:
            if records is None:
                # One lookup for the whole body, inside a decision so an outage is audited.
                records = await app[keys.STORE].get_many([item.file_id for item in refs])
            decision.record = records.get(ref.file_id)
            verdict, error = _decide(request, policy, ref, decision.record, holder)
            decision.decided(verdict)
            if error is not None:
                raise decision.refused(error)
    found = records or {}
    await _lend_flags(request, holder, found)
    return found


def _decide(
    request: web.Request, policy: Policy, ref: FileRef, record: FileRecord | None,
    holder: FileRecord | None,
) -> tuple[Decision, GatewayError | None]:
    verdict = decide(Action.REFERENCE, request[keys.PRINCIPAL], record, policy, time.time(),
                     ref.file_id)
    if not verdict.allowed:
        error = decision_error(verdict)
        error.param = ref.path
        return verdict, error
    if ref.check_purpose and record is not None and not accepts(policy, record, ref.api):
        return verdict, purpose_api_mismatch(ref, record.purpose)
    if (holder is not None and record is not None and PRIVATE_ONLY in record.flags
            and record.owner != holder.owner):
        return verdict, GatewayError(
            403, "private_only_forbidden",
            f"Private file {record.file_id} cannot go into another principal's {holder.kind}",
            param=ref.path,
        )
    return verdict, None


def inherited_flags(records: dict[str, FileRecord]) -> frozenset[str]:
    flags: set[str] = set()
    for record in records.values():
        flags |= record.flags & INHERITED_FLAGS
    return frozenset(flags)


async def _lend_flags(
    request: web.Request, holder: FileRecord | None, records: dict[str, FileRecord]
) -> None:
    """Recorded before the upstream is called: should it then fail, the holder is stricter,
    never looser."""
    gained = inherited_flags(records)
    if holder is not None and not gained <= holder.flags:
        await request.app[keys.STORE].put(dataclasses.replace(holder, flags=holder.flags | gained))
