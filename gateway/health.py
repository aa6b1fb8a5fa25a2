"""The admin listener: /metrics, /healthz (alive) and /readyz (store, upstream, not draining)."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from gateway import keys
from gateway.store import StoreUnavailable


@dataclass
class Readiness:
    draining: bool = False


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
    registry = request.app[GATEWAY][keys.METRICS].registry
    response = web.Response(body=generate_latest(registry))
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response


GATEWAY = web.AppKey[web.Application]("gateway")


def create_admin_app(gateway: web.Application) -> web.Application:
    admin = web.Application()
    admin[GATEWAY] = gateway
    admin.router.add_get("/healthz", healthz)
    admin.router.add_get("/readyz", readyz)
    admin.router.add_get("/metrics", metrics)
    return admin
