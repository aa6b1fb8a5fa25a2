"""The middleware chain: request context and errors, path guard, identity (in that order)."""

from __future__ import annotations

import logging
import re
import time

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from gateway import keys
from gateway.errors import GatewayError, invalid_file_id, store_unavailable
from gateway.health import Readiness
from gateway.identity import IdentityResolver
from gateway.ids import unique_id
from gateway.metrics import Metrics, method_label
from gateway.store import StoreUnavailable

log = logging.getLogger("files_gateway")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# Encoded separators, dot segments and matrix parameters could make the upstream see another
# path than the one the gateway decided on.
_UNSAFE_PATH = re.compile(r"%2f|%5c|%2e|%00|;|\\", re.IGNORECASE)
GOVERNED_PREFIXES = ("/v1/", "/gateway/")


def _route_label(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


def _http_error(exc: web.HTTPException) -> GatewayError:
    return GatewayError(
        exc.status, "not_found" if exc.status == 404 else "invalid_request",
        f"Invalid URL ({exc.reason})",
    )


def _body_bytes(response: web.StreamResponse | None) -> int:
    if response is None:
        return 0
    if response.prepared:  # streamed: what was written so far
        return response.body_length
    return response.content_length or 0


def request_context_middleware(
    *, metrics: Metrics, readiness: Readiness, request_log: logging.Logger,
    request_log_level: int = logging.INFO,
) -> Middleware:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        incoming = request.headers.get("x-request-id", "")
        request_id = incoming if _REQUEST_ID.match(incoming) else f"req_{unique_id()}"
        request[keys.REQUEST_ID] = request_id
        started = time.perf_counter()
        status = 500
        response: web.StreamResponse | None = None
        metrics.inflight.inc()
        readiness.enter()
        try:
            try:
                response = await handler(request)
            except GatewayError as exc:
                response = exc.response()
            except StoreUnavailable:
                response = store_unavailable().response()
            except web.HTTPException as exc:
                response = _http_error(exc).response()
            except Exception:
                log.exception("unhandled error on %s %s", request.method, request.path)
                response = GatewayError(
                    500, "internal_error", "The gateway failed", error_type="server_error"
                ).response()
            if not response.prepared:
                response.headers["x-request-id"] = request_id
            status = response.status
            return response
        finally:
            metrics.inflight.dec()
            readiness.leave()
            route, elapsed = _route_label(request), time.perf_counter() - started
            method = method_label(request.method)
            metrics.http(route, method, status, elapsed)
            principal = request.get(keys.PRINCIPAL)
            # The canonical line (issue #5): the route template, never the raw path.
            request_log.log(
                request_log_level,
                "method=%s route=%s status=%s duration_ms=%.1f bytes=%d request_id=%s key=%s",
                method, route, status, elapsed * 1000, _body_bytes(response), request_id,
                (principal.key_fingerprint or "-") if principal else "-",
            )

    return middleware


def path_guard_middleware() -> Middleware:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.raw_path.partition("?")[0]
        if path.startswith("/v1/"):
            segments = path.split("/")
            if _UNSAFE_PATH.search(path) or any(seg in (".", "..") for seg in segments):
                raise invalid_file_id(path)
        return await handler(request)

    return middleware


def identity_middleware(*, resolver: IdentityResolver) -> Middleware:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith(GOVERNED_PREFIXES):
            request[keys.PRINCIPAL] = resolver.resolve(request)
        return await handler(request)

    return middleware
