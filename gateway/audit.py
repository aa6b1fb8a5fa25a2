"""The decision audit log: one JSON line per decision on stdout.

Durable sinks (gateway/audit_sinks.py) may be added. A failing sink never fails a request: its
failure is counted (`files_gateway_audit_events_total{result="error"}`) and logged at most once
per interval per sink, with the number of failures since the last line (issue #5).
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any, BinaryIO, Protocol, runtime_checkable

import orjson

from gateway.metrics import Metrics

EVENT = "file_access_decision"
FAILURE_LOG_INTERVAL = 60.0


class AuditSink(Protocol):
    """Writes one event; raising means the event is lost for this sink."""

    name: str

    def write(self, event: Mapping[str, Any]) -> None: ...


@runtime_checkable
class DeferredSink(Protocol):
    """A sink that accepts an event now and reports its outcome later (e.g. a queued XADD)."""

    name: str

    def write(self, event: Mapping[str, Any]) -> None: ...

    def bind(self, outcomes: SinkOutcomes) -> None: ...


class StdoutSink:
    """One compact JSON line per event, written and flushed at once. orjson straight to the
    binary stream: 1 µs an event, against 6 µs through structlog's fastest chain and 11 µs
    through json and a text stream, on the path of every request (issue 6)."""

    name = "stdout"

    def __init__(self, stream: BinaryIO | None = None) -> None:
        self._stream = stream if stream is not None else sys.stdout.buffer

    def write(self, event: Mapping[str, Any]) -> None:
        self._stream.write(orjson.dumps(event, option=orjson.OPT_APPEND_NEWLINE))
        self._stream.flush()


class SinkOutcomes:
    """Counts each sink's results; logs failures once per interval, never once per event."""

    def __init__(
        self,
        metrics: Metrics,
        interval: float = FAILURE_LOG_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._metrics = metrics
        self._interval = interval
        self._clock = clock
        self._log = logging.getLogger("files_gateway.audit")
        self._last_logged: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def ok(self, sink: str, count: int = 1) -> None:
        self._metrics.audit_result(sink, "ok", count)

    def failed(self, sink: str, error: BaseException | str, count: int = 1) -> None:
        self._metrics.audit_result(sink, "error", count)
        now = self._clock()
        last = self._last_logged.get(sink)
        if last is not None and now - last < self._interval:
            self._suppressed[sink] = self._suppressed.get(sink, 0) + count
            return
        self._last_logged[sink] = now
        suppressed = self._suppressed.pop(sink, 0)
        self._log.error(
            "audit sink %s failed for %d event(s) (%d more since the last report): %s",
            sink, count, suppressed, error if isinstance(error, str) else repr(error),
        )


class AuditLog:
    def __init__(self, metrics: Metrics, sinks: list[AuditSink] | None = None) -> None:
        self.outcomes = SinkOutcomes(metrics)
        self._metrics = metrics
        # (sink, deferred): a deferred sink counts its own successes once they are durable.
        self._sinks: list[tuple[AuditSink, bool]] = []
        for sink in sinks if sinks is not None else [StdoutSink()]:
            self.add_sink(sink)

    def add_sink(self, sink: AuditSink) -> None:
        self._metrics.audit_sink(sink.name)
        deferred = isinstance(sink, DeferredSink)
        if isinstance(sink, DeferredSink):
            sink.bind(self.outcomes)
        self._sinks.append((sink, deferred))

    def remove_sink(self, sink: AuditSink) -> None:
        self._sinks = [entry for entry in self._sinks if entry[0] is not sink]

    def emit(self, event: Mapping[str, Any]) -> None:
        for sink, deferred in self._sinks:
            try:
                sink.write(event)
            except Exception as exc:  # a failing sink must never fail the request
                self.outcomes.failed(sink.name, exc)
            else:
                if not deferred:
                    self.outcomes.ok(sink.name)
