"""The strict JSON reader every checked body goes through: a nesting limit that counts a scalar
as a level of its own, duplicate keys refused, hostile nesting a 400 and never a crash."""

from __future__ import annotations

import json

import pytest

from gateway.errors import GatewayError
from gateway.json_body import MAX_DEPTH, parse


def nested(levels: int, leaf: str = "") -> bytes:
    """`levels` arrays one inside another, around `leaf`."""
    return ("[" * levels + leaf + "]" * levels).encode()


@pytest.mark.parametrize("raw", [
    b"{}",
    b'{"a": 1}',
    nested(MAX_DEPTH),  # the innermost empty array is a level
    nested(MAX_DEPTH - 1, '"x"'),  # and so is a string
    b'{"input": ["a", "b"], "k": {"l": [{}]}}',
])
def test_bodies_within_the_limits_parse(raw: bytes) -> None:
    """As the standard parser reads them, with no check of ours in the way."""
    assert parse(raw) == json.loads(raw)


@pytest.mark.parametrize(("raw", "message"), [
    (nested(MAX_DEPTH + 1), "deeper than 64 in the JSON body"),
    (nested(MAX_DEPTH, "1"), "deeper than 64 in the JSON body"),  # a scalar one level too deep
    (b'{"k": [' + nested(MAX_DEPTH) + b"]}", "deeper than 64 in the JSON body"),
    (nested(200_000), "deeper than 64 in the JSON body"),  # the C parser's own guard, not a crash
    (b'{"file_id": "file-a", "file_id": "file-b"}', "Duplicate key 'file_id'"),
    (b'{"a": {"x": 1, "x": 2}}', "Duplicate key 'x'"),
    (b'{"a": ', "Invalid JSON body"),
])
def test_bodies_beyond_them_are_invalid_requests(raw: bytes, message: str) -> None:
    with pytest.raises(GatewayError) as refused:
        parse(raw)
    assert (refused.value.status, refused.value.code) == (400, "invalid_request")
    assert message in refused.value.message
