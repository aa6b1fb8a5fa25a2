"""Small checks on decoded request bodies, each raising OpenAI's 400 for its case."""

from __future__ import annotations

from collections.abc import Collection, Mapping

from .errors import (
    ApiError,
    invalid_type,
    invalid_value,
    missing_parameter,
    not_one_of,
    unexpected_properties,
)

EXPIRY_MIN, EXPIRY_MAX = 3600, 2592000  # expires_after.seconds, 1 hour to 30 days (facts §1)
UPLOAD_PURPOSES = ("assistants", "batch", "fine-tune", "vision", "user_data", "evals")


def check_keys(body: Mapping[str, object], allowed: Collection[str]) -> None:
    unexpected = [k for k in body if k not in allowed]
    if unexpected:
        raise unexpected_properties(unexpected)


def require_str(body: Mapping[str, object], name: str) -> str:
    value = body.get(name)
    if value is None:
        raise missing_parameter(name)
    if not isinstance(value, str):
        raise invalid_type(name, "a string")
    return value


def optional_str(body: Mapping[str, object], name: str) -> str | None:
    return None if body.get(name) is None else require_str(body, name)


def require_int(body: Mapping[str, object], name: str) -> int:
    value = body.get(name)
    if value is None:
        raise missing_parameter(name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid_type(name, "an integer")
    return value


def require_purpose(value: str, name: str = "purpose") -> str:
    if value not in UPLOAD_PURPOSES:
        raise not_one_of(value, UPLOAD_PURPOSES, name)
    return value


def expiry_seconds(anchor: object, seconds: object, name: str = "expires_after") -> int:
    """Validate an ``expires_after`` pair and return its seconds."""
    if anchor is None:
        raise missing_parameter(f"{name}.anchor")
    if anchor != "created_at":
        raise not_one_of(anchor, ["created_at"], f"{name}.anchor")
    if seconds is None:
        raise missing_parameter(f"{name}.seconds")
    if isinstance(seconds, str) and seconds.strip().lstrip("-").isdigit():
        seconds = int(seconds)
    if isinstance(seconds, bool) or not isinstance(seconds, int):
        raise invalid_type(f"{name}.seconds", "an integer")
    if not EXPIRY_MIN <= seconds <= EXPIRY_MAX:
        raise invalid_value(
            f"{name}.seconds",
            f"expected a value between {EXPIRY_MIN} and {EXPIRY_MAX}, but got {seconds} instead.",
        )
    return seconds


def json_expiry(body: Mapping[str, object], name: str = "expires_after") -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise invalid_type(name, "an object")
    check_keys(value, ("anchor", "seconds"))
    return expiry_seconds(value.get("anchor"), value.get("seconds"), name)


def list_limit(raw: str | None, default: int, maximum: int) -> int:
    if raw is None:
        return default
    try:
        limit = int(raw)
    except ValueError:
        raise invalid_type("limit", "an integer") from None
    if not 1 <= limit <= maximum:
        raise ApiError(
            400,
            f"Invalid 'limit': expected a value between 1 and {maximum}, but got {limit} instead.",
            param="limit",
            code="invalid_value",
        )
    return limit


def list_order(raw: str | None, default: str = "desc") -> str:
    order = default if raw is None else raw
    if order not in ("asc", "desc"):
        raise not_one_of(order, ["asc", "desc"], "order")
    return order
