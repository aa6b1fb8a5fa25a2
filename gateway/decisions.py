"""One audit event and one metric per decision, written from a single exit path."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from aiohttp import web

from gateway import keys
from gateway.audit import EVENT
from gateway.errors import GatewayError
from gateway.ids import unique_id
from gateway.policy import Action, Decision
from gateway.principal import Principal
from gateway.records import FileRecord
from gateway.store import StoreUnavailable
from gateway.timestamps import utc_iso

_TIMESTAMPS = utc_iso()


@dataclass
class DecisionScope:
    """Collects what is known about one decision; `__aexit__` writes it on every exit path."""

    request: web.Request
    action: Action
    api: str = "files"
    file_id: str | None = None
    record: FileRecord | None = None
    purpose: str | None = None
    upstream_status: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    _outcome: tuple[str, str] | None = None

    @property
    def principal(self) -> Principal:
        return self.request[keys.PRINCIPAL]

    def decided(self, decision: Decision) -> Decision:
        self._outcome = ("allow" if decision.allowed else "deny", decision.reason)
        return decision

    def refused(self, error: GatewayError) -> GatewayError:
        """The final word is a refusal even after an allow (e.g. the upstream refused)."""
        self._outcome = ("error" if error.status >= 500 else "deny", error.code)
        return error

    async def __aenter__(self) -> DecisionScope:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        outcome = self._outcome
        if isinstance(exc, GatewayError):
            outcome = ("error" if exc.status >= 500 else "deny", exc.code)
        elif isinstance(exc, StoreUnavailable):
            outcome = ("error", "policy_store_unavailable")
        elif isinstance(exc, asyncio.CancelledError | ConnectionResetError) and outcome is None:
            outcome = ("error", "client_disconnected")
        elif outcome is None:
            outcome = ("error", "internal_error")
        self._write(*outcome)

    def _write(self, decision: str, reason: str) -> None:
        record = self.record
        purpose = record.purpose if record is not None else self.purpose
        request, principal = self.request, self.principal
        app = request.app
        app[keys.METRICS].decision(self.action.value, decision, reason, purpose)
        route = request.match_info.route.resource
        event: dict[str, Any] = {
            "event": EVENT,
            "timestamp": _TIMESTAMPS.now(),
            "decision_id": unique_id(),
            "request_id": request.get(keys.REQUEST_ID),
            "action": self.action.value,
            "decision": decision,
            "reason": reason,
            "file_id": self.file_id,
            "purpose": purpose,
            "flags": sorted(record.flags) if record is not None else [],
            "owner": record.owner if record is not None else None,
            "owner_org": record.org if record is not None else None,
            "principal": principal.name,
            "org": principal.org,
            "key_fingerprint": principal.key_fingerprint or None,
            "api": self.api,
            "method": request.method,
            "route": route.canonical if route is not None else None,
            "upstream_status": self.upstream_status,
            "policy_version": (record.policy_version if record is not None
                               else app[keys.SETTINGS].policy.version),
            "client_ip": request.remote,
        }
        event.update(self.extra)
        app[keys.AUDIT].emit(event)
