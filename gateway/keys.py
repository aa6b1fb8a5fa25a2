"""Every web.AppKey and web.RequestKey, typed and declared once."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from gateway.audit import AuditLog  # noqa: F401 - used in the string type arguments below
    from gateway.health import Readiness  # noqa: F401 - used in the string type arguments below
    from gateway.learned import LearnedRefusals  # noqa: F401 - used in the string type arguments below
    from gateway.metrics import Metrics  # noqa: F401 - used in the string type arguments below
    from gateway.principal import Principal  # noqa: F401 - used in the string type arguments below
    from gateway.settings import Settings  # noqa: F401 - used in the string type arguments below
    from gateway.store import RecordStore  # noqa: F401 - used in the string type arguments below
    from gateway.upstream import Upstream  # noqa: F401 - used in the string type arguments below

SETTINGS = web.AppKey["Settings"]("settings")
METRICS = web.AppKey["Metrics"]("metrics")
AUDIT = web.AppKey["AuditLog"]("audit")
STORE = web.AppKey["RecordStore"]("store")
UPSTREAM = web.AppKey["Upstream"]("upstream")
READINESS = web.AppKey["Readiness"]("readiness")
LEARNED = web.AppKey["LearnedRefusals"]("learned")

PRINCIPAL = web.RequestKey["Principal"]("principal")
REQUEST_ID = web.RequestKey[str]("request_id")
