"""Containers through the gateway, as the SDK drives them: listed by org (with the `name` filter
the SDK sends), deleted by their org only, their files listed and deleted under the container's
rules. And a list never answers more than was asked: a filter the gateway would drop, or
`before`, is refused rather than ignored.

Official SDK over real HTTP against the sandbox; alice and bob share org acme, carol is in
globex.
"""

from __future__ import annotations

import io

import pytest
import redis

from tests.conftest import Gateway, GatewayFactory
from tests.http import call
from tests.sdk import refusal, refused, upload
from tests.servers import RedisServer

NOT_FOUND = (404, "file_not_found")


def test_containers_are_listed_and_deleted_by_their_org(gateway: Gateway) -> None:
    alice, bob, carol = (gateway.client(who).containers for who in ("alice", "bob", "carol"))
    reports, scratch = alice.create(name="reports"), bob.create(name="scratch")
    theirs = carol.create(name="reports")

    assert {c.id for c in alice.list()} == {reports.id, scratch.id}
    assert [c.id for c in alice.list(name="reports")] == [reports.id]
    assert [c.id for c in carol.list(name="reports")] == [theirs.id]
    names = [r["query"].get("name") for r in gateway.sandbox.requests()
             if r["method"] == "GET" and r["path"] == "/v1/containers"]
    assert "reports" in names

    gateway.sandbox.clear()
    assert refused(lambda: carol.delete(reports.id)) == NOT_FOUND
    assert gateway.sandbox.requests() == []
    bob.delete(reports.id)  # the org's, not private
    assert refused(lambda: alice.retrieve(reports.id)) == NOT_FOUND
    assert [c.id for c in alice.list()] == [scratch.id]


def test_a_containers_files_are_listed_and_deleted_under_its_rules(gateway: Gateway) -> None:
    client = gateway.client("alice")
    container = client.containers.create(name="c", file_ids=[upload(gateway, "alice")])
    made = client.containers.files.create(container.id, file=("notes.txt", io.BytesIO(b"x")))
    files = client.containers.files
    listed = {f.id for f in files.list(container.id)}
    assert made.id in listed and len(listed) == 2  # with the copy of the file it was made with

    carols = gateway.client("carol").containers.files
    gateway.sandbox.clear()
    assert refused(lambda: carols.list(container.id)) == NOT_FOUND
    assert refused(lambda: carols.delete(made.id, container_id=container.id)) == NOT_FOUND
    assert gateway.sandbox.requests() == []

    files.delete(made.id, container_id=container.id)
    assert {f.id for f in files.list(container.id)} == listed - {made.id}


@pytest.mark.parametrize(("path", "param"), [
    ("/v1/vector_stores?before=vs_abc", "before"),
    ("/v1/containers?order=asc&colour=red", "colour"),
    ("/v1/files?purpose=batch&created_after=1", "created_after"),
])
def test_a_list_refuses_what_it_would_otherwise_drop(
    gateway: Gateway, path: str, param: str
) -> None:
    """Before, such a key was dropped and the answer was the unfiltered list."""
    gateway.sandbox.clear()
    reply = call(gateway.url, "GET", path, {"Authorization": "Bearer sk-alice"})
    assert (reply.status, reply.code) == (400, "invalid_request"), reply.body
    assert reply.json()["error"]["param"] == param
    assert gateway.sandbox.requests() == []


def test_fine_tuning_jobs_are_filtered_by_metadata_upstream(gateway: Gateway) -> None:
    """The SDK's `metadata` filter reaches the upstream (it was dropped)."""
    jobs = gateway.client("alice").fine_tuning.jobs
    training = upload(gateway, "alice", "fine-tune", data=b'{"messages": []}\n', filename="t.jsonl")
    jobs.create(model="gpt-4o-mini", training_file=training, metadata={"team": "search"})
    gateway.sandbox.clear()
    list(jobs.list(metadata={"team": "search"}))
    sent = [r["query"] for r in gateway.sandbox.requests() if r["path"] == "/v1/fine_tuning/jobs"]
    assert sent and sent[0].get("metadata[team]") == "search", sent
    assert refusal(lambda: jobs.list(extra_query={"before": "ftjob-x"})) == (
        400, "invalid_request", "before")


@pytest.mark.parametrize("how", ["copied", "uploaded"])
def test_a_file_put_in_a_container_the_store_cannot_record_is_taken_out(
    make_gateway: GatewayFactory, own_redis: RedisServer, how: str
) -> None:
    """Unrecorded, a copy would be read by the container's rules, not its file's: it is
    deleted from the container and the caller hears 503, as for anything else the gateway made
    but could not record."""
    gateway = make_gateway(store=own_redis.url, store_timeout_seconds=0.5)
    client = gateway.client("alice")
    container = client.containers.create(name="c")
    source = upload(gateway, "alice")

    def put() -> object:
        if how == "copied":
            return client.containers.files.create(container.id, file_id=source)
        return client.containers.files.create(container.id, file=("n.txt", io.BytesIO(b"x")))

    gateway.sandbox.clear()
    with redis.Redis(host="127.0.0.1", port=own_redis.port) as admin:
        admin.config_set("min-replicas-to-write", 1)
        try:
            assert refused(put) == (503, "policy_store_unavailable")
        finally:
            admin.config_set("min-replicas-to-write", 0)
    sent = [(r["method"], r["path"], r["status"]) for r in gateway.sandbox.requests()]
    assert [method for method, _, _ in sent] == ["POST", "DELETE"], sent
    assert sent[1][1].startswith(f"/v1/containers/{container.id}/files/cfile_") and sent[1][2] == 200
    assert list(client.containers.files.list(container.id)) == []
