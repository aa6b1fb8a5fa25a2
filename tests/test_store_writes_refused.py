"""A store that answers reads but refuses writes, just after the upstream made something.

Every object the gateway records is recorded after the upstream created it. If that write
fails, the caller must hear 503 `policy_store_unavailable` rather than get an id nobody could
ever use through the gateway, and the gateway takes it back upstream, so that nothing ownerless
is left behind: what the API deletes is deleted, what it only stops is stopped (a batch or job
cancelled, an Upload or ChatKit session cancelled, a Live session or call hung up), since it
would otherwise go on costing its org. Once writes are allowed again the same call works and
the object is its creator's, refused to another org.

A Redis that lost its replicas (`min-replicas-to-write`) fails exactly there: lookups, and the
checks of what a body references, still pass, and only the record's write is refused.
Official SDK over real HTTP against the sandbox; alice and bob share org acme, carol is in
globex.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import openai
import pytest
import redis

from tests.conftest import Gateway, GatewayFactory, MemorySink
from tests.sdk import refused, upload
from tests.servers import RedisServer

# The SDK warns on every Videos call that the Sora API will shut down; the API still answers.
pytestmark = pytest.mark.filterwarnings("ignore:The Sora API:DeprecationWarning")

STORE_UNAVAILABLE = (503, "policy_store_unavailable")
NOT_FOUND = (404, "file_not_found")
OFFER = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
JSONL = b'{"custom_id": "1", "method": "POST", "url": "/v1/chat/completions", "body": {}}\n'
SKILL_MD = b"---\nname: tidy\ndescription: Tidies tables\n---\nInstructions.\n"
CRITERIA: Any = [{"type": "string_check", "name": "same", "input": "{{item.question}}",
                  "reference": "x", "operation": "eq"}]
CUSTOM: Any = {"type": "custom", "item_schema": {"type": "object"}}
WEBRTC: Any = {"type": "webrtc", "sdp": OFFER}
LIVE: Any = {"model": "gpt-live-1", "store": True}  # stored, so it has a recording to read
USER = "customer-17"


def nothing(gateway: Gateway) -> str:
    return ""


def make_eval(client: openai.OpenAI) -> str:
    return client.evals.create(name="e", testing_criteria=CRITERIA, data_source_config=CUSTOM).id


def claim_end_user(gateway: Gateway) -> str:
    # A first session for an end user writes their claim before the upstream is called, and
    # that write would fail first; with the end user already alice's org's, only the session's
    # own record is left to write, after the upstream made it.
    gateway.client("alice").beta.chatkit.sessions.create(user=USER, workflow={"id": "wf"})
    return ""


def start_call(client: openai.OpenAI) -> str:
    """A WebRTC call's id comes back only in its Location."""
    made = client.realtime.calls.with_raw_response.create(sdp=OFFER)
    return str(made.headers["Location"]).rpartition("/")[2]


@dataclass(frozen=True)
class Case:
    """One kind of object: how alice makes it (given what `prepare` made first, with writes
    still allowed) and how a principal uses it. `collection` is where the upstream makes it,
    `reads` what the gateway asks the upstream before that (both formatted with `context`)."""

    make: Callable[[openai.OpenAI, str], str]
    use: Callable[[openai.OpenAI, str, str], object]
    collection: str
    # DELETE, or the step a POST to takes it back (`cancel`, `hangup`).
    takes_back: str
    prepare: Callable[[Gateway], str] = nothing
    reads: tuple[tuple[str, str], ...] = ()
    # False where the sandbox refuses it (its batches and jobs have always finished, and a
    # finished one cannot be cancelled): the gateway asks all the same.
    upstream_takes_back: bool = True


CASES: dict[str, Case] = {
    "file": Case(
        lambda c, _: c.files.create(file=("d.pdf", io.BytesIO(b"%PDF-1.4\n")), purpose="user_data").id,
        lambda c, i, _: c.files.retrieve(i), "/v1/files", takes_back="DELETE"),
    "vector_store": Case(
        lambda c, _: c.vector_stores.create(name="s").id,
        lambda c, i, _: c.vector_stores.retrieve(i), "/v1/vector_stores", takes_back="DELETE"),
    "container": Case(
        lambda c, _: c.containers.create(name="c").id,
        lambda c, i, _: c.containers.retrieve(i), "/v1/containers", takes_back="DELETE"),
    "skill": Case(
        lambda c, _: c.skills.create(files=[("tidy/SKILL.md", io.BytesIO(SKILL_MD))]).id,
        lambda c, i, _: c.skills.retrieve(i), "/v1/skills", takes_back="DELETE"),
    "webhook_endpoint": Case(
        lambda c, _: c.webhooks.create(event_types=["batch.completed"], name="hooks",
                                       url="https://hooks.example.com/in").id,
        lambda c, i, _: c.webhooks.retrieve(i), "/v1/webhook_endpoints", takes_back="DELETE"),
    "video": Case(
        lambda c, _: c.videos.create(prompt="a cat").id,
        lambda c, i, _: c.videos.retrieve(i), "/v1/videos", takes_back="DELETE"),
    "eval": Case(
        lambda c, _: make_eval(c), lambda c, i, _: c.evals.retrieve(i), "/v1/evals",
        takes_back="DELETE"),
    "eval_run": Case(
        lambda c, e: c.evals.runs.create(e, data_source={
            "type": "jsonl", "source": {"type": "file_content", "content": [{"item": {}}]}}).id,
        lambda c, i, e: c.evals.runs.retrieve(i, eval_id=e), "/v1/evals/{context}/runs",
        takes_back="DELETE", prepare=lambda g: make_eval(g.client("alice"))),
    "agent": Case(
        lambda c, _: c.beta.agents.create(model="gpt-5").id,
        lambda c, i, _: c.beta.agents.retrieve(i), "/v1/agents", takes_back="DELETE"),
    # Stored exchanges are holders the upstream deletes like any other (holders.py).
    "response": Case(
        lambda c, _: c.responses.create(model="gpt-4o", input="hi", store=True).id,
        lambda c, i, _: c.responses.retrieve(i), "/v1/responses", takes_back="DELETE"),
    "chat_completion": Case(
        lambda c, _: c.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "hi"}], store=True).id,
        lambda c, i, _: c.chat.completions.retrieve(i), "/v1/chat/completions", takes_back="DELETE"),
    "conversation": Case(
        lambda c, _: c.conversations.create().id,
        lambda c, i, _: c.conversations.retrieve(i), "/v1/conversations", takes_back="DELETE"),
    # The API deletes none of these; each is stopped instead.
    "batch": Case(
        lambda c, f: c.batches.create(input_file_id=f, endpoint="/v1/chat/completions",
                                      completion_window="24h").id,
        lambda c, i, _: c.batches.retrieve(i), "/v1/batches", takes_back="cancel",
        upstream_takes_back=False,
        prepare=lambda g: upload(g, "alice", "batch", data=JSONL, filename="in.jsonl"),
        # Its input's lines are read for the files they name before the batch is created.
        reads=(("GET", "/v1/files/{context}/content"),)),
    "fine_tuning_job": Case(
        lambda c, f: c.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=f).id,
        lambda c, i, _: c.fine_tuning.jobs.retrieve(i), "/v1/fine_tuning/jobs", takes_back="cancel",
        upstream_takes_back=False,
        prepare=lambda g: upload(g, "alice", "fine-tune", data=JSONL, filename="t.jsonl")),
    "upload": Case(
        lambda c, _: c.uploads.create(bytes=10, filename="big.jsonl", mime_type="text/jsonl",
                                      purpose="batch").id,
        lambda c, i, _: c.uploads.cancel(i), "/v1/uploads", takes_back="cancel"),
    "chatkit_session": Case(
        lambda c, _: c.beta.chatkit.sessions.create(user=USER, workflow={"id": "wf"}).id,
        lambda c, i, _: c.beta.chatkit.sessions.cancel(i), "/v1/chatkit/sessions",
        takes_back="cancel", prepare=claim_end_user),
    "live_session": Case(
        lambda c, _: c.live.create(session=LIVE, transport=WEBRTC).session.id,
        lambda c, i, _: c.live.sessions.download_recording(i).read(), "/v1/live/sessions",
        takes_back="hangup"),
    "realtime_call": Case(
        lambda c, _: start_call(c), lambda c, i, _: c.realtime.calls.hangup(i),
        "/v1/realtime/calls", takes_back="hangup"),
}


@contextlib.contextmanager
def writes_refused(server: RedisServer) -> Iterator[None]:
    """Redis answers reads and refuses every write (NOREPLICAS) until the block ends."""
    with redis.Redis(host="127.0.0.1", port=server.port) as admin:
        admin.config_set("min-replicas-to-write", 1)
        try:
            yield
        finally:
            admin.config_set("min-replicas-to-write", 0)


def upstream_calls(gateway: Gateway) -> list[tuple[str, str, int | None]]:
    return [(entry["method"], entry["path"], entry["status"]) for entry in gateway.sandbox.requests()]


def assert_nothing_allowed(events: list[dict[str, Any]], new_id: str | None) -> None:
    """Using what existed before (the eval a run is of, a batch's input, a claimed end user) may
    be allowed; nothing may say the object that could not be recorded was."""
    for event in events:
        if event["decision"] == "allow":
            assert event["action"] == "reference", event
            assert event["file_id"] != new_id, event
        else:
            assert (event["decision"], event["reason"]) == ("error", "policy_store_unavailable"), event


@pytest.mark.parametrize("kind", sorted(CASES))
def test_what_the_store_cannot_record_is_refused_and_taken_back_if_it_can_be(
    make_gateway: GatewayFactory, own_redis: RedisServer, kind: str
) -> None:
    case = CASES[kind]
    sink = MemorySink()
    gateway = make_gateway(store=own_redis.url, sinks=[sink], store_timeout_seconds=0.5)
    context = case.prepare(gateway)
    alice, carol = gateway.client("alice"), gateway.client("carol")
    gateway.sandbox.clear()
    sink.events.clear()

    with writes_refused(own_redis):
        assert refused(lambda: case.make(alice, context)) == STORE_UNAVAILABLE

    collection = case.collection.format(context=context)
    asked = [(method, path.format(context=context)) for method, path in case.reads]
    asked.append(("POST", collection))
    calls = upstream_calls(gateway)
    assert [(method, path) for method, path, _ in calls[:len(asked)]] == asked, calls
    # The upstream made it (a WebRTC call answers 201): the failure was the gateway's write.
    assert calls[len(asked) - 1][2] in (200, 201), calls
    after = calls[len(asked):]
    assert len(after) == 1, calls
    method, path, status = after[0]
    if case.takes_back == "DELETE":
        head, _, new_id = path.rpartition("/")
        assert (method, head) == ("DELETE", collection), calls
    else:
        below, _, step = path.rpartition("/")
        head, _, new_id = below.rpartition("/")
        assert (method, head, step) == ("POST", collection, case.takes_back), calls
    assert new_id
    if case.upstream_takes_back:
        # The id was one the sandbox had made, and it is gone or stopped now.
        assert status is not None and 200 <= status < 300, calls
    assert_nothing_allowed(sink.events, new_id)

    made = case.make(alice, context)
    assert made != new_id
    assert refused(lambda: case.use(carol, made, context)) == NOT_FOUND
    case.use(alice, made, context)


def test_an_uploads_file_the_store_cannot_record_is_deleted_and_the_completion_refused(
    make_gateway: GatewayFactory, own_redis: RedisServer
) -> None:
    """Completing an Upload makes a File, recorded as the Upload's derived file. Unrecorded,
    it was handed back (200) yet refused to everyone, its owner included, and an Upload cannot
    be completed twice; now it is deleted and the caller hears 503, so they upload again."""
    sink = MemorySink()
    gateway = make_gateway(store=own_redis.url, sinks=[sink], store_timeout_seconds=0.5)
    uploads = gateway.client("alice").uploads
    made = uploads.create(bytes=3, filename="a.jsonl", mime_type="text/jsonl", purpose="batch")
    part = uploads.parts.create(made.id, data=b"{}\n")
    gateway.sandbox.clear()
    sink.events.clear()
    with writes_refused(own_redis):
        assert refused(lambda: uploads.complete(made.id, part_ids=[part.id])) == STORE_UNAVAILABLE
    calls = upstream_calls(gateway)
    assert [(method, path) for method, path, _ in calls][:1] == [
        ("POST", f"/v1/uploads/{made.id}/complete")]
    [(method, path, status)] = calls[1:]
    assert (method, path.rpartition("/")[0], status) == ("DELETE", "/v1/files", 200), calls
    assert [(e["action"], e["decision"], e["reason"]) for e in sink.events] == [
        ("upload", "error", "policy_store_unavailable")]
