"""Process logging: plain lines on stderr; audit events have their own JSON stream on stdout."""

from __future__ import annotations

import logging
import sys
from typing import TextIO

from aiohttp.http_exceptions import HttpProcessingError

from gateway.timestamps import local_log

PROCESS_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
REQUEST_LOGGER = "files_gateway.requests"


def configure_logging(level: str) -> None:
    # The logging HOWTO's "Optimization" settings: caller, thread and process lookups are of no
    # use in these lines.
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    logging.basicConfig(level=level.upper(), stream=sys.stderr, format=PROCESS_FORMAT)


class _RequestTextDropped(logging.Filter):
    """aiohttp logs a request it cannot parse with the offending bytes, which may be a whole
    `Authorization` line (a key with a stray control character): only the error's kind stays."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError):
            peer = record.args[0] if isinstance(record.args, tuple) and record.args else "-"
            record.msg, record.args = "Unreadable HTTP request (%s) from %s", (
                type(error).__name__, peer)
            record.exc_info = record.exc_text = None
        return True


_REQUEST_TEXT_DROPPED = _RequestTextDropped()


def drop_request_text() -> None:
    """Install the filter above on aiohttp's server logger, once."""
    logging.getLogger("aiohttp.server").addFilter(_REQUEST_TEXT_DROPPED)


class RequestLog:
    """The canonical line of every request (issue #5), in the process log's format and on its
    stream, written when `level` is at or above the process's `log_level`.

    One function instead of `logging`: a record, filters, a lock and a formatter are some twenty
    calls a line, and the same line through them cost the gateway 7 % more CPU per small
    download under load (issue 6, docs/performance.md)."""

    def __init__(self, level: str, process_level: str, stream: TextIO | None = None) -> None:
        self.enabled = _severity(level) >= _severity(process_level)
        self._middle = f" {level.upper()} {REQUEST_LOGGER} "
        self._stream = stream if stream is not None else sys.stderr
        self._stamps = local_log()

    def write(self, message: str) -> None:
        try:
            self._stream.write(f"{self._stamps.now()}{self._middle}{message}\n")
            self._stream.flush()
        except (OSError, ValueError):
            # A closed or broken stderr loses the line, as logging's handlers do; it must never
            # fail the request the line is about.
            pass


def _severity(level: str) -> int:
    return int(logging.getLevelName(level.upper()))
