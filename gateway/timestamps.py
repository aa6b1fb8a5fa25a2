"""Wall-clock timestamps with milliseconds for lines written on every request."""

from __future__ import annotations

import time
from collections.abc import Callable


class Stamps:
    """Formats the seconds part once a second and only adds the milliseconds on each call:
    strftime or datetime.isoformat on every request line was a visible share of it (issue 6)."""

    def __init__(
        self, seconds_format: str, split: Callable[[float], time.struct_time],
        separator: str, suffix: str = "",
    ) -> None:
        self._format = seconds_format
        self._split = split
        self._separator = separator
        self._suffix = suffix
        # One attribute for both, so that a thread never pairs one second with another's text.
        self._cached = (-1, "")

    def now(self) -> str:
        return self.at(time.time())

    def at(self, moment: float) -> str:
        # Rounded to the microsecond first, as datetime does: 0.001 is stored as 0.000999...
        micros = round(moment * 1_000_000)
        second, millis = micros // 1_000_000, micros % 1_000_000 // 1000
        cached = self._cached
        if cached[0] != second:
            text = time.strftime(self._format, self._split(second)) + self._separator
            cached = self._cached = (second, text)
        return f"{cached[1]}{millis:03d}{self._suffix}"


def utc_iso() -> Stamps:
    """As datetime.now(UTC).isoformat(timespec="milliseconds"): 2026-12-01T19:30:00.123+00:00."""
    return Stamps("%Y-%m-%dT%H:%M:%S", time.gmtime, ".", "+00:00")


def local_log() -> Stamps:
    """As logging's default asctime: 2026-12-01 19:30:00,123, in local time."""
    return Stamps("%Y-%m-%d %H:%M:%S", time.localtime, ",")
