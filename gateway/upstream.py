"""The one upstream client: header allow-lists, credentials, and streamed forwarding."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import AsyncIterable, Callable, Mapping
from typing import TypeVar
from urllib.parse import urlsplit

from aiohttp import hdrs, web
from multidict import CIMultiDict, CIMultiDictProxy

from gateway import keys
from gateway.errors import GatewayError, upstream_timeout, upstream_unavailable
from gateway.http_client import HTTPClient, UpstreamResponse
from gateway.metrics import Metrics
from gateway.settings import UpstreamSettings
from gateway.upstream_connection import UpstreamConnectionError, UpstreamError, UpstreamProtocolError

_REQUEST_ALLOW = frozenset(
    {
        "accept", "accept-encoding", "content-type", "content-length", "user-agent",
        "openai-organization", "openai-project", "openai-beta", "idempotency-key", "x-request-id",
    }
)
_RESPONSE_ALLOW = frozenset(
    {
        "content-type", "content-length", "content-encoding", "content-disposition", "cache-control",
        # A Realtime call's id comes only in its Location (`/v1/realtime/calls/{call_id}`).
        "etag", "last-modified", "location", "retry-after", "retry-after-ms", "x-should-retry",
        "x-request-id", "openai-organization", "openai-processing-ms", "openai-version", "openai-project",
    }
)
log = logging.getLogger("files_gateway.upstream")
CHUNK = 256 * 1024
IDEMPOTENCY_KEY = "idempotency-key"
# Which organization and project a key that reaches several bills and keeps what is made in.
SCOPE_HEADERS = ("openai-organization", "openai-project")
# Header names are a small set in practice; each one's verdict is kept, up to this many, so a
# request pays a dict lookup per header instead of lower() and a prefix test.
_REMEMBERED_NAMES = 512


Headers = CIMultiDict[str] | CIMultiDictProxy[str]
T = TypeVar("T")


class _AllowList:
    def __init__(self, names: frozenset[str], prefixes: tuple[str, ...]) -> None:
        self._names = names
        self._prefixes = prefixes
        self._verdicts: dict[str, bool] = {}

    def _keeps(self, name: str) -> bool:
        kept = self._verdicts.get(name)
        if kept is None:
            lower = name.lower()
            kept = lower in self._names or lower.startswith(self._prefixes)
            if len(self._verdicts) < _REMEMBERED_NAMES:
                self._verdicts[name] = kept
        return kept

    def filter(self, headers: Headers) -> CIMultiDict[str]:
        keeps = self._keeps
        if hdrs.CONNECTION not in headers:
            return CIMultiDict([(name, value) for name, value in headers.items() if keeps(name)])
        # Headers the Connection header names are hop-by-hop for this hop (RFC 9110 §7.6.1).
        named = {
            token.strip().lower()
            for value in headers.getall(hdrs.CONNECTION) for token in value.split(",")
        }
        return CIMultiDict([
            (name, value) for name, value in headers.items()
            if keeps(name) and name.lower() not in named
        ])


_REQUEST_HEADERS = _AllowList(_REQUEST_ALLOW, ("x-stainless-",))
_RESPONSE_HEADERS = _AllowList(_RESPONSE_ALLOW, ("x-ratelimit-",))


def idempotency_key(request: web.Request, key: str) -> str:
    """The caller's key made theirs alone. Callers behind one upstream key share its idempotency
    space, so an upstream that honours the header would replay one caller's answer, with the
    object it made, to another who sent the same key."""
    principal = request.get(keys.PRINCIPAL)
    owner = f"{principal.org}\n{principal.name}" if principal is not None else ""
    return hashlib.sha256(f"{owner}\n{key}".encode()).hexdigest()


def http_client(
    settings: UpstreamSettings, on_error: Callable[[UpstreamError], None] | None = None
) -> HTTPClient:
    """The client the gateway sends every upstream request through (bench/client_cost.py
    times it as it is). It never decompresses, so bytes and Content-Length stay true end to
    end, and keeps no cookies, so nothing one caller's answer set rides along with another's."""
    return HTTPClient(
        settings.url, connect_timeout=settings.connect_timeout_seconds,
        read_timeout=settings.timeout_seconds, keepalive_timeout=30.0, on_error=on_error,
    )


def _error_reason(error: UpstreamError) -> str:
    """The `reason` label of files_gateway_upstream_errors_total."""
    if isinstance(error, TimeoutError):
        return "timeout"
    return "connect" if isinstance(error, UpstreamConnectionError) else "protocol"


def upstream_failure(error: UpstreamError) -> GatewayError:
    """What the caller is told when the upstream failed before the gateway's answer began,
    whether in the head of its answer or in the body."""
    return upstream_timeout() if isinstance(error, TimeoutError) else upstream_unavailable()


class Upstream:
    def __init__(self, settings: UpstreamSettings, metrics: Metrics) -> None:
        self._settings = settings
        self._metrics = metrics
        # A base URL with a path (a provider that serves the API under a prefix) keeps it.
        self._path = urlsplit(settings.url).path.rstrip("/")
        self._client: HTTPClient | None = None
        self._own = settings.own_headers() if settings.api_key else None

    async def start(self) -> None:
        # Every failure the client hands a caller is counted here, once, head or body alike.
        self._client = http_client(
            self._settings, lambda error: self._metrics.upstream_error(_error_reason(error))
        )

    @property
    def ready(self) -> bool:
        return self._client is not None and not self._client.closed

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()

    def request_headers(
        self, request: web.Request, *, keep_body_headers: bool = True, json_only: bool = False
    ) -> CIMultiDict[str]:
        headers = _REQUEST_HEADERS.filter(request.headers)
        if not keep_body_headers:
            headers.popall(hdrs.CONTENT_TYPE, None)
            headers.popall(hdrs.CONTENT_LENGTH, None)
        elif hdrs.CONTENT_ENCODING in request.headers:
            # aiohttp hands over a gzip, deflate, br or zstd body decoded, so the caller's length
            # is the coded body's: sent as it is, the upstream would read that much and take the
            # rest for a request of its own. The body goes chunked, framed by what is sent.
            headers.popall(hdrs.CONTENT_LENGTH, None)
        if json_only:
            # The gateway edits these bodies, so it must read them uncompressed: said outright,
            # since an upstream may compress when a request names no coding (RFC 9110 §12.5.3).
            headers[hdrs.ACCEPT_ENCODING] = "identity"
        if self._own is not None:
            # The gateway's key may reach several projects; which one is billed, and holds what
            # is made, is the gateway's setting, never the caller's pick.
            for name in SCOPE_HEADERS:
                headers.popall(name, None)
            headers.update(self._own)
        elif (authorization := request.headers.get(hdrs.AUTHORIZATION)) and authorization.isascii():
            headers[hdrs.AUTHORIZATION] = authorization
        headers["x-request-id"] = request[keys.REQUEST_ID]
        if IDEMPOTENCY_KEY in headers:
            headers[IDEMPOTENCY_KEY] = idempotency_key(request, headers[IDEMPOTENCY_KEY])
        return headers

    def response_headers(self, headers: Headers) -> CIMultiDict[str]:
        """The upstream answer's headers a caller gets. Behind the gateway's own key, which
        organization and project answered is the gateway's account, not the caller's."""
        kept = _RESPONSE_HEADERS.filter(headers)
        if self._own is not None:
            for name in SCOPE_HEADERS:
                kept.popall(name, None)
        return kept

    async def send(
        self,
        method: str,
        path_qs: str,
        headers: Mapping[str, str],
        *,
        route: str,
        data: AsyncIterable[bytes] | bytes | None = None,
    ) -> UpstreamResponse:
        """Send and return the response with its body unread; the caller releases it."""
        assert self._client is not None, "upstream client not started"
        started = time.perf_counter()
        try:
            response = await self._client.request(method, self._path + path_qs, headers, data)
        except UpstreamError as exc:
            raise upstream_failure(exc) from exc
        if response.status >= 500:
            self._metrics.upstream_error("status_5xx")
        self._metrics.upstream(route, response.status, time.perf_counter() - started)
        if response.status == 401 and self._own is not None:
            # The upstream refused the gateway's own key (or its organization or project):
            # nothing a caller can mend, and an upstream's answer may quote the key it refused.
            response.release()
            log.error("the upstream refused the gateway's own key: 401 on %s", route)
            raise upstream_unavailable()
        return response


async def read_whole(response: UpstreamResponse) -> bytes:
    """The whole body, the connection released; one the upstream breaks off or stalls is the
    same failure as in the head (the gateway's own answer has not begun)."""
    try:
        return await response.read()
    except UpstreamError as exc:
        raise upstream_failure(exc) from exc
    finally:
        response.release()


async def read_decoded(response: UpstreamResponse, decode: Callable[[bytes], T]) -> T:
    """The whole body, decoded. A body that came whole but does not decode is the upstream's
    failure as much as one cut short: 502, counted as a protocol error."""
    body = await read_whole(response)
    try:
        return decode(body)
    except ValueError as exc:  # orjson's and msgspec's decode errors are ValueErrors
        response.failed(UpstreamProtocolError(f"a body that does not decode: {exc}"))
        raise upstream_unavailable() from exc


async def relay(
    request: web.Request, response: UpstreamResponse, *, download: bool = False,
    head: bytes = b"", rest: AsyncIterable[bytes] | None = None,
) -> web.StreamResponse:
    """Stream an upstream response back chunk by chunk, with allow-listed headers; a file
    download's bytes are counted in files_gateway_bytes_total. `head` is what was already read
    of the body, and `rest` the iterator it was read from."""
    headers = request.app[keys.UPSTREAM].response_headers(response.headers)
    headers["x-request-id"] = request[keys.REQUEST_ID]
    counter = request.app[keys.METRICS].bytes_counter("download") if download else None
    length = response.content_length
    if rest is None and length is not None and length <= CHUNK:
        # A body that fits one chunk goes out whole with its headers: fewer steps per small file.
        body = await read_whole(response)
        if counter is not None:
            counter.inc(len(body))
        return web.Response(status=response.status, headers=headers, body=body)
    out = web.StreamResponse(status=response.status, headers=headers)
    if length is not None:
        out.content_length = length
    await out.prepare(request)
    try:
        if head:
            await out.write(head)
        async for chunk in rest or response.iter_chunks():
            # Counted before the write, so a client that has every byte also sees the count.
            if counter is not None:
                counter.inc(len(chunk))
            await out.write(chunk)
    except UpstreamError:
        # Headers are already sent: the only honest signal left is an aborted body.
        if request.transport is not None:
            request.transport.close()
        raise
    finally:
        response.release()
    await out.write_eof()
    return out
