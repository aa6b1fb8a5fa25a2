"""Objects that hold files follow the file rules, and derived files inherit from their parent."""

from __future__ import annotations

import json
from functools import partial

import openai
import pytest

from tests import sdk
from tests.conftest import Gateway
from tests.http import call

JSONL = b'{"custom_id": "1", "method": "POST", "url": "/v1/chat/completions", "body": {}}\n'


def auth(who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer sk-{who}", "Content-Type": "application/json"}


upload = partial(sdk.upload, data=JSONL, filename="d.jsonl")


def test_private_batch_and_its_output_inherit(gateway: Gateway) -> None:
    """A batch of a private input is private; its output file is too, for owner and peers."""
    alice, bob, carol = (gateway.client(who) for who in ("alice", "bob", "carol"))
    batch = alice.batches.create(
        input_file_id=upload(gateway, "alice", "batch", "private_only"),
        endpoint="/v1/chat/completions", completion_window="24h",
    )
    assert batch.output_file_id
    assert alice.files.content(batch.output_file_id).content
    gateway.sandbox.clear()
    with pytest.raises(openai.PermissionDeniedError) as peer:
        bob.batches.retrieve(batch.id)
    assert peer.value.code == "private_only_forbidden"
    with pytest.raises(openai.PermissionDeniedError):
        bob.batches.cancel(batch.id)
    with pytest.raises(openai.PermissionDeniedError) as output:
        bob.files.content(batch.output_file_id)
    assert output.value.code == "private_only_forbidden"
    with pytest.raises(openai.NotFoundError):
        carol.batches.retrieve(batch.id)
    with pytest.raises(openai.NotFoundError):
        carol.files.retrieve(batch.output_file_id)
    assert gateway.sandbox.requests() == []
    assert batch.id not in [b.id for b in bob.batches.list()]
    assert batch.id in [b.id for b in alice.batches.list()]
    listed = call(gateway.url, "GET", "/v1/files?limit=100", auth("bob")).body
    assert batch.output_file_id.encode() not in listed


def test_org_batch_output_is_shared_in_org(gateway: Gateway) -> None:
    """An org-scoped batch's output is downloadable by a peer, as batch_output, not by others."""
    batch = gateway.client("alice").batches.create(
        input_file_id=upload(gateway, "alice", "batch"),
        endpoint="/v1/chat/completions", completion_window="24h",
    )
    assert batch.output_file_id
    peer_view = gateway.client("bob").files.retrieve(batch.output_file_id)
    assert peer_view.purpose == "batch_output"
    assert gateway.client("bob").files.content(batch.output_file_id).content
    with pytest.raises(openai.NotFoundError):
        gateway.client("carol").files.content(batch.output_file_id)


def test_output_first_seen_on_retrieve_is_recorded(gateway: Gateway) -> None:
    """A derived file is recorded when first seen in a batch response, e.g. a retrieve."""
    batch = gateway.client("alice").batches.create(
        input_file_id=upload(gateway, "alice", "batch", "no_download"),
        endpoint="/v1/chat/completions", completion_window="24h",
    )
    retrieved = gateway.client("alice").batches.retrieve(batch.id)
    assert retrieved.output_file_id
    with pytest.raises(openai.PermissionDeniedError) as denied:
        gateway.client("alice").files.content(retrieved.output_file_id)
    assert denied.value.code == "download_disabled"


def test_fine_tune_results_inherit_from_job(gateway: Gateway) -> None:
    """fine-tune-results files take owner, org and flags from their job."""
    alice, bob = gateway.client("alice"), gateway.client("bob")
    job = alice.fine_tuning.jobs.create(
        model="gpt-4o-mini", training_file=upload(gateway, "alice", "fine-tune", "private_only")
    )
    result = alice.fine_tuning.jobs.retrieve(job.id).result_files[0]
    assert alice.files.retrieve(result).purpose == "fine-tune-results"
    with pytest.raises(openai.PermissionDeniedError):
        bob.fine_tuning.jobs.retrieve(job.id)
    with pytest.raises(openai.PermissionDeniedError):
        bob.files.content(result)
    with pytest.raises(openai.NotFoundError):
        gateway.client("carol").fine_tuning.jobs.retrieve(job.id)


def test_uploads_api_owner_only_and_file_inherits(gateway: Gateway) -> None:
    """Uploads record purpose and flags; only the owner adds parts or completes; the file inherits."""
    alice, bob = gateway.client("alice"), gateway.client("bob")
    data = b"0123456789" * 10
    upload_obj = alice.uploads.create(
        bytes=len(data), filename="big.jsonl", mime_type="text/jsonl", purpose="batch",
        extra_body={"access": "private_only"},
    )
    sent = gateway.sandbox.requests()[-1]["json"]
    assert "access" not in sent
    gateway.sandbox.clear()
    with pytest.raises(openai.PermissionDeniedError) as denied:
        bob.uploads.parts.create(upload_obj.id, data=data)
    assert denied.value.code == "private_only_forbidden"
    with pytest.raises(openai.PermissionDeniedError):
        bob.uploads.cancel(upload_obj.id)
    assert gateway.sandbox.requests() == []
    part = alice.uploads.parts.create(upload_obj.id, data=data)
    done = alice.uploads.complete(upload_obj.id, part_ids=[part.id])
    assert done.file is not None
    file_id = done.file.id
    assert (done.file.model_extra or {})["gateway"]["access"] == ["private_only"]
    assert alice.files.content(file_id).content == data
    with pytest.raises(openai.PermissionDeniedError):
        bob.files.retrieve(file_id)
    with pytest.raises(openai.NotFoundError):
        gateway.client("carol").uploads.cancel(upload_obj.id)


def test_uploads_api_refuses_bad_purpose_and_flags(gateway: Gateway) -> None:
    """Uploads are checked at create like files: purpose and flags, before the upstream."""
    alice = gateway.client("alice")
    gateway.sandbox.clear()
    with pytest.raises(openai.BadRequestError) as bad_flag:
        alice.uploads.create(bytes=1, filename="a", mime_type="text/plain", purpose="batch",
                             extra_headers={"X-File-Access": "everyone"})
    assert bad_flag.value.code == "invalid_access_flag"
    with pytest.raises(openai.BadRequestError) as bad_purpose:
        alice.uploads.create(bytes=1, filename="a", mime_type="text/plain",
                             purpose="batch_output")  # type: ignore[arg-type]
    assert bad_purpose.value.code == "purpose_not_allowed"
    assert gateway.sandbox.requests() == []


def test_vector_store_side_channel_follows_file_download_rule(gateway: Gateway) -> None:
    """Vector store file content obeys the underlying file's download rule."""
    readable = upload(gateway, "alice", "assistants", data=b"hello")
    locked = upload(gateway, "alice", "assistants", "no_download", data=b"secret")
    store = gateway.client("alice").vector_stores.create(name="s", file_ids=[readable, locked])
    ok = call(gateway.url, "GET", f"/v1/vector_stores/{store.id}/files/{readable}/content",
              auth("bob"))
    assert ok.status == 200, ok.body
    gateway.sandbox.clear()
    denied = call(gateway.url, "GET", f"/v1/vector_stores/{store.id}/files/{locked}/content",
                  auth("bob"))
    assert (denied.status, denied.code) == (403, "download_disabled")
    assert gateway.sandbox.requests() == []
    hidden = call(gateway.url, "GET", f"/v1/vector_stores/{store.id}", auth("carol"))
    assert (hidden.status, hidden.code) == (404, "file_not_found")


def test_private_file_makes_holder_private(gateway: Gateway) -> None:
    """A private file lends its restriction to the vector store it goes into."""
    private = upload(gateway, "alice", "assistants", "private_only")
    store = gateway.client("alice").vector_stores.create(name="mine", file_ids=[private])
    batch = gateway.client("alice").vector_stores.file_batches.create(store.id, file_ids=[private])
    gateway.sandbox.clear()
    for path in (f"/v1/vector_stores/{store.id}", f"/v1/vector_stores/{store.id}/files",
                 f"/v1/vector_stores/{store.id}/file_batches/{batch.id}/files"):
        reply = call(gateway.url, "GET", path, auth("bob"))
        assert (reply.status, reply.code) == (403, "private_only_forbidden")
    search = call(gateway.url, "POST", f"/v1/vector_stores/{store.id}/search", auth("bob"),
                  json.dumps({"query": "x"}).encode())
    assert (search.status, search.code) == (403, "private_only_forbidden")
    assert gateway.sandbox.requests() == []


def test_private_file_cannot_go_into_a_peers_holder(gateway: Gateway) -> None:
    """Bob may not put his private file into Alice's store, where Alice could read it."""
    store = gateway.client("alice").vector_stores.create(name="shared")
    private = upload(gateway, "bob", "assistants", "private_only")
    gateway.sandbox.clear()
    reply = call(gateway.url, "POST", f"/v1/vector_stores/{store.id}/files", auth("bob"),
                 json.dumps({"file_id": private}).encode())
    assert (reply.status, reply.code) == (403, "private_only_forbidden")
    assert gateway.sandbox.requests() == []


def test_vector_store_file_list_hides_invisible_files(gateway: Gateway) -> None:
    """Listing a store's files shows only files the caller may see."""
    store = gateway.client("alice").vector_stores.create(name="s")
    mine = upload(gateway, "bob", "assistants")
    call(gateway.url, "POST", f"/v1/vector_stores/{store.id}/files", auth("bob"),
         json.dumps({"file_id": mine}).encode())
    untracked = gateway.sandbox.seed("assistants")
    raw = call(gateway.sandbox.url, "POST", f"/v1/vector_stores/{store.id}/files", auth("alice"),
               json.dumps({"file_id": untracked}).encode())
    assert raw.status == 200
    listed = call(gateway.url, "GET", f"/v1/vector_stores/{store.id}/files", auth("alice"))
    assert listed.status == 200, listed.body
    ids = [item["id"] for item in listed.json()["data"]]
    assert ids == [mine]
    assert untracked.encode() not in listed.body


def test_file_batch_list_hides_invisible_files(gateway: Gateway) -> None:
    """A file batch's file list is filtered like the store's own: no id the caller may not see."""
    store = gateway.client("alice").vector_stores.create(name="s")
    mine = upload(gateway, "bob", "assistants")
    untracked = gateway.sandbox.seed("assistants")
    raw = call(gateway.sandbox.url, "POST", f"/v1/vector_stores/{store.id}/file_batches", auth("alice"),
               json.dumps({"file_ids": [mine, untracked]}).encode())
    assert raw.status == 200, raw.body
    batch_id = raw.json()["id"]
    listed = gateway.client("alice").vector_stores.file_batches.list_files(
        batch_id, vector_store_id=store.id)
    assert [item.id for item in listed.data] == [mine]
    assert not listed.has_more
    hidden = call(gateway.url, "GET", f"/v1/vector_stores/{store.id}/file_batches/{batch_id}/files"
                  f"?after={untracked}", auth("alice"))
    assert (hidden.status, hidden.json()["error"]["code"]) == (403, "file_untracked")


def test_container_file_content_follows_underlying_file(gateway: Gateway) -> None:
    """Container file content follows the download rule of the file it was made from."""
    container = call(gateway.url, "POST", "/v1/containers", auth("alice"),
                     json.dumps({"name": "c"}).encode()).json()
    locked = upload(gateway, "alice", "user_data", "no_download", data=b"x")
    added = call(gateway.url, "POST", f"/v1/containers/{container['id']}/files", auth("alice"),
                 json.dumps({"file_id": locked}).encode())
    assert added.status == 200, added.body
    cfile = added.json()["id"]
    gateway.sandbox.clear()
    content = call(gateway.url, "GET", f"/v1/containers/{container['id']}/files/{cfile}/content",
                   auth("alice"))
    assert (content.status, content.code) == (403, "download_disabled")
    assert gateway.sandbox.requests() == []
    other = call(gateway.url, "GET", f"/v1/containers/{container['id']}/files", auth("carol"))
    assert (other.status, other.code) == (404, "file_not_found")


def test_untracked_objects_are_refused(gateway: Gateway) -> None:
    """An object the gateway never saw (created behind its back) is refused: file_untracked."""
    raw = call(gateway.sandbox.url, "POST", "/v1/vector_stores", auth("alice"),
               json.dumps({"name": "direct"}).encode()).json()
    gateway.sandbox.clear()
    reply = call(gateway.url, "DELETE", f"/v1/vector_stores/{raw['id']}", auth("alice"))
    assert (reply.status, reply.code) == (403, "file_untracked")
    assert gateway.sandbox.requests() == []


def test_holders_referenced_by_id_follow_their_rules(gateway: Gateway) -> None:
    """file_search vector_store_ids and a code interpreter container id are checked too."""
    private = upload(gateway, "alice", "assistants", "private_only")
    store = gateway.client("alice").vector_stores.create(name="mine", file_ids=[private])
    container = call(gateway.url, "POST", "/v1/containers", auth("carol"),
                     json.dumps({"name": "c"}).encode()).json()
    cases = [
        ({"tools": [{"type": "file_search", "vector_store_ids": [store.id]}]}, "bob",
         (403, "private_only_forbidden")),
        ({"tools": [{"type": "code_interpreter", "container": container["id"]}]}, "alice",
         (404, "file_not_found")),
    ]
    for tools, who, expected in cases:
        gateway.sandbox.clear()
        reply = call(gateway.url, "POST", "/v1/responses", auth(who),
                     json.dumps({"model": "m", "input": "q", **tools}).encode())
        assert (reply.status, reply.code) == expected
        assert gateway.sandbox.requests() == []
    mine = call(gateway.url, "POST", "/v1/responses", auth("alice"), json.dumps(
        {"model": "m", "input": "q",
         "tools": [{"type": "file_search", "vector_store_ids": [store.id]}]}).encode())
    assert mine.status == 200, mine.body


def test_a_container_upload_streams_and_its_file_id_field_is_checked(gateway: Gateway) -> None:
    """A multipart upload into a container goes through; a `file_id` field beside it names a
    file to copy in, and is a reference like the JSON form's."""
    alice = gateway.client("alice")
    container = alice.containers.create(name="c")
    added = alice.containers.files.create(container.id, file=("notes.txt", b"n" * 70000))
    assert alice.containers.files.content.retrieve(added.id, container_id=container.id).read() == (
        b"n" * 70000)
    private = upload(gateway, "bob", "user_data", "private_only")
    gateway.sandbox.clear()
    with pytest.raises(openai.PermissionDeniedError) as refused:
        alice.containers.files.create(container.id, file=("x.txt", b"x"), file_id=private)
    assert refused.value.body["param"] == "file_id"  # type: ignore[index]
    assert gateway.sandbox.requests() == []
