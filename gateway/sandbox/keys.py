"""Every AppKey and RequestKey of the sandbox, declared once."""

from __future__ import annotations

from aiohttp import web

from .state import FaultSet, LoggedRequest, SandboxState

STATE = web.AppKey("sandbox_state", SandboxState)
REQUEST_LOG = web.AppKey("sandbox_request_log", list[LoggedRequest])
FAULTS = web.AppKey("sandbox_faults", FaultSet)
LOG_ENTRY = web.RequestKey("sandbox_log_entry", LoggedRequest)
