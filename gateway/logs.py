"""Process logging: plain lines on stderr; audit events have their own JSON stream on stdout."""

from __future__ import annotations

import logging
import sys


def configure_logging(level: str) -> None:
    # The logging HOWTO's "Optimization" settings: the request log writes a line per request,
    # and caller, thread and process lookups were a visible share of it (issue 6 profile).
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    logging.basicConfig(
        level=level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
