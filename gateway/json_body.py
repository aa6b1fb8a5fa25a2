"""Bounded, strict JSON request bodies: size cap, duplicate keys refused, depth limit.

Duplicate keys are refused because two parsers may keep different copies; the upstream must see
exactly the ids the gateway checked (issue 4).
"""

from __future__ import annotations

import codecs
import json
from typing import Any

from aiohttp import web

from gateway.errors import GatewayError, invalid_request

MAX_DEPTH = 64


class _DuplicateKey(Exception):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)  # in C: the common case, no duplicate, costs one length comparison
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return result


def _depth(value: Any, limit: int) -> int:
    """Iterative depth check: recursion on hostile input is what we are guarding against."""
    stack = [(value, 1)]
    deepest = 0
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if depth > limit:
            return depth
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        # A scalar below a container is one level deeper than it: counted without visiting it.
        for child in children:
            if isinstance(child, dict | list):
                stack.append((child, depth + 1))
            elif deepest <= depth:
                deepest = depth + 1
    return deepest


class NotJson(ValueError):
    """Text that is not JSON at all (as opposed to JSON the gateway refuses)."""


def parse(raw: bytes, max_depth: int = MAX_DEPTH) -> Any:
    try:
        return document(raw, "the JSON body", max_depth)
    except NotJson as exc:
        raise invalid_request(f"Invalid JSON body: {exc}") from exc


def document(raw: str | bytes, what: str, max_depth: int = MAX_DEPTH, param: str | None = None) -> Any:
    """`raw` parsed as the lenient parsers upstream read it (NaN and Infinity included, which
    orjson refuses), or NotJson. Duplicate keys and hostile nesting are refused, not NotJson:
    they are JSON some parser reads, just not one way."""
    try:
        body = json.loads(raw, object_pairs_hook=_no_duplicates)
    except _DuplicateKey as exc:
        raise invalid_request(f"Duplicate key {exc.args[0]!r} in {what}", param=param) from None
    except RecursionError as exc:
        # The C parser guards its own recursion; a hostile nesting surfaces here.
        raise _too_deep(what, max_depth, param) from exc
    except ValueError as exc:
        raise NotJson(str(exc)) from exc
    if _depth(body, max_depth) > max_depth:
        raise _too_deep(what, max_depth, param)
    return body


def _too_deep(what: str, max_depth: int, param: str | None) -> GatewayError:
    return invalid_request(f"Nesting deeper than {max_depth} in {what}", param=param)


def encoding_family(encoding: str) -> str:
    """`utf-8`, `utf-16` or `utf-32` for the encodings JSON may be in (ASCII is UTF-8); any
    other name as it is."""
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        return encoding
    return "utf-8" if name == "ascii" else name[:6].rstrip("-")


def opens_json(head: bytes, *, final: bool) -> bool | None:
    """Whether the parser above would read a body starting with `head` as an object or array,
    the only JSON that can name anything; None while only blanks (or under 4 bytes, too few to
    tell its encoding) have come. Decoded as the parser decodes, so UTF-16 or a BOM is no way
    around it."""
    if len(head) < 4 and not final:
        return None
    text = head.decode(json.detect_encoding(head), errors="ignore").lstrip(" \t\r\n\ufeff")
    if not text:
        return None if not final else False
    return text[0] in "{["


async def read_json(request: web.Request, limit: int, head: bytes = b"") -> tuple[bytes, Any]:
    """The raw bytes (forwarded as they are) and the parsed body (checked). `head` is what was
    already read of the body."""
    raw = await read_whole(request, limit, head)
    return raw, parse(raw) if raw.strip() else {}


async def read_whole(request: web.Request, limit: int, head: bytes = b"") -> bytes:
    if (request.content_length or 0) > limit:
        raise GatewayError(413, "file_too_large", f"JSON body exceeds {limit} bytes")
    chunks = bytearray(head)
    async for chunk in request.content.iter_chunked(64 * 1024):
        chunks.extend(chunk)
        if len(chunks) > limit:
            raise GatewayError(413, "file_too_large", f"JSON body exceeds {limit} bytes")
    return bytes(chunks)
