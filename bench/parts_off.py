"""`files-gateway` with chosen parts of its per-request work switched off (issue 6).

Only for bench/marginal.py: what a part costs is the difference between the gateway with and
without it under the same load. The gateway code is not touched; the parts are replaced here,
in this process, before it starts.

    FGW_PARTS_OFF=audit,request_log,metrics python bench/parts_off.py serve ...
"""

from __future__ import annotations

import os
from typing import Any

import gateway.decisions
import gateway.logs
import gateway.metrics
from gateway.cli import main

PARTS = ("audit", "request_log", "metrics")


def _nothing(*_: Any) -> None:
    return None


def switch_off(parts: set[str]) -> None:
    if "audit" in parts:  # the event and its decision metric
        gateway.decisions.DecisionScope._write = _nothing  # type: ignore[method-assign]
    if "request_log" in parts:
        opened = gateway.logs.RequestLog.__init__

        def never_enabled(log: gateway.logs.RequestLog, *args: Any) -> None:
            opened(log, *args)
            log.enabled = False

        gateway.logs.RequestLog.__init__ = never_enabled  # type: ignore[method-assign]
    if "metrics" in parts:  # the per-request series; the in-flight gauge stays
        for name in ("http", "decision", "upstream", "store"):
            setattr(gateway.metrics.Metrics, name, _nothing)


if __name__ == "__main__":
    chosen = {part for part in os.environ.get("FGW_PARTS_OFF", "").split(",") if part}
    unknown = chosen - set(PARTS)
    if unknown:
        raise SystemExit(f"unknown parts: {sorted(unknown)}; known: {PARTS}")
    switch_off(chosen)
    raise SystemExit(main())
