"""The admin listener: /metrics, /healthz (alive) and /readyz (store, upstream, not draining)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from gateway import keys
from gateway.metrics import exposition_registry
from gateway.store import StoreUnavailable


@dataclass
class Readiness:
    draining: bool = False
    inflight: int = 0
    idle: asyncio.Event = field(default_factory=asyncio.Event)

    def enter(self) -> None:
        self.inflight += 1
        self.idle.clear()

    def leave(self) -> None:
        self.inflight -= 1
        if self.inflight == 0:
            self.idle.set()

    async def drained(self) -> None:
        if self.inflight > 0:
            await self.idle.wait()


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    app = request.app[GATEWAY]
    checks = {"store": True, "upstream": app[keys.UPSTREAM].ready,
              "draining": app[keys.READINESS].draining}
    try:
        await app[keys.STORE].ping()
    except StoreUnavailable:
        checks["store"] = False
    ready = checks["store"] and checks["upstream"] and not checks["draining"]
    return web.json_response({"ready": ready, **checks}, status=200 if ready else 503)


async def metrics(request: web.Request) -> web.Response:
    response = web.Response(body=generate_latest(request.app[EXPOSITION]))
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response


GATEWAY = web.AppKey[web.Application]("gateway")
EXPOSITION = web.AppKey[CollectorRegistry]("exposition")


def create_admin_app(
    gateway: web.Application, *, multiproc_dir: Path | None = None
) -> web.Application:
    """With `multiproc_dir` (--workers N), /metrics aggregates every worker's values."""
    admin = web.Application()
    admin[GATEWAY] = gateway
    admin[EXPOSITION] = exposition_registry(gateway[keys.METRICS].registry, multiproc_dir)
    admin.router.add_get("/healthz", healthz)
    admin.router.add_get("/readyz", readyz)
    admin.router.add_get("/metrics", metrics)
    return admin
