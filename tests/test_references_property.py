"""Property: whatever shape a body takes, no id the caller may not use reaches the upstream."""

from __future__ import annotations

import io
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import Gateway
from tests.http import call

KEYS = st.sampled_from(["input", "content", "tools", "output", "items", "x", "data", "parts"])
TYPES = st.sampled_from(["input_file", "input_image", "message", "file", "function_call_output"])


def id_node(file_ids: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.builds(lambda f, t: {"type": t, "file_id": f}, file_ids, TYPES),
        st.builds(lambda fs: {"file_ids": fs}, st.lists(file_ids, min_size=1, max_size=3)),
        st.builds(lambda f: {"source": {"type": "file_id", "id": f}}, file_ids),
        st.builds(lambda f: {"file": {"file_id": f}}, file_ids),
    )


def trees(file_ids: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    leaves = st.one_of(st.text(max_size=5), st.integers(), st.none(), id_node(file_ids))
    return st.recursive(
        leaves,
        lambda children: st.one_of(
            st.lists(children, max_size=3),
            st.dictionaries(KEYS, children, max_size=3),
        ),
        max_leaves=12,
    )


def escape(raw: str, ids: list[str], mask: list[bool]) -> str:
    """Write some ids with JSON unicode escapes, which must decode to the same id."""
    for file_id, escaped in zip(ids, mask, strict=False):
        if escaped:
            raw = raw.replace(file_id, "".join(f"\\u{ord(c):04x}" for c in file_id))
    return raw


def test_no_forbidden_id_reaches_upstream(sqlite_gateway: Gateway) -> None:
    """Random bodies with ids in random places and escapes: forbidden ids never go upstream."""
    gateway = sqlite_gateway

    def upload(who: str, purpose: str, access: str | None = None) -> str:
        return gateway.client(who).files.create(
            file=("f.txt", io.BytesIO(b"x")), purpose=purpose,  # type: ignore[arg-type]
            extra_headers={"X-File-Access": access} if access else {},
        ).id

    allowed = [upload("alice", "user_data"), upload("bob", "user_data")]
    forbidden = [
        upload("bob", "user_data", "private_only"),
        upload("carol", "user_data"),
        gateway.sandbox.seed("user_data"),
        upload("alice", "batch"),  # purpose the Responses API does not accept
    ]
    pool = st.sampled_from(allowed + forbidden)

    @settings(max_examples=120, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(body=trees(pool), mask=st.lists(st.booleans(), min_size=6, max_size=6))
    def check(body: Any, mask: list[bool]) -> None:
        wrapped = {"model": "gpt-4o", "input": [body]}
        raw = escape(json.dumps(wrapped), allowed + forbidden, mask)
        gateway.sandbox.clear()
        reply = call(gateway.url, "POST", "/v1/responses",
                     {"Authorization": "Bearer sk-alice", "Content-Type": "application/json"},
                     raw.encode())
        seen = json.dumps(gateway.sandbox.requests())
        sent = json.dumps(wrapped)
        if any(file_id in sent for file_id in forbidden):
            assert 400 <= reply.status < 500, reply.body
            assert gateway.sandbox.requests() == []
        else:
            # Nothing forbidden: the gateway must not over-block; the body reaches the upstream.
            assert len(gateway.sandbox.requests()) == 1, reply.body
        for file_id in forbidden:
            assert file_id not in seen

    check()
