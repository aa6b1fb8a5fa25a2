"""Evals and their runs belong to whoever created them through the gateway; a run's output items
show the rows of its file, so reading them follows that file's download rule; a run may not
read stored completions or responses. Official SDK over real HTTP against the sandbox.

alice and bob share org acme; carol is in globex.
"""

from __future__ import annotations

import json
from functools import partial
from typing import Any

import pytest

from tests import sdk
from tests.conftest import Gateway, GatewayFactory, MemorySink
from tests.http import call
from tests.sdk import refused

ROWS = b'{"item": {"question": "secret row one"}}\n{"item": {"question": "secret row two"}}\n'
CRITERIA: list[Any] = [{"type": "string_check", "name": "same", "input": "{{item.question}}",
                        "reference": "x", "operation": "eq"}]


upload = partial(sdk.upload, purpose="evals", data=ROWS, filename="rows.jsonl")


def make_eval(gateway: Gateway, who: str) -> str:
    return gateway.client(who).evals.create(
        name="e", testing_criteria=CRITERIA,
        data_source_config={"type": "custom", "item_schema": {"type": "object"}},
    ).id


def run_on(gateway: Gateway, who: str, eval_id: str, file_id: str) -> str:
    return gateway.client(who).evals.runs.create(
        eval_id, data_source={"type": "jsonl", "source": {"type": "file_id", "id": file_id}},
    ).id


def rows_seen(gateway: Gateway, who: str, eval_id: str, run_id: str) -> list[Any]:
    items = gateway.client(who).evals.runs.output_items.list(run_id, eval_id=eval_id)
    return sorted(str(item.datasource_item) for item in items)


NOT_FOUND = (404, "file_not_found")


def test_evals_and_runs_are_their_org_s(gateway: Gateway) -> None:
    eval_id = make_eval(gateway, "alice")
    run_id = run_on(gateway, "alice", eval_id, upload(gateway, "alice"))
    alice, bob, carol = (gateway.client(who).evals for who in ("alice", "bob", "carol"))

    assert [e.id for e in alice.list()] == [eval_id]
    assert [r.id for r in bob.runs.list(eval_id)] == [run_id]
    assert "secret row one" in rows_seen(gateway, "bob", eval_id, run_id)[0]

    gateway.sandbox.clear()
    assert [e.id for e in carol.list()] == []
    assert refused(lambda: carol.retrieve(eval_id)) == NOT_FOUND
    assert refused(lambda: carol.update(eval_id, name="mine")) == NOT_FOUND
    assert refused(lambda: carol.delete(eval_id)) == NOT_FOUND
    assert refused(lambda: carol.runs.list(eval_id)) == NOT_FOUND
    assert refused(lambda: carol.runs.retrieve(run_id, eval_id=eval_id)) == NOT_FOUND
    assert refused(lambda: carol.runs.cancel(run_id, eval_id=eval_id)) == NOT_FOUND
    assert refused(lambda: carol.runs.delete(run_id, eval_id=eval_id)) == NOT_FOUND
    assert refused(lambda: carol.runs.output_items.list(run_id, eval_id=eval_id)) == NOT_FOUND
    assert refused(lambda: carol.runs.output_items.retrieve(
        "outputitem_1", eval_id=eval_id, run_id=run_id)) == NOT_FOUND
    assert refused(lambda: run_on(gateway, "carol", eval_id, upload(gateway, "carol"))) == (
        NOT_FOUND)
    assert [r["path"] for r in gateway.sandbox.requests()] == ["/v1/evals", "/v1/files"]

    assert alice.runs.delete(run_id, eval_id=eval_id).deleted
    assert refused(lambda: alice.runs.retrieve(run_id, eval_id=eval_id)) == NOT_FOUND
    assert alice.delete(eval_id).deleted
    assert refused(lambda: alice.retrieve(eval_id)) == NOT_FOUND


def test_output_items_follow_the_file_s_download_rule(make_gateway: GatewayFactory) -> None:
    """Owner-only downloads of evals files: bob may see alice's run but not its rows."""

    def owner_downloads(policy: dict[str, Any]) -> None:
        policy["purposes"]["evals"]["download"] = "owner"

    gateway = make_gateway(owner_downloads)
    eval_id = make_eval(gateway, "alice")
    run_id = run_on(gateway, "alice", eval_id, upload(gateway, "alice"))
    bob = gateway.client("bob").evals.runs
    assert bob.retrieve(run_id, eval_id=eval_id).id == run_id
    assert len(rows_seen(gateway, "alice", eval_id, run_id)) == 2
    gateway.sandbox.clear()
    assert refused(lambda: bob.output_items.list(run_id, eval_id=eval_id)) == (
        403, "purpose_download_forbidden")
    assert gateway.sandbox.requests() == []

    sealed = run_on(gateway, "alice", eval_id, upload(gateway, "alice", access="no_download"))
    assert refused(lambda: gateway.client("alice").evals.runs.output_items.list(
        sealed, eval_id=eval_id)) == (403, "download_disabled")

    private = run_on(gateway, "alice", eval_id, upload(gateway, "alice", access="private_only"))
    assert refused(lambda: bob.retrieve(private, eval_id=eval_id)) == (
        403, "private_only_forbidden")
    assert [r.id for r in bob.list(eval_id)] == [run_id, sealed]


@pytest.mark.parametrize(
    "data_source",
    [
        {"type": "completions", "source": {"type": "stored_completions", "metadata": {}}},
        {"type": "responses", "source": {"type": "responses", "metadata": {}}},
    ],
    ids=["stored completions", "responses"],
)
def test_runs_on_stored_exchanges_are_refused(
    make_gateway: GatewayFactory, data_source: dict[str, Any]
) -> None:
    sink = MemorySink()
    gateway = make_gateway(sinks=[sink])
    eval_id = make_eval(gateway, "alice")
    gateway.sandbox.clear()
    before = len(sink.events)
    reply = call(gateway.url, "POST", f"/v1/evals/{eval_id}/runs",
                 {"Authorization": "Bearer sk-alice", "Content-Type": "application/json"},
                 json.dumps({"data_source": data_source}).encode())
    assert (reply.status, reply.code) == (403, "stored_source_forbidden"), reply.body
    assert reply.json()["error"]["param"] == "data_source.source.type"
    assert reply.headers["x-gateway-reason"] == "stored_source_forbidden"
    assert gateway.sandbox.requests() == []
    decisions = [(e["action"], e["decision"], e["reason"]) for e in sink.events[before:]]
    assert decisions == [("reference", "allow", "owner"),
                         ("reference", "deny", "stored_source_forbidden")]
    assert gateway.metric("files_gateway_decisions_total", action="reference", decision="deny",
                          reason="stored_source_forbidden",
                          purpose="unknown") == 1
