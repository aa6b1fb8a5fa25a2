"""Object lifecycles, found by probing: holders, derived objects and their records. Each test
was a way to reach a file's bytes or lose its restrictions until fixed (stop 22), or held
already and stays as a regression test."""

from __future__ import annotations

import json
from typing import Any

from gateway import keys
from tests import sdk
from tests.conftest import Gateway
from tests.http import Reply, call

SECRET = "zebracorn secret payload"


def auth(who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer sk-{who}", "Content-Type": "application/json"}


def post(gateway: Gateway, who: str, path: str, body: Any) -> Reply:
    return call(gateway.url, "POST", path, auth(who), json.dumps(body).encode())


def get(gateway: Gateway, who: str, path: str) -> Reply:
    return call(gateway.url, "GET", path, auth(who))


def _record(gateway: Gateway, file_id: str) -> Any:
    """The gateway's record of `file_id`, read from its own store."""
    store = gateway.app[keys.STORE]

    async def read() -> Any:
        return await store.get(file_id)

    return gateway.server.call(read)


def test_holder_owner_cannot_strip_flag_lent_by_anothers_file(gateway: Gateway) -> None:
    """Bob's vector store takes over `no_download` from Alice's file he attaches to it. Bob
    owns the store, not the file: he must not be able to clear that inherited flag with
    POST /gateway/v1/files/{vs}/access and then read Alice's no_download text via search."""
    fid = sdk.upload(gateway, "alice", "assistants", "no_download", data=SECRET.encode(),
                     filename="s.txt")
    bob = gateway.client("bob")
    vs = bob.vector_stores.create(name="bobs")
    bob.vector_stores.files.create(vector_store_id=vs.id, file_id=fid)
    view = get(gateway, "bob", f"/gateway/v1/files/{vs.id}/access").json()
    assert "no_download" in view["flags"]
    blocked = post(gateway, "bob", f"/v1/vector_stores/{vs.id}/search", {"query": "zebracorn"})
    assert blocked.status == 403, blocked.body
    retag = post(gateway, "bob", f"/gateway/v1/files/{vs.id}/access", {"flags": []})
    assert (retag.status, retag.code) == (403, "flags_change_forbidden"), retag.body
    searched = post(gateway, "bob", f"/v1/vector_stores/{vs.id}/search", {"query": "zebracorn"})
    assert (searched.status, searched.code) == (403, "download_disabled"), searched.body[:300]
    # Restrictions may still be added.
    added = post(gateway, "bob", f"/gateway/v1/files/{vs.id}/access",
                 {"flags": ["no_download", "private_only"]})
    assert added.status == 200, added.body


def test_container_owner_cannot_strip_no_download_of_copied_file(gateway: Gateway) -> None:
    """Bob makes a container from Alice's `no_download` file (file_ids at create). The copy's
    bytes must stay unreadable to Bob: clearing the container's inherited flag must not open
    /v1/containers/{c}/files/{cf}/content."""
    fid = sdk.upload(gateway, "alice", "user_data", "no_download", data=SECRET.encode(),
                     filename="s.txt")
    made = post(gateway, "bob", "/v1/containers", {"name": "c", "file_ids": [fid]})
    assert made.status == 200, made.body
    cid = made.json()["id"]
    files = get(gateway, "bob", f"/v1/containers/{cid}/files").json()["data"]
    assert files, files
    cfid = files[0]["id"]
    first = get(gateway, "bob", f"/v1/containers/{cid}/files/{cfid}/content")
    assert first.status == 403, first.body
    retag = post(gateway, "bob", f"/gateway/v1/files/{cid}/access", {"flags": []})
    assert (retag.status, retag.code) == (403, "flags_change_forbidden"), retag.body
    second = get(gateway, "bob", f"/v1/containers/{cid}/files/{cfid}/content")
    assert (second.status, second.code) == (403, "download_disabled"), second.body[:300]


def test_upload_ephemeral_completed_file_expires(gateway: Gateway) -> None:
    """An Upload created `ephemeral` completes to a File that is ephemeral at the gateway as a
    file uploaded with /v1/files is: its record carries an expiry (410 after it, reaped)."""
    alice = gateway.client("alice")
    up = alice.uploads.create(bytes=3, filename="a.jsonl", mime_type="text/jsonl",
                              purpose="batch", extra_headers={"X-File-Access": "ephemeral"})
    part = alice.uploads.parts.create(upload_id=up.id, data=b"{}\n")
    done = alice.uploads.complete(upload_id=up.id, part_ids=[part.id])
    assert done.file is not None
    record = _record(gateway, done.file.id)
    assert "ephemeral" in record.flags
    assert record.expires_at is not None, record


def test_private_file_not_into_anothers_vector_store_file_batch(gateway: Gateway) -> None:
    """A file batch's `files: [{file_id}]` form puts Bob's private file into Alice's store no
    more than `file_ids` does."""
    vs = gateway.client("alice").vector_stores.create(name="alices")
    fid = sdk.upload(gateway, "bob", "assistants", "private_only", data=b"x", filename="x.txt")
    for body in ({"file_ids": [fid]}, {"files": [{"file_id": fid}]}):
        reply = post(gateway, "bob", f"/v1/vector_stores/{vs.id}/file_batches", body)
        assert reply.status == 403, reply.body


def test_file_search_results_of_no_download_store_are_a_download(gateway: Gateway) -> None:
    """POST /v1/vector_stores/{vs}/search on a store holding a `no_download` file is refused
    (403 download_disabled): it answers the file's text. A Responses file_search over the same
    store with include=["file_search_call.results"] answers that text too (results[].text), so a
    careful user expects it refused the same way (the tool itself may still be used)."""
    fid = sdk.upload(gateway, "alice", "assistants", "no_download", data=SECRET.encode(),
                     filename="s.txt")
    alice = gateway.client("alice")
    vs = alice.vector_stores.create(name="alices", file_ids=[fid])
    searched = post(gateway, "alice", f"/v1/vector_stores/{vs.id}/search", {"query": "zebracorn"})
    assert searched.status == 403, searched.body
    gateway.sandbox.clear()
    asked = {"model": "gpt-4.1", "input": "zebracorn",
             "tools": [{"type": "file_search", "vector_store_ids": [vs.id]}]}
    turn = post(gateway, "alice", "/v1/responses",
                {**asked, "include": ["file_search_call.results"]})
    assert (turn.status, turn.code) == (403, "download_disabled"), turn.body
    assert gateway.sandbox.requests() == []
    assert post(gateway, "alice", "/v1/responses", asked).status == 200


def test_vector_store_file_content_keeps_file_rule_after_holder_retag(gateway: Gateway) -> None:
    """Regression: the vector store file content side channel follows the file's own
    `no_download`, whatever the store's record says."""
    fid = sdk.upload(gateway, "alice", "assistants", "no_download", data=SECRET.encode(),
                     filename="s.txt")
    bob = gateway.client("bob")
    vs = bob.vector_stores.create(name="bobs", file_ids=[fid])
    post(gateway, "bob", f"/gateway/v1/files/{vs.id}/access", {"flags": []})
    content = get(gateway, "bob", f"/v1/vector_stores/{vs.id}/files/{fid}/content")
    assert content.status == 403 and SECRET.encode() not in content.body


def test_batch_output_first_seen_by_peer_stays_creators(gateway: Gateway) -> None:
    """Regression: a batch's output first seen through a peer's retrieve is the batch creator's,
    with the batch's flags, not the peer's."""
    line = b'{"custom_id": "1", "method": "POST", "url": "/v1/chat/completions", "body": {}}\n'
    fid = sdk.upload(gateway, "alice", "batch", "no_download", data=line, filename="b.jsonl")
    batch = post(gateway, "alice", "/v1/batches", {"input_file_id": fid,
                                                   "endpoint": "/v1/chat/completions",
                                                   "completion_window": "24h"}).json()
    seen = get(gateway, "bob", f"/v1/batches/{batch['id']}").json()
    out = seen["output_file_id"]
    record = _record(gateway, out)
    assert (record.owner, record.org) == ("alice", "acme")
    assert "no_download" in record.flags
    assert get(gateway, "bob", f"/v1/files/{out}/content").status == 403
    assert get(gateway, "carol", f"/v1/batches/{batch['id']}").status == 404


def test_deleted_response_cannot_be_continued_or_read(gateway: Gateway) -> None:
    """Regression: a response deleted through the gateway is gone for continuing and sub-reads."""
    made = post(gateway, "alice", "/v1/responses", {"model": "gpt-4.1", "input": "hi"}).json()
    assert call(gateway.url, "DELETE", f"/v1/responses/{made['id']}", auth("alice")).status == 200
    again = post(gateway, "alice", "/v1/responses", {"model": "gpt-4.1", "input": "hi",
                                                     "previous_response_id": made["id"]})
    assert again.status == 404, again.body
    assert get(gateway, "alice", f"/v1/responses/{made['id']}/input_items").status == 404


def test_eval_run_output_items_follow_file_not_run(gateway: Gateway) -> None:
    """Regression: Bob's run on Alice's no_download file shows its rows to nobody, even after
    Bob clears his run's inherited flag."""
    rows = b'{"item": {"q": "zebracorn"}}\n'
    fid = sdk.upload(gateway, "alice", "evals", "no_download", data=rows, filename="r.jsonl")
    ev = post(gateway, "bob", "/v1/evals", {
        "name": "e", "data_source_config": {"type": "custom", "item_schema": {
            "type": "object", "properties": {"q": {"type": "string"}}}},
        "testing_criteria": [{"type": "string_check", "name": "c", "input": "{{item.q}}",
                              "reference": "x", "operation": "eq"}]})
    assert ev.status == 200, ev.body
    run = post(gateway, "bob", f"/v1/evals/{ev.json()['id']}/runs", {
        "name": "r", "data_source": {"type": "jsonl", "source": {"type": "file_id", "id": fid}}})
    assert run.status == 200, run.body
    rid = run.json()["id"]
    post(gateway, "bob", f"/gateway/v1/files/{rid}/access", {"flags": []})
    items = get(gateway, "bob", f"/v1/evals/{ev.json()['id']}/runs/{rid}/output_items")
    assert items.status == 403 and b"zebracorn" not in items.body


def test_private_file_not_into_anothers_conversation_items(gateway: Gateway) -> None:
    """Regression: Bob cannot add his private file to Alice's conversation as an item, and a
    no_download file he adds is lent to it."""
    conv = gateway.client("alice").conversations.create()
    private = sdk.upload(gateway, "bob", "user_data", "private_only")
    item: dict[str, Any] = {"items": [{"type": "message", "role": "user", "content": [
        {"type": "input_file", "file_id": private}]}]}
    assert post(gateway, "bob", f"/v1/conversations/{conv.id}/items", item).status == 403
    guarded = sdk.upload(gateway, "bob", "user_data", "no_download")
    item["items"][0]["content"][0]["file_id"] = guarded
    assert post(gateway, "bob", f"/v1/conversations/{conv.id}/items", item).status == 200
    assert "no_download" in _record(gateway, conv.id).flags
    assert get(gateway, "carol", f"/v1/conversations/{conv.id}/items").status == 404
