"""An upstream that honours `Idempotency-Key` (some OpenAI-compatible ones do; OpenAI's own API
does not) must not hand one caller's object to another.

Behind one upstream key every caller shares its idempotency space. The gateway forwarded the
caller's key as it came, so a second org sending the same key got the first org's file back,
and the gateway recorded that file as the second org's: a download of another org's file, and
the first org locked out of its own. Now the key goes up made the caller's alone, and a create
is never recorded over another owner's record. The sandbox honours the header when told to.
"""

from __future__ import annotations

import dataclasses
import io

import pytest

from gateway import keys
from tests.conftest import Gateway, GatewayFactory
from tests.sdk import refused

KEY = {"Idempotency-Key": "nightly-report-2026-12-03"}


@pytest.fixture
def shared_key(make_gateway: GatewayFactory) -> Gateway:
    """Every caller's requests go up with the gateway's own key, to an idempotent upstream."""
    gateway = make_gateway(**{"upstream.api_key": "sk-gateway-own"})
    gateway.sandbox.faults({"idempotent": {"POST /v1/": True}})
    return gateway


def create_file(gateway: Gateway, who: str) -> str:
    return gateway.client(who).files.create(
        file=("r.jsonl", io.BytesIO(b"{}\n")), purpose="batch", extra_headers=KEY).id


def test_one_callers_key_never_replays_another_callers_object(shared_key: Gateway) -> None:
    gateway = shared_key
    alices = create_file(gateway, "alice")
    carols = create_file(gateway, "carol")
    assert carols != alices
    sent = {r["headers"]["idempotency-key"] for r in gateway.sandbox.requests()
            if r["method"] == "POST"}
    assert len(sent) == 2 and KEY["Idempotency-Key"] not in sent
    assert gateway.client("alice").files.content(alices).read() == b"{}\n"
    assert refused(lambda: gateway.client("carol").files.content(alices)) == (404, "file_not_found")
    # The same caller's retry is still one object: the upstream answers it again.
    assert create_file(gateway, "alice") == alices
    assert gateway.client("alice").files.retrieve(alices).id == alices


def test_a_create_answered_with_another_owners_object_is_not_taken_over(
    shared_key: Gateway,
) -> None:
    """Whatever made the upstream answer so (here, a record that became another org's), the
    caller gets 502 and nothing of the object, and its record stays as it was."""
    gateway = shared_key
    alice = gateway.client("alice").vector_stores
    made = alice.create(name="reports", extra_headers=KEY).id
    store = gateway.app[keys.STORE]

    async def hand_to_carol() -> None:
        record = await store.get(made)
        assert record is not None
        await store.put(dataclasses.replace(record, owner="carol", org="globex"))

    gateway.server.call(hand_to_carol)
    assert refused(lambda: alice.create(name="reports", extra_headers=KEY)) == (
        502, "upstream_unavailable")
    assert refused(lambda: alice.retrieve(made)) == (404, "file_not_found")
    assert gateway.client("carol").vector_stores.retrieve(made).id == made
