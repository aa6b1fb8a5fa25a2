"""Refusals in OpenAI's error shape, each with a stable code (DESIGN §7)."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

REASON_HEADER = "x-gateway-reason"


class GatewayError(Exception):
    """A refusal the gateway answers itself; `code` doubles as the metric reason."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        param: str | None = None,
        error_type: str = "invalid_request_error",
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.param = param
        self.error_type = error_type
        self.extra = extra or {}
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {
            "message": self.message,
            "type": self.error_type,
            "param": self.param,
            "code": self.code,
        }
        error.update(self.extra)
        return {"error": error}

    def response(self) -> web.Response:
        headers = {REASON_HEADER: self.code, **self.headers}
        if self.status < 500:
            # A refusal will not change on retry; "could not decide" (5xx) may, so SDKs keep
            # their own retry policy there, honouring Retry-After.
            headers["x-should-retry"] = "false"
        return web.Response(
            status=self.status, body=orjson.dumps(self.body()), content_type="application/json",
            headers=headers,
        )


def invalid_request(message: str, *, param: str | None = None) -> GatewayError:
    """A request the gateway cannot read: a malformed body or form, a bad parameter."""
    return GatewayError(400, "invalid_request", message, param=param)


def invalid_file_id(value: str) -> GatewayError:
    return GatewayError(400, "invalid_file_id", f"Invalid file id: {value[:80]!r}", param="file_id")


def invalid_access_flag(message: str) -> GatewayError:
    return GatewayError(400, "invalid_access_flag", message, param="access")


def file_too_large(limit: int) -> GatewayError:
    return GatewayError(413, "file_too_large", f"File exceeds the limit of {limit} bytes")


def store_unavailable() -> GatewayError:
    return GatewayError(
        503,
        "policy_store_unavailable",
        "The policy store could not answer; the request was not decided",
        error_type="server_error",
        headers={"Retry-After": "1"},
    )


def upstream_unavailable() -> GatewayError:
    return GatewayError(
        502, "upstream_unavailable", "The upstream API could not be reached", error_type="server_error"
    )


def upstream_timeout() -> GatewayError:
    return GatewayError(504, "upstream_timeout", "The upstream API timed out", error_type="server_error")


def identity_error(code: str, message: str) -> GatewayError:
    return GatewayError(401, code, message, error_type="invalid_request_error")
