"""The one middleware: request context and errors around the checks every request passes
(path guard, identity, deprecation, in that order) and the handler.

The checks are plain functions rather than middlewares of their own: each middleware layer is
a coroutine frame and a partial per request, and none of the checks needs to wrap the handler.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Sequence

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler, Middleware

from gateway import keys
from gateway.errors import GatewayError, invalid_file_id, invalid_request, store_unavailable
from gateway.health import Readiness
from gateway.identity import IdentityResolver
from gateway.ids import unique_id
from gateway.logs import RequestLog
from gateway.metrics import Metrics, method_label
from gateway.store import StoreUnavailable

log = logging.getLogger("files_gateway")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# Encoded separators, dot segments, query and fragment marks, and matrix parameters could make
# the upstream see another path than the one the gateway decided on.
_UNSAFE_PATH = re.compile(r"%2f|%5c|%2e|%00|%3f|%23|;|\\", re.IGNORECASE)
GOVERNED_PREFIXES = ("/v1/", "/gateway/")
# Runs before the handler; refuses by raising GatewayError.
Check = Callable[[web.Request], None]


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


def request_middleware(
    *, metrics: Metrics, readiness: Readiness, request_log: RequestLog, checks: Sequence[Check] = (),
) -> Middleware:
    checks = tuple(checks)

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
                for check in checks:
                    check(request)
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
            if request_log.enabled:
                principal = request.get(keys.PRINCIPAL)
                key = (principal.key_fingerprint or "-") if principal else "-"
                # The canonical line (issue #5): the route template, never the raw path.
                request_log.write(
                    f"method={method} route={route} status={status} duration_ms={elapsed * 1000:.1f} "
                    f"bytes={_body_bytes(response)} request_id={request_id} key={key}"
                )

    return middleware


def path_guard(request: web.Request) -> None:
    """Refuse a path the upstream might read as another route than the gateway did: encoded
    separators, dot segments, and empty segments (`/v1//batches/x`, `/v1/batches/x/`), which
    match no route with rules here but which nginx (`merge_slashes`, on by default) and
    frameworks that ignore a trailing slash serve as `/v1/batches/x`."""
    path = request.raw_path.partition("?")[0]
    if not path.startswith("/"):
        # An absolute URL (a forward proxy's request-target): routes would match its path while
        # the guard below, and what is forwarded, read the whole URL.
        raise invalid_request("files-gateway is not a forward proxy: send the path (/v1/...), "
                              "not an absolute URL, as the request target")
    # Routes match the decoded path, so that is what says whether the guard applies: `/%761/…`
    # is routed as `/v1/…`, and every check below reads the raw path, which is what goes up.
    if request.path.startswith("/v1/") and (
        not path.startswith("/v1/") or _UNSAFE_PATH.search(path)
        or any(seg in ("", ".", "..") for seg in path[4:].split("/"))
    ):
        raise invalid_file_id(path)


def websocket_guard(request: web.Request) -> None:
    """The gateway relays no upgraded connection, so it could not check what a WebSocket's
    messages name (Realtime, Live and their sideband, Responses' WebSocket mode): refused on
    every route before anything else, rather than answered as the plain GET it never meant."""
    if "websocket" in request.headers.get(hdrs.UPGRADE, "").lower():
        raise invalid_request(
            "files-gateway does not relay WebSocket connections (Realtime, Live, Responses' "
            "WebSocket mode); use their HTTP endpoints"
        )


def identity_check(resolver: IdentityResolver) -> Check:
    def check(request: web.Request) -> None:
        if request.path.startswith(GOVERNED_PREFIXES):
            request[keys.PRINCIPAL] = resolver.resolve(request)

    return check
