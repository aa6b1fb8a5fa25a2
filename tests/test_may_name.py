"""`may_name` lets a JSON text go unparsed only if it cannot name anything: a property over
bodies built from every key `find_refs` and `find_inline` look for, written with and without
escapes, and a table of the texts that must be parsed."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.file_refs import (
    CONTAINER_TOOLS,
    HOLDER_KEYS,
    HOLDER_LIST_KEYS,
    INLINE_KEYS,
    LIST_KEYS,
    SINGLE_KEYS,
    continued_refs,
    find_inline,
    find_refs,
    may_name,
)

KEYS = st.sampled_from(sorted(SINGLE_KEYS | LIST_KEYS | HOLDER_KEYS | HOLDER_LIST_KEYS | INLINE_KEYS
                              | {"container", "source", "model", "type", "id", "input", "tools",
                                 "metadata", "annotations", "text", "container_id",
                                 "previous_response_id", "conversation"}))
VALUES = st.one_of(
    st.sampled_from(["file-abc", "vs_1", "ft:gpt-4o:acme::x", "cntr_1", "file_id",
                     "container_reference", *sorted(CONTAINER_TOOLS)]),
    st.text(max_size=6), st.integers(), st.none(),
)
TREES = st.recursive(
    VALUES,
    lambda children: st.one_of(st.lists(children, max_size=3),
                               st.dictionaries(KEYS, children, max_size=4)),
    max_leaves=16,
)


def escaped(node: Any, mask: list[bool]) -> str:
    """`node` as JSON with some letters and digits of every string written as \\uXXXX, as any
    JSON writer may."""
    if isinstance(node, dict):
        return "{" + ", ".join(f"{escaped(key, mask)}: {escaped(value, mask)}"
                               for key, value in node.items()) + "}"
    if isinstance(node, list):
        return "[" + ", ".join(escaped(item, mask) for item in node) + "]"
    if not isinstance(node, str):
        return json.dumps(node)
    return '"' + "".join(
        f"\\u{ord(char):04x}" if char.isalnum() and ord(char) < 0x10000 and mask[index % len(mask)]
        else json.dumps(char)[1:-1] for index, char in enumerate(node)) + '"'


@given(TREES, st.lists(st.booleans(), min_size=1, max_size=7), st.booleans())
def test_a_text_passed_over_names_nothing(tree: Any, mask: list[bool], ascii_only: bool) -> None:
    for raw in (json.dumps(tree, ensure_ascii=ascii_only), escaped(tree, mask)):
        body = json.loads(raw)
        if not may_name(raw.encode()):
            for api in ("responses", "chat_completions", "batches", "other"):
                assert find_refs(body, api) == []
            assert find_inline(body) == []
            assert continued_refs(body) == []


@pytest.mark.parametrize(("raw", "expected"), [
    (b'{"model": "text-embedding-3-small", "input": ["a", "b"]}', False),
    (b'{"input": "a file of mine"}', True),  # parsed, though it names nothing
    (b'{"file_id": "file-a"}', True),
    (b'{"fil\\u0065_id": "file-a"}', True),
    (b'{"model": "ft:gpt-4o:acme::x"}', True),
    (b'{"tools": [{"type": "code_interpreter", "container": "cntr_1"}]}', True),
    (b'{"vector_store_ids": ["vs_1"]}', True),
    (b'{"skill_id": "skill_1"}', True),
    (b'{"previous_response_id": "resp_1"}', True),
    (b'{"conversation": {"id": "conv_1"}}', True),
    (b'{"tools": [{"type": "shell", "environment": {"type": "container_reference", '
     b'"container_id": "cntr_1"}}]}', True),
    # The parser reads UTF-16 and UTF-32 too, where the UTF-8 markers do not show: parsed.
    ('{"file_id": "file-a"}'.encode("utf-16"), True),
    ('{"file_id": "file-a"}'.encode("utf-32-le"), True),
    ('{"input": "a"}'.encode("utf-16-be"), True),
    ('\ufeff{"input": "a"}'.encode(), False),  # UTF-8 with a BOM
])
def test_what_must_be_parsed(raw: bytes, expected: bool) -> None:
    assert may_name(raw) is expected
