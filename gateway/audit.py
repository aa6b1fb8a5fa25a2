"""The decision audit log: one JSON line per decision on stdout, through structlog."""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from typing import Any, Protocol

import structlog

from gateway.metrics import Metrics

EVENT = "file_access_decision"


class AuditSink(Protocol):
    name: str

    def write(self, event: Mapping[str, Any]) -> None: ...


class StdoutSink:
    name = "stdout"

    def __init__(self) -> None:
        self._logger = structlog.wrap_logger(
            structlog.PrintLogger(sys.stdout),
            processors=[structlog.processors.JSONRenderer(sort_keys=False)],
        )

    def write(self, event: Mapping[str, Any]) -> None:
        self._logger.msg(**event)


class AuditLog:
    def __init__(self, metrics: Metrics, sinks: list[AuditSink] | None = None) -> None:
        self._metrics = metrics
        self._sinks: list[AuditSink] = sinks if sinks is not None else [StdoutSink()]
        self._log = logging.getLogger("files_gateway.audit")

    def emit(self, event: Mapping[str, Any]) -> None:
        for sink in self._sinks:
            try:
                sink.write(event)
            except Exception:  # a failing sink must never fail the request
                self._metrics.audit_events.labels(sink.name, "error").inc()
                self._log.exception("audit sink %s failed", sink.name)
            else:
                self._metrics.audit_events.labels(sink.name, "ok").inc()
