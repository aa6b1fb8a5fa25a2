"""Every web.AppKey and web.RequestKey, typed and declared once."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from gateway.audit import AuditLog
    from gateway.health import Readiness
    from gateway.identity import IdentityResolver
    from gateway.metrics import Metrics
    from gateway.principal import Principal
    from gateway.settings import Settings
    from gateway.store import RecordStore
    from gateway.upstream import Upstream

SETTINGS = web.AppKey["Settings"]("settings")
METRICS = web.AppKey["Metrics"]("metrics")
AUDIT = web.AppKey["AuditLog"]("audit")
IDENTITY = web.AppKey["IdentityResolver"]("identity")
STORE = web.AppKey["RecordStore"]("store")
UPSTREAM = web.AppKey["Upstream"]("upstream")
READINESS = web.AppKey["Readiness"]("readiness")

PRINCIPAL = web.RequestKey["Principal"]("principal")
REQUEST_ID = web.RequestKey[str]("request_id")
