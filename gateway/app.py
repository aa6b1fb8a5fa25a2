"""create_app(settings): app keys, resource lifetimes in cleanup_ctx, middleware order, routes."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web
from prometheus_client import CollectorRegistry

from gateway import keys
from gateway.audit import AuditLog, AuditSink
from gateway.audit_sinks import durable_sinks
from gateway.deprecation import add_deprecation_headers, deprecation_check
from gateway.errors import invalid_file_id
from gateway.governed import GovernedPaths
from gateway.health import Readiness
from gateway.identity import IdentityResolver
from gateway.logs import RequestLog, drop_request_text
from gateway.maintenance import maintenance_ctx
from gateway.metrics import Metrics
from gateway.middleware import (
    identity_check,
    path_guard,
    request_middleware,
    websocket_guard,
)
from gateway.routes import (
    agents,
    attached,
    calls,
    chatkit,
    evals,
    files,
    fine_tuning,
    gateway_api,
    listing,
    models,
    objects,
    passthrough,
    safety,
    scanned,
    skills,
    stored,
    uploads,
    videos,
    webhooks,
)
from gateway.routes.holders import BATCHES, CONTAINERS, JOBS, VECTOR_STORES
from gateway.settings import Settings
from gateway.store import RecordStore, open_store
from gateway.store.cache import RecordCache, RedisCachedStore, SqliteCachedStore
from gateway.store.instrumented import InstrumentedStore
from gateway.store.redis import RedisStore
from gateway.store.sqlite import SqliteStore
from gateway.upstream import Upstream


async def _audit_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    async with durable_sinks(settings.audit, app[keys.AUDIT], settings.store_timeout_seconds):
        yield


async def _store_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    inner = await open_store(settings.store_url, settings.store_timeout_seconds)
    store: RecordStore = InstrumentedStore(inner, app[keys.METRICS])
    if settings.cache_entries > 0:
        cached: RecordCache | None = None
        if isinstance(inner, RedisStore):
            cached = RedisCachedStore(store, inner.client, settings.cache_entries)
        elif isinstance(inner, SqliteStore):
            cached = SqliteCachedStore(store, inner.path, settings.cache_entries)
        if cached is not None:
            cached.start()
            store = cached
    app[keys.STORE] = store
    yield
    await app[keys.STORE].close()


async def _upstream_ctx(app: web.Application) -> AsyncIterator[None]:
    upstream = Upstream(app[keys.SETTINGS].upstream, app[keys.METRICS])
    await upstream.start()
    app[keys.UPSTREAM] = upstream
    yield
    await upstream.close()


def create_app(
    settings: Settings,
    *,
    registry: CollectorRegistry | None = None,
    audit_sinks: list[AuditSink] | None = None,
) -> web.Application:
    drop_request_text()
    metrics = Metrics(registry if registry is not None else CollectorRegistry(), settings.policy)
    resolver = IdentityResolver(settings.identity)
    readiness = Readiness()
    app = web.Application(
        middlewares=[
            request_middleware(
                metrics=metrics, readiness=readiness,
                request_log=RequestLog(settings.request_log_level, settings.log_level),
                checks=(path_guard, websocket_guard, identity_check(resolver),
                        deprecation_check(settings.policy)),
            ),
        ],
        # Bodies are streamed; this bounds only what aiohttp itself would buffer.
        client_max_size=8 * 1024 * 1024,
    )
    app[keys.SETTINGS] = settings
    app[keys.METRICS] = metrics
    app[keys.AUDIT] = AuditLog(metrics, audit_sinks)
    app[keys.READINESS] = readiness
    # First in, last out: durable audit sinks outlive every other resource.
    app.cleanup_ctx.append(_audit_ctx)
    app.on_response_prepare.append(add_deprecation_headers)
    app.cleanup_ctx.append(_store_ctx)
    app.cleanup_ctx.append(_upstream_ctx)
    app.cleanup_ctx.append(maintenance_ctx)
    router = app.router
    router.add_post("/v1/files", files.create_file)
    router.add_get("/v1/files", listing.list_files)
    router.add_get("/v1/files/{file_id}", files.retrieve_file)
    router.add_delete("/v1/files/{file_id}", files.delete_file)
    router.add_get("/v1/files/{file_id}/content", files.file_content)
    router.add_route("*", "/v1/files/{tail:.*}", _no_such_files_route)
    uploads.add_routes(router)
    attached.add_routes(router)
    fine_tuning.add_routes(router)
    for holder in (BATCHES, JOBS, VECTOR_STORES, CONTAINERS):
        objects.add_routes(router, holder)
    stored.add_routes(router)
    evals.add_routes(router)
    skills.add_routes(router)
    videos.add_routes(router)
    agents.add_routes(router)
    calls.add_routes(router)
    chatkit.add_routes(router)
    models.add_routes(router)
    safety.add_routes(router)
    webhooks.add_routes(router)
    scanned.add_routes(router)
    gateway_api.add_routes(router)
    router.add_route("*", "/v1/{tail:.*}", passthrough.handler(GovernedPaths(router)))
    metrics.precreate_routes(router)
    return app


async def _no_such_files_route(request: web.Request) -> web.StreamResponse:
    # Anything else under /v1/files is not a plain file id: refuse before any upstream call.
    raise invalid_file_id(request.match_info["tail"])
