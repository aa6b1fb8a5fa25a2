"""`files-gateway audit verify FILE`: walk the JSONL hash chain and report the first broken link.

The chain shows that no line was altered, removed or inserted *between* others. It cannot show
that lines were cut off the end, nor a chain rewritten from scratch: keep a copy of the last
hash elsewhere (or ship the lines to the Redis stream too) when that matters.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from gateway.audit_sinks import GENESIS, line_hash


@dataclass(frozen=True)
class ChainReport:
    lines: int
    broken_line: int | None = None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.broken_line is None


def verify_chain(path: Path) -> ChainReport:
    """Check every line's `prev_hash` against the line before it; stop at the first break."""
    expected = GENESIS
    number = 0
    with path.open("rb") as lines:
        for number, raw in enumerate(lines, start=1):
            if not raw.endswith(b"\n"):
                return ChainReport(number, number, "incomplete line (no newline): a torn write")
            line = raw[:-1]
            try:
                event = json.loads(line)
            except ValueError:
                return ChainReport(number, number, "not valid JSON")
            if not isinstance(event, dict) or not isinstance(event.get("prev_hash"), str):
                return ChainReport(number, number, "no prev_hash field")
            if event["prev_hash"] != expected:
                where = "the chain's start" if number == 1 else f"the sha256 of line {number - 1}"
                return ChainReport(
                    number, number,
                    f"prev_hash does not match {where}: a line before it was altered, "
                    "removed or inserted",
                )
            expected = line_hash(line)
    return ChainReport(number)


def run_verify(path: Path) -> int:
    """Print the verdict; exit 0 when intact, 1 on a broken link, 2 when unreadable."""
    try:
        report = verify_chain(path)
    except OSError as exc:
        print(f"files-gateway: cannot read {path}: {exc}")
        return 2
    if report.ok:
        print(f"ok: {report.lines} events, chain intact")
        return 0
    print(f"{path}:{report.broken_line}: broken link: {report.reason}")
    return 1
