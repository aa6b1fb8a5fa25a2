"""/gateway/v1: the effective purpose matrix, and per-file access introspection and re-tagging."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from aiohttp import web

from gateway import keys
from gateway.enforce import decision_error, path_id, raw_id, scope
from gateway.errors import invalid_access_flag
from gateway.json_body import read_json
from gateway.matrix import as_json, as_markdown
from gateway.policy import Action, Policy, decide, decide_retag
from gateway.principal import Principal
from gateway.records import EPHEMERAL, KNOWN_FLAGS, FileRecord

INTROSPECTED = (Action.DOWNLOAD, Action.RETRIEVE, Action.DELETE, Action.REFERENCE)


def effective_policy(request: web.Request) -> Policy:
    return request.app[keys.LEARNED].policy


async def purposes(request: web.Request) -> web.StreamResponse:
    policy = effective_policy(request)
    if request.query.get("format") == "markdown":
        return web.Response(text=as_markdown(policy), content_type="text/markdown")
    return web.json_response(as_json(policy))


def access_view(record: FileRecord | None, principal: Principal, policy: Policy,
                file_id: str) -> dict[str, Any]:
    now = time.time()
    actions: dict[str, dict[str, Any]] = {}
    for action in INTROSPECTED:
        verdict = decide(action, principal, record, policy, now, file_id)
        actions[action.value] = {"allowed": verdict.allowed, "reason": verdict.reason}
    rule = policy.rule_for(record) if record is not None else None
    actions["download"]["upstream"] = rule.upstream_download if rule is not None else "unknown"
    return {
        "file_id": file_id,
        "purpose": record.purpose if record is not None else None,
        "flags": sorted(record.flags) if record is not None else [],
        "owner_is_you": record is not None and record.owner == principal.name,
        "actions": actions,
    }


async def file_access(request: web.Request) -> web.StreamResponse:
    """What this caller may do with a file, before trying; another org's file stays unknown."""
    file_id = path_id(request)
    principal = request[keys.PRINCIPAL]
    record = await request.app[keys.STORE].get(file_id)
    policy = effective_policy(request)
    retrieve = decide(Action.RETRIEVE, principal, record, policy, time.time(), file_id)
    if retrieve.status == 404:
        raise decision_error(retrieve)
    return web.json_response(access_view(record, principal, policy, file_id))


def _flags(body: Any) -> frozenset[str]:
    flags = body.get("flags") if isinstance(body, dict) else None
    if not isinstance(flags, list) or not all(isinstance(flag, str) for flag in flags):
        raise invalid_access_flag('Send {"flags": [...]}')
    unknown = sorted(set(flags) - KNOWN_FLAGS)
    if unknown:
        raise invalid_access_flag(f"Unknown access flag(s): {', '.join(unknown)}")
    return frozenset(flags)


async def retag(request: web.Request) -> web.StreamResponse:
    """The owner, or an admin of the file's org, changes its flags without a re-upload."""
    app = request.app
    async with scope(request, Action.RETAG, raw_id(request), api="gateway") as decision:
        file_id = path_id(request)
        record = await app[keys.STORE].get(file_id)
        decision.record = record
        principal = decision.principal
        _, body = await read_json(request, 64 * 1024)
        flags = _flags(body)
        verdict = decision.decided(
            decide_retag(principal, record, effective_policy(request), time.time(), file_id, flags)
        )
        if record is None or not verdict.allowed:
            raise decision_error(verdict)
        expires_at = record.expires_at
        if EPHEMERAL in flags and expires_at is None:
            expires_at = int(time.time()) + app[keys.SETTINGS].policy.ephemeral_ttl_seconds
        updated = dataclasses.replace(record, flags=flags, expires_at=expires_at)
        await app[keys.STORE].put(updated)
        decision.record = updated
        decision.extra.update({"old_flags": sorted(record.flags), "new_flags": sorted(flags)})
        return web.json_response(access_view(updated, principal, effective_policy(request), file_id))


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/gateway/v1/purposes", purposes)
    router.add_get("/gateway/v1/files/{file_id}/access", file_access)
    router.add_post("/gateway/v1/files/{file_id}/access", retag)
