"""Stored Chat Completions, Responses and Conversations belong to whoever created them through
the gateway: read, listed, changed, deleted and continued by the file rules (DESIGN §6,
objects that hold files), with the official SDK over real HTTP against the sandbox.

alice and bob share org acme; carol is in globex.
"""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest

from tests.conftest import Gateway, GatewayFactory, MemorySink
from tests.http import call
from tests.sdk import refusal as refused
from tests.sdk import upload
from tests.servers import RedisServer


def messages(file_id: str | None = None) -> list[Any]:
    content: list[Any] = [{"type": "text", "text": "hello"}]
    if file_id is not None:
        content.append({"type": "file", "file": {"file_id": file_id}})
    return [{"role": "user", "content": content}]


def response_input(file_id: str) -> list[Any]:
    return [{"role": "user", "content": [{"type": "input_file", "file_id": file_id}]}]


NOT_FOUND = (404, "file_not_found", "file_id")


def test_stored_chat_completions_are_their_org_s(gateway: Gateway) -> None:
    alice, bob, carol = (gateway.client(who).chat.completions for who in ("alice", "bob", "carol"))
    completion = alice.create(model="gpt-4o", messages=messages(), store=True,
                              metadata={"topic": "t1"})

    assert alice.retrieve(completion.id).id == completion.id
    assert [m.role for m in alice.messages.list(completion.id)] == ["user"]
    assert bob.retrieve(completion.id).id == completion.id  # org-scoped, as a file is
    assert [c.id for c in alice.list()] == [completion.id]
    assert [c.id for c in alice.list(metadata={"topic": "t1"})] == [completion.id]
    assert [c.id for c in alice.list(metadata={"topic": "other"})] == []
    assert alice.update(completion.id, metadata={"topic": "t2"}).metadata == {"topic": "t2"}

    gateway.sandbox.clear()
    assert refused(lambda: carol.retrieve(completion.id)) == NOT_FOUND
    assert refused(lambda: carol.messages.list(completion.id)) == NOT_FOUND
    assert refused(lambda: carol.update(completion.id, metadata={"x": "y"})) == NOT_FOUND
    assert refused(lambda: carol.delete(completion.id)) == NOT_FOUND
    assert refused(lambda: carol.list(after=completion.id)) == NOT_FOUND
    assert gateway.sandbox.requests() == []
    assert [c.id for c in carol.list()] == []

    assert alice.delete(completion.id).deleted
    assert refused(lambda: alice.retrieve(completion.id)) == NOT_FOUND


def test_a_private_file_makes_the_exchange_private(gateway: Gateway) -> None:
    """What was said about a private file is as private as the file."""
    private = upload(gateway, "alice", access="private_only")
    alice, bob = gateway.client("alice"), gateway.client("bob")
    completion = alice.chat.completions.create(model="gpt-4o", messages=messages(private),
                                               store=True)
    response = alice.responses.create(model="gpt-4o", input=response_input(private))
    conversation = alice.conversations.create(items=response_input(private))

    assert alice.chat.completions.retrieve(completion.id).id == completion.id
    assert [c.id for c in bob.chat.completions.list()] == []
    forbidden = (403, "private_only_forbidden", None)
    assert refused(lambda: bob.chat.completions.retrieve(completion.id)) == forbidden
    assert refused(lambda: bob.responses.retrieve(response.id)) == forbidden
    assert refused(lambda: bob.responses.input_items.list(response.id)) == forbidden
    assert refused(lambda: bob.conversations.items.list(conversation.id)) == forbidden
    assert refused(lambda: bob.responses.create(
        model="gpt-4o", input="go on", previous_response_id=response.id,
    )) == (403, "private_only_forbidden", "previous_response_id")

    # A conversation turns private when a private file goes into it, either way in.
    by_items, by_response = alice.conversations.create(), alice.conversations.create()
    assert bob.conversations.retrieve(by_items.id).id == by_items.id
    alice.conversations.items.create(by_items.id, items=response_input(private))
    alice.responses.create(model="gpt-4o", input=response_input(private),
                           conversation=by_response.id)
    assert refused(lambda: bob.conversations.retrieve(by_items.id)) == forbidden
    assert refused(lambda: bob.conversations.retrieve(by_response.id)) == forbidden


def test_streamed_exchanges_are_recorded_before_their_id_is_out(gateway: Gateway) -> None:
    alice, carol = gateway.client("alice"), gateway.client("carol")
    chunks = list(alice.chat.completions.create(
        model="gpt-4o", messages=messages(), store=True, stream=True,
    ))
    completion_id = chunks[0].id
    assert {chunk.id for chunk in chunks} == {completion_id}
    assert alice.chat.completions.retrieve(completion_id).id == completion_id
    assert refused(lambda: carol.chat.completions.retrieve(completion_id)) == NOT_FOUND

    events = list(alice.responses.create(model="gpt-4o", input="hi", stream=True))
    assert events[0].type == "response.created"
    assert events[-1].type == "response.completed"
    response_id = events[0].response.id
    assert alice.responses.retrieve(response_id).id == response_id
    assert refused(lambda: carol.responses.retrieve(response_id)) == NOT_FOUND


def test_unrecorded_exchanges_are_refused(gateway: Gateway) -> None:
    """Not stored, or stored before the gateway: no record, so refused (untracked: deny)."""
    alice = gateway.client("alice")
    unstored = alice.chat.completions.create(model="gpt-4o", messages=messages())
    direct = openai.OpenAI(api_key="sk-direct", base_url=gateway.sandbox.url + "/v1")
    before = direct.chat.completions.create(model="gpt-4o", messages=messages(), store=True)
    quiet = alice.responses.create(model="gpt-4o", input="hi", store=False)

    gateway.sandbox.clear()
    untracked = (403, "file_untracked", None)
    assert refused(lambda: alice.chat.completions.retrieve(unstored.id)) == untracked
    assert refused(lambda: alice.chat.completions.retrieve(before.id)) == untracked
    assert refused(lambda: alice.responses.retrieve(quiet.id)) == untracked
    assert gateway.sandbox.requests() == []
    assert before.id in [c.id for c in direct.chat.completions.list()]
    assert [c.id for c in alice.chat.completions.list()] == []
    direct.close()


def test_stored_responses_follow_the_file_rules(gateway: Gateway) -> None:
    alice, bob, carol = (gateway.client(who).responses for who in ("alice", "bob", "carol"))
    first = alice.create(model="gpt-4o", input="hi")

    gateway.sandbox.clear()
    assert refused(lambda: carol.retrieve(first.id)) == NOT_FOUND
    assert refused(lambda: carol.input_items.list(first.id)) == NOT_FOUND
    assert refused(lambda: carol.cancel(first.id)) == NOT_FOUND
    assert refused(lambda: carol.delete(first.id)) == NOT_FOUND
    assert refused(lambda: carol.create(model="gpt-4o", input="go on",
                                        previous_response_id=first.id)) == (
        404, "file_not_found", "previous_response_id")
    assert gateway.sandbox.requests() == []

    assert [item.type for item in alice.input_items.list(first.id)] == ["message"]
    follow_up = bob.create(model="gpt-4o", input="go on", previous_response_id=first.id)
    assert alice.retrieve(follow_up.id).previous_response_id == first.id
    alice.delete(first.id)
    assert refused(lambda: alice.retrieve(first.id)) == NOT_FOUND


def test_conversations_follow_the_file_rules(gateway: Gateway) -> None:
    alice, bob, carol = (gateway.client(who) for who in ("alice", "bob", "carol"))
    conversation = alice.conversations.create(metadata={"topic": "t"})
    cid = conversation.id
    mine = upload(gateway, "alice")
    added = alice.conversations.items.create(cid, items=response_input(mine))
    assert len(added.data) == 1

    gateway.sandbox.clear()
    assert refused(lambda: carol.conversations.retrieve(cid)) == NOT_FOUND
    assert refused(lambda: carol.conversations.update(cid, metadata={"x": "y"})) == NOT_FOUND
    assert refused(lambda: carol.conversations.items.list(cid)) == NOT_FOUND
    item_id = str(added.data[0].id)
    assert refused(lambda: carol.conversations.items.retrieve(item_id, conversation_id=cid)) == (
        NOT_FOUND)
    assert refused(lambda: carol.conversations.items.create(
        cid, items=[{"type": "message", "role": "user", "content": "hi"}])) == NOT_FOUND
    assert refused(lambda: carol.conversations.delete(cid)) == NOT_FOUND
    assert refused(lambda: carol.responses.create(model="gpt-4o", input="hi",
                                                  conversation=cid)) == (
        404, "file_not_found", "conversation")
    assert gateway.sandbox.requests() == []

    # A private file goes only into its owner's objects: bob's into alice's is refused.
    bobs = upload(gateway, "bob", access="private_only")
    gateway.sandbox.clear()
    assert refused(lambda: bob.conversations.items.create(cid, items=response_input(bobs))) == (
        403, "private_only_forbidden", "items[0].content[0].file_id")
    assert refused(lambda: bob.responses.create(model="gpt-4o", input=response_input(bobs),
                                                conversation=cid)) == (
        403, "private_only_forbidden", "input[0].content[0].file_id")
    assert gateway.sandbox.requests() == []

    reply = bob.responses.create(model="gpt-4o", input="hi", conversation=cid)
    assert reply.id
    assert bob.conversations.retrieve(cid).id == cid
    assert alice.conversations.delete(cid).deleted
    assert refused(lambda: alice.conversations.retrieve(cid)) == NOT_FOUND


def test_each_refusal_is_one_decision(make_gateway: GatewayFactory) -> None:
    sink = MemorySink()
    gateway = make_gateway(sinks=[sink])
    completion = gateway.client("alice").chat.completions.create(
        model="gpt-4o", messages=messages(), store=True)
    before = len(sink.events)
    assert refused(lambda: gateway.client("carol").chat.completions.retrieve(completion.id)) == (
        NOT_FOUND)
    [event] = sink.events[before:]
    assert (event["action"], event["decision"], event["reason"]) == (
        "retrieve", "deny", "file_not_found")
    assert (event["file_id"], event["api"], event["owner"]) == (
        completion.id, "chat_completions", "alice")
    assert gateway.metric("files_gateway_decisions_total", action="retrieve", decision="deny",
                          reason="file_not_found", purpose="unknown") == 1


@pytest.mark.parametrize("stream", [False, True], ids=["json", "event stream"])
def test_an_exchange_that_cannot_be_recorded_is_a_503(
    make_gateway: GatewayFactory, own_redis: RedisServer, stream: bool
) -> None:
    """The upstream stored it but the gateway could not record it: the caller learns no id,
    since nobody could ever read it back through the gateway, and the gateway deletes it
    upstream so that nothing is left that no one accounts for."""
    gateway = make_gateway(store=own_redis.url, store_timeout_seconds=0.5, cache_entries=0)
    own_redis.kill()
    body = {"model": "gpt-4o", "messages": messages(), "store": True, "stream": stream}
    reply = call(gateway.url, "POST", "/v1/chat/completions",
                 {"Authorization": "Bearer sk-alice", "Content-Type": "application/json"},
                 json.dumps(body).encode())
    assert (reply.status, reply.code) == (503, "policy_store_unavailable"), reply.body
    assert b"chatcmpl" not in reply.body
    direct = openai.OpenAI(api_key="sk-direct", base_url=gateway.sandbox.url + "/v1")
    assert [c.id for c in direct.chat.completions.list()] == []
    [deleted] = [r for r in gateway.sandbox.requests() if r["method"] == "DELETE"]
    assert deleted["path"].startswith("/v1/chat/completions/chatcmpl")
    direct.close()


def test_a_stored_response_replays_as_events_only_to_who_may_read_it(gateway: Gateway) -> None:
    response = gateway.client("alice").responses.create(model="gpt-4o", input="hi")
    path = f"/v1/responses/{response.id}?stream=true"
    replay = call(gateway.url, "GET", path, {"Authorization": "Bearer sk-alice"})
    assert replay.status == 200, replay.body
    assert replay.headers["content-type"].startswith("text/event-stream")
    assert b"event: response.completed" in replay.body
    hidden = call(gateway.url, "GET", path, {"Authorization": "Bearer sk-carol"})
    assert (hidden.status, hidden.code) == (404, "file_not_found")


def test_the_completions_list_pages_over_what_others_stored(gateway: Gateway) -> None:
    """Other orgs' completions in between are skipped and never leak as cursors."""
    mine: list[str] = []
    for index in range(9):
        who = "alice" if index % 3 == 0 else "carol"
        made = gateway.client(who).chat.completions.create(
            model="gpt-4o", messages=messages(), store=True, metadata={"n": str(index)})
        if who == "alice":
            mine.append(made.id)
    alice = gateway.client("alice").chat.completions
    first = alice.list(limit=2)
    assert ([c.id for c in first.data], first.has_more) == (mine[:2], True)
    rest = alice.list(limit=2, after=mine[1])
    assert ([c.id for c in rest.data], rest.has_more) == (mine[2:], False)
    assert [c.id for c in alice.list(metadata={"n": "3"})] == [mine[1]]
    assert [c.id for c in alice.list(order="desc")] == mine[::-1]


@pytest.mark.parametrize("sibling", ["input_tokens", "compact"])
def test_what_responses_siblings_read_is_checked(gateway: Gateway, sibling: str) -> None:
    """Counting a response's input tokens or compacting it stores nothing, but reads the input's
    files and the response it continues: references, as for a response."""

    def send(who: str, **body: Any) -> Any:
        responses = gateway.client(who).responses
        if sibling == "input_tokens":
            return responses.input_tokens.count(model="gpt-4o", **body)
        return responses.compact(model="gpt-4o", **body)

    private = upload(gateway, "bob", access="private_only")
    first = gateway.client("alice").responses.create(model="gpt-4o", input="hi")
    answer = send("alice", input="hi", previous_response_id=first.id)
    assert answer.object in ("response.input_tokens", "response.compaction")

    gateway.sandbox.clear()
    assert refused(lambda: send("alice", input=response_input(private))) == (
        403, "private_only_forbidden", "input[0].content[0].file_id")
    assert refused(lambda: send("carol", input="hi", previous_response_id=first.id)) == (
        404, "file_not_found", "previous_response_id")
    assert gateway.sandbox.requests() == []
