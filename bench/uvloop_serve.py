"""`files-gateway` with uvloop's event loop, without touching gateway code (a lever, issue 6).

Only meaningful with --workers 1: spawned workers start a fresh interpreter with the default loop.
"""

from __future__ import annotations

import asyncio

import uvloop

from gateway.cli import main

if __name__ == "__main__":
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    raise SystemExit(main())
