"""Webhook endpoints through the gateway: each is its creator's, so no other org can read, list,
change, delete or test it, or rotate its signing secret (which answers with the new one).
Official SDK over real HTTP against the sandbox.

alice and bob share org acme; carol is in globex.
"""

from __future__ import annotations

from pathlib import Path

import openai

from tests.conftest import Gateway, GatewayFactory, Sandbox
from tests.sdk import refused
from tests.test_backfill import backfill, backfill_config

NOT_FOUND = (404, "file_not_found")
EVENTS: list = ["batch.completed"]  # type: ignore[type-arg]


def create(client: openai.OpenAI, name: str) -> str:
    return client.webhooks.create(event_types=EVENTS, name=name,
                                  url=f"https://{name}.example.com/hooks").id


def test_a_webhook_endpoint_is_its_creators(gateway: Gateway) -> None:
    alice, bob, carol = (gateway.client(who).webhooks for who in ("alice", "bob", "carol"))
    ours = create(gateway.client("alice"), "ours")
    theirs = create(gateway.client("carol"), "theirs")

    assert bob.retrieve(ours).id == ours
    assert [endpoint.id for endpoint in bob.list()] == [ours]
    assert [endpoint.id for endpoint in carol.list()] == [theirs]

    gateway.sandbox.clear()
    assert refused(lambda: carol.retrieve(ours)) == NOT_FOUND
    assert refused(lambda: carol.update(ours, url="https://evil.example.com/")) == NOT_FOUND
    assert refused(lambda: carol.rotate_secret(ours)) == NOT_FOUND
    assert refused(lambda: carol.test(ours, event_type="batch.completed")) == NOT_FOUND
    assert refused(lambda: carol.delete(ours)) == NOT_FOUND
    assert refused(lambda: carol.list(after=ours)) == NOT_FOUND  # a cursor is a read of it
    assert gateway.sandbox.requests() == []

    assert bob.rotate_secret(ours).signing_secret
    assert alice.delete(ours).deleted
    assert [endpoint.id for endpoint in carol.list()] == [theirs]


def test_endpoints_made_before_the_gateway_are_adopted(
    sandbox: Sandbox, make_gateway: GatewayFactory, tmp_path: Path
) -> None:
    store, config = backfill_config(sandbox, tmp_path)
    with openai.OpenAI(api_key="sk-admin", base_url=sandbox.url + "/v1", max_retries=0) as direct:
        earlier = create(direct, "earlier")
    gateway = make_gateway(store=store)
    assert refused(lambda: gateway.client("bob").webhooks.retrieve(earlier)) == (
        403, "file_untracked")

    code, output = backfill(config, "--objects", "webhook_endpoints")
    assert code == 0, output
    assert "backfill done: seen 1, adopted 1, already known 0" in output
    assert gateway.client("bob").webhooks.retrieve(earlier).id == earlier
    assert refused(lambda: gateway.client("carol").webhooks.retrieve(earlier)) == NOT_FOUND
