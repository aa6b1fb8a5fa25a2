"""The sandbox's stored Chat Completions, Responses and Conversations, driven as a user would:
the official SDK and raw HTTP against a real sandbox server."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest
from openai import OpenAI

from tests.conftest import Sandbox
from tests.http import Reply, call

HEADERS = {"Authorization": "Bearer sk-test", "Content-Type": "application/json"}
USER_HI: list[Any] = [{"role": "user", "content": "hi"}]


@pytest.fixture
def client(sandbox: Sandbox) -> Iterator[OpenAI]:
    with OpenAI(api_key="sk-test", base_url=sandbox.url + "/v1", max_retries=0) as sdk:
        yield sdk


def send(sandbox: Sandbox, method: str, path: str, body: Any = None) -> Reply:
    data = None if body is None else json.dumps(body).encode()
    return call(sandbox.url, method, path, HEADERS, data)


def error(message: str, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    """The inner error object the SDK exposes as ``exc.body``."""
    return {"message": message, "type": "invalid_request_error", "param": param, "code": code}


def refusal(step: Callable[[], object]) -> tuple[int, Any]:
    with pytest.raises(openai.APIStatusError) as caught:
        step()
    return caught.value.status_code, caught.value.body


def sse(body: bytes) -> list[tuple[str | None, str]]:
    """(event name, data) of every message of an event stream."""
    messages = []
    for block in body.decode().split("\n\n"):
        if not block:
            continue
        fields = dict(line.split(": ", 1) for line in block.split("\n"))
        messages.append((fields.get("event"), fields["data"]))
    return messages


# Chat Completions


def test_chat_completions_are_stored_only_with_store_true(client: OpenAI) -> None:
    """Without ``store`` a completion is not kept; with it, it reads back with its metadata."""
    chats = client.chat.completions
    unstored = chats.create(model="gpt-4o", messages=USER_HI)
    stored = chats.create(model="gpt-4o", messages=USER_HI, store=True, metadata={"topic": "a"})

    assert refusal(lambda: chats.retrieve(unstored.id)) == (
        404, error(f"No chat completion found with id '{unstored.id}'."))
    kept = chats.retrieve(stored.id)
    assert (kept.id, kept.model, kept.choices[0].message.content) == (
        stored.id, "gpt-4o", stored.choices[0].message.content)
    assert kept.metadata == {"topic": "a"}
    assert [c.id for c in chats.list()] == [stored.id]


def test_chat_list_filters_orders_and_pages(client: OpenAI) -> None:
    """The list is oldest first by default, pages by ``after``/``limit`` and filters by
    ``model`` and ``metadata[key]``."""
    chats = client.chat.completions
    made = [
        chats.create(model=model, messages=USER_HI, store=True, metadata={"team": team}).id
        for model, team in (("m1", "red"), ("m2", "blue"), ("m1", "blue"))
    ]

    first = chats.list(limit=2)
    assert ([c.id for c in first.data], first.has_more) == (made[:2], True)
    assert [c.id for c in chats.list(limit=2)] == made  # the SDK pages on with `after`
    assert [c.id for c in chats.list(order="desc")] == made[::-1]
    assert [c.id for c in chats.list(after=made[0])] == made[1:]
    assert [c.id for c in chats.list(model="m1")] == [made[0], made[2]]
    assert [c.id for c in chats.list(metadata={"team": "blue"})] == made[1:]
    assert [c.id for c in chats.list(metadata={"team": "blue"}, model="m1")] == [made[2]]
    assert [c.id for c in chats.list(metadata={"team": "green"})] == []


def test_chat_update_changes_only_metadata_and_delete_forgets(client: OpenAI) -> None:
    """Update replaces the metadata and answers the completion; delete answers
    ``chat.completion.deleted`` and the id is then unknown."""
    chats = client.chat.completions
    made = chats.create(model="gpt-4o", messages=USER_HI, store=True, metadata={"a": "1"})

    updated = chats.update(made.id, metadata={"b": "2"})
    assert (updated.id, updated.metadata) == (made.id, {"b": "2"})
    assert chats.retrieve(made.id).metadata == {"b": "2"}
    deleted = chats.delete(made.id)
    assert (deleted.id, deleted.object, deleted.deleted) == (made.id, "chat.completion.deleted", True)
    assert refusal(lambda: chats.delete(made.id))[0] == 404
    assert [c.id for c in chats.list()] == []


def test_chat_messages_are_the_request_messages_with_ids(client: OpenAI) -> None:
    """Each request message is listed with ``{completion}-{index}`` as its id; parts are kept in
    ``content_parts`` and their text joined in ``content``."""
    chats = client.chat.completions
    made = chats.create(model="gpt-4o", store=True, messages=[
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
        {"role": "user", "content": "c"},
    ])

    listed = list(chats.messages.list(made.id))
    assert [m.id for m in listed] == [f"{made.id}-{n}" for n in range(3)]
    assert [(m.role, m.content) for m in listed] == [("system", "be brief"), ("user", "ab"), ("user", "c")]
    assert [len(m.content_parts or []) for m in listed] == [0, 2, 0]
    newest = chats.messages.list(made.id, order="desc", limit=1)
    assert ([m.id for m in newest.data], newest.has_more) == ([f"{made.id}-2"], True)
    assert [m.id for m in chats.messages.list(made.id, after=f"{made.id}-0")] == [
        f"{made.id}-1", f"{made.id}-2"]


def test_chat_stream_sends_chunks_of_one_id_and_stores_it(client: OpenAI) -> None:
    """A streamed completion's chunks share its id, spell its text, end with usage when asked,
    and the stored completion has the same id."""
    chunks = list(client.chat.completions.create(
        model="gpt-4o", messages=USER_HI, store=True, stream=True,
        stream_options={"include_usage": True},
    ))
    completion_id = chunks[0].id
    assert completion_id.startswith("chatcmpl-")
    assert {(c.id, c.object) for c in chunks} == {(completion_id, "chat.completion.chunk")}
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    usage = chunks[-1].usage
    assert chunks[-1].choices == [] and usage is not None and usage.total_tokens > 0
    stored = client.chat.completions.retrieve(completion_id)
    assert stored.choices[0].message.content == text


def test_chat_stream_wire_format(sandbox: Sandbox) -> None:
    """Bare ``data:`` messages, the id first in each, ended by ``data: [DONE]``."""
    reply = send(sandbox, "POST", "/v1/chat/completions",
                 {"model": "m", "messages": USER_HI, "stream": True})
    assert (reply.status, reply.headers["content-type"]) == (200, "text/event-stream; charset=utf-8")
    assert reply.body.startswith(b'data: {"id":"chatcmpl-')
    assert reply.body.endswith(b"\n\ndata: [DONE]\n\n")
    messages = sse(reply.body)
    assert {name for name, _ in messages} == {None}
    ids = {json.loads(data)["id"] for _, data in messages[:-1]}
    assert len(ids) == 1
    assert send(sandbox, "GET", f"/v1/chat/completions/{ids.pop()}").status == 404  # not stored


# Responses


def test_responses_are_stored_by_default_with_their_input(client: OpenAI) -> None:
    """A response is kept unless ``store: false``; string input is listed as one user message."""
    made = client.responses.create(model="gpt-4o", input="hello")
    quiet = client.responses.create(model="gpt-4o", input="hello", store=False)

    kept = client.responses.retrieve(made.id)
    assert (kept.id, kept.status, kept.output_text) == (made.id, "completed", made.output_text)
    assert (kept.model_extra or {})["store"] is True  # answered by OpenAI, not modelled by the SDK
    [item] = list(client.responses.input_items.list(made.id))
    assert item.type == "message" and item.role == "user" and item.id.startswith("msg_")
    assert [(part.type, getattr(part, "text", None)) for part in item.content] == [("input_text", "hello")]
    assert (quiet.model_extra or {})["store"] is False
    assert refusal(lambda: client.responses.retrieve(quiet.id)) == (
        404, error(f"Response with id '{quiet.id}' not found."))


def test_input_items_are_listed_newest_first(client: OpenAI) -> None:
    """``input_items`` defaults to ``desc`` and honours ``order``, ``limit`` and ``after``."""
    said = ["one", "two", "three"]
    made = client.responses.create(model="gpt-4o", input=[{"role": "user", "content": s} for s in said])

    def texts(items: Any) -> list[str]:
        return [item.content[0].text for item in items]

    assert texts(client.responses.input_items.list(made.id)) == said[::-1]
    assert texts(client.responses.input_items.list(made.id, order="asc")) == said
    page = client.responses.input_items.list(made.id, limit=2)
    assert (texts(page.data), page.has_more) == (["three", "two"], True)
    assert texts(client.responses.input_items.list(made.id, after=page.data[-1].id)) == ["one"]


def test_response_stream_events_carry_one_id(client: OpenAI) -> None:
    """A streamed response is created, in progress, its text delta'd, then completed, numbered
    from 0 under one ``resp_`` id, and stored under that id."""
    events = list(client.responses.create(model="gpt-4o", input="hi", stream=True))
    assert [e.type for e in events] == [
        "response.created", "response.in_progress", "response.output_item.added",
        "response.content_part.added", "response.output_text.delta", "response.output_text.done",
        "response.content_part.done", "response.output_item.done", "response.completed",
    ]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    created, completed = events[0], events[-1]
    assert created.type == "response.created" and completed.type == "response.completed"
    assert (created.response.status, completed.response.status) == ("in_progress", "completed")
    assert created.response.id == completed.response.id and created.response.id.startswith("resp_")
    assert client.responses.retrieve(created.response.id).output_text == completed.response.output_text


def test_response_stream_wire_format(sandbox: Sandbox) -> None:
    """Each message names its event, the first is ``response.created`` with the id inside, and
    no ``[DONE]`` follows."""
    reply = send(sandbox, "POST", "/v1/responses", {"model": "m", "input": "hi", "stream": True})
    assert (reply.status, reply.headers["content-type"]) == (200, "text/event-stream; charset=utf-8")
    assert reply.body.startswith(
        b'event: response.created\ndata: {"type":"response.created","sequence_number":0,'
        b'"response":{"id":"resp_')
    messages = sse(reply.body)
    assert all(name == json.loads(data)["type"] for name, data in messages)
    assert b"[DONE]" not in reply.body


def test_retrieve_with_stream_replays_the_events(client: OpenAI) -> None:
    """``retrieve(stream=True, starting_after=n)`` replays the stored response's events after n."""
    made = client.responses.create(model="gpt-4o", input="hi")
    replay = list(client.responses.retrieve(made.id, stream=True, starting_after=6))
    assert [(e.sequence_number, e.type) for e in replay] == [
        (7, "response.output_item.done"), (8, "response.completed")]


def test_previous_response_id_must_name_a_stored_response(client: OpenAI) -> None:
    """A follow-up records its predecessor; an unknown, unstored or deleted one is OpenAI's 400
    ``previous_response_not_found``."""
    first = client.responses.create(model="gpt-4o", input="hi")
    quiet = client.responses.create(model="gpt-4o", input="hi", store=False)
    follow = client.responses.create(model="gpt-4o", input="more", previous_response_id=first.id)
    assert client.responses.retrieve(follow.id).previous_response_id == first.id

    client.responses.delete(first.id)

    def follow_up(previous: str) -> object:
        return client.responses.create(model="gpt-4o", input="more", previous_response_id=previous)

    for gone in (first.id, quiet.id, "resp_nope"):
        assert refusal(lambda: follow_up(gone)) == (400, error(  # noqa: B023 (called at once)
            f"Previous response with id '{gone}' not found.", "previous_response_id",
            "previous_response_not_found"))


def test_delete_answers_the_deleted_response(client: OpenAI, sandbox: Sandbox) -> None:
    """DELETE answers ``{"id", "object": "response", "deleted": true}``; the id is then unknown."""
    made = client.responses.create(model="gpt-4o", input="hi")
    reply = send(sandbox, "DELETE", f"/v1/responses/{made.id}")
    assert (reply.status, reply.json()) == (200, {"id": made.id, "object": "response", "deleted": True})
    assert refusal(lambda: client.responses.delete(made.id))[0] == 404
    assert refusal(lambda: client.responses.input_items.list(made.id))[0] == 404


def test_only_background_responses_can_be_cancelled(client: OpenAI) -> None:
    """Cancelling a synchronous response is a 400; a (finished) background one is answered as is."""
    sync = client.responses.create(model="gpt-4o", input="hi")
    assert refusal(lambda: client.responses.cancel(sync.id)) == (
        400, error("Cannot cancel a synchronous response."))
    background = client.responses.create(model="gpt-4o", input="hi", background=True)
    cancelled = client.responses.cancel(background.id)
    assert (cancelled.id, cancelled.background, cancelled.status) == (background.id, True, "completed")


# Conversations


def test_conversation_lifecycle(client: OpenAI) -> None:
    """Create with items and metadata, read, update, delete: the shapes the SDK parses."""
    conversations = client.conversations
    made = conversations.create(items=USER_HI, metadata={"topic": "t"})
    assert (made.object, made.metadata) == ("conversation", {"topic": "t"})
    assert made.id.startswith("conv_")
    assert conversations.retrieve(made.id).created_at == made.created_at
    assert conversations.update(made.id, metadata={"topic": "u"}).metadata == {"topic": "u"}
    deleted = conversations.delete(made.id)
    assert (deleted.id, deleted.object, deleted.deleted) == (made.id, "conversation.deleted", True)
    assert refusal(lambda: conversations.retrieve(made.id)) == (
        404, error(f"Conversation with id '{made.id}' not found."))


def test_conversation_items(client: OpenAI) -> None:
    """Items are added in order, listed newest first, read and deleted one by one; deleting
    one answers the conversation."""
    items = client.conversations.items
    conversation = client.conversations.create(items=[{"role": "user", "content": "first"}])
    added = items.create(conversation.id, items=[
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "second"}]},
        {"role": "assistant", "content": "third"},
    ])
    assert (added.object, len(added.data), added.has_more) == ("list", 2, False)
    assert (added.first_id, added.last_id) == (added.data[0].id, added.data[1].id)

    def texts(listed: Any) -> list[str]:
        return [item.content[0].text for item in listed]

    assert texts(items.list(conversation.id)) == ["third", "second", "first"]
    oldest = items.list(conversation.id, order="asc", limit=1)
    assert (texts(oldest.data), oldest.has_more) == (["first"], True)
    second = items.retrieve(str(added.data[0].id), conversation_id=conversation.id)
    assert second.type == "message" and texts([second]) == ["second"]
    assert items.delete(str(second.id), conversation_id=conversation.id).id == conversation.id
    assert texts(items.list(conversation.id)) == ["third", "first"]
    assert refusal(lambda: items.retrieve(str(second.id), conversation_id=conversation.id)) == (
        404, error(f"Item with id '{second.id}' not found."))


def test_conversation_items_must_name_existing_files(client: OpenAI) -> None:
    """File ids in items are checked at create and at add, as everywhere in the sandbox."""
    pdf = client.files.create(file=("a.pdf", b"%PDF"), purpose="user_data")
    with_file: list[Any] = [{"role": "user", "content": [{"type": "input_file", "file_id": pdf.id}]}]
    conversation = client.conversations.create(items=with_file)
    assert items_of(client, conversation.id)[0].content[0].file_id == pdf.id
    gone: list[Any] = [{"role": "user", "content": [{"type": "input_file", "file_id": "file-gone"}]}]
    missing = (404, error("No such File object: file-gone", "id"))
    assert refusal(lambda: client.conversations.create(items=gone)) == missing
    assert refusal(lambda: client.conversations.items.create(conversation.id, items=gone)) == missing


def items_of(client: OpenAI, conversation_id: str) -> list[Any]:
    return list(client.conversations.items.list(conversation_id, order="asc"))


def test_a_response_in_a_conversation_adds_its_items(client: OpenAI) -> None:
    """The response's input and output items join the conversation, by id or by ``{"id": ...}``."""
    conversation = client.conversations.create()
    first = client.responses.create(model="gpt-4o", input="q1", conversation=conversation.id)
    second = client.responses.create(model="gpt-4o", input="q2", conversation={"id": conversation.id})

    assert first.conversation is not None and first.conversation.id == conversation.id
    listed = items_of(client, conversation.id)
    assert [(i.type, i.role) for i in listed] == [("message", "user"), ("message", "assistant")] * 2
    assert [listed[1].id, listed[3].id] == [first.output[0].id, second.output[0].id]


@pytest.mark.parametrize(
    ("body", "status", "expected"),
    [
        ({"conversation": "conv_nope"}, 404, error("Conversation with id 'conv_nope' not found.")),
        ({"conversation": {"id": "conv_nope"}}, 404, error("Conversation with id 'conv_nope' not found.")),
        ({"store": "yes"}, 400, error("Invalid type for 'store': expected a boolean.", "store",
                                      "invalid_type")),
        ({"metadata": {"k": 1}}, 400, error("Invalid type for 'metadata': expected a metadata object.",
                                            "metadata", "invalid_type")),
        ({"metadata": {f"k{n}": "v" for n in range(17)}}, 400, error(
            "Invalid 'metadata': too many properties. Expected an object with at most 16 properties, "
            "but got an object with 17 properties instead.", "metadata", "object_above_max_properties")),
        ({"input": [{"content": "x"}]}, 400, error(
            "Invalid value: ''. Supported values are: 'assistant', 'system', 'developer', and 'user'.",
            "input[0]", "invalid_value")),
    ],
    ids=["unknown conversation", "unknown conversation object", "store not a boolean",
         "metadata value not a string", "metadata over 16 keys", "input message without a role"],
)
def test_bad_response_bodies_are_refused(
    sandbox: Sandbox, body: dict[str, Any], status: int, expected: dict[str, Any]
) -> None:
    """Each bad ``POST /v1/responses`` body is refused with OpenAI's error for it."""
    reply = send(sandbox, "POST", "/v1/responses", {"model": "m", "input": "hi", **body})
    assert (reply.status, reply.json()) == (status, {"error": expected})


def test_previous_response_and_conversation_exclude_each_other(client: OpenAI) -> None:
    """Naming both a previous response and a conversation is a 400."""
    first = client.responses.create(model="gpt-4o", input="hi")
    conversation = client.conversations.create()
    assert refusal(lambda: client.responses.create(
        model="gpt-4o", input="hi", previous_response_id=first.id, conversation=conversation.id,
    )) == (400, error("Mutually exclusive parameters: Ensure you are only providing one of: "
                      "'previous_response_id' or 'conversation'."))


def test_at_most_twenty_items_are_added_at_once(client: OpenAI) -> None:
    """More than 20 items in one create or add is OpenAI's array-length 400."""
    many: list[Any] = USER_HI * 21
    expected = (400, error(
        "Invalid 'items': array too long. Expected an array with maximum length 20, but got an "
        "array with length 21 instead.", "items", "array_above_max_length"))
    assert refusal(lambda: client.conversations.create(items=many)) == expected
    conversation = client.conversations.create(items=USER_HI * 20)
    assert refusal(lambda: client.conversations.items.create(conversation.id, items=many)) == expected


UNKNOWN: list[tuple[str, str, Any, str]] = [
    ("GET", "/v1/chat/completions/chatcmpl-x", None, "No chat completion found with id 'chatcmpl-x'."),
    ("POST", "/v1/chat/completions/chatcmpl-x", {"metadata": {}},
     "No chat completion found with id 'chatcmpl-x'."),
    ("DELETE", "/v1/chat/completions/chatcmpl-x", None, "No chat completion found with id 'chatcmpl-x'."),
    ("GET", "/v1/chat/completions/chatcmpl-x/messages", None,
     "No chat completion found with id 'chatcmpl-x'."),
    ("GET", "/v1/responses/resp_x", None, "Response with id 'resp_x' not found."),
    ("DELETE", "/v1/responses/resp_x", None, "Response with id 'resp_x' not found."),
    ("POST", "/v1/responses/resp_x/cancel", None, "Response with id 'resp_x' not found."),
    ("GET", "/v1/responses/resp_x/input_items", None, "Response with id 'resp_x' not found."),
    ("GET", "/v1/conversations/conv_x", None, "Conversation with id 'conv_x' not found."),
    ("POST", "/v1/conversations/conv_x", {"metadata": {}}, "Conversation with id 'conv_x' not found."),
    ("DELETE", "/v1/conversations/conv_x", None, "Conversation with id 'conv_x' not found."),
    ("GET", "/v1/conversations/conv_x/items", None, "Conversation with id 'conv_x' not found."),
    ("POST", "/v1/conversations/conv_x/items", {"items": []}, "Conversation with id 'conv_x' not found."),
    ("GET", "/v1/conversations/conv_x/items/msg_x", None, "Conversation with id 'conv_x' not found."),
    ("DELETE", "/v1/conversations/conv_x/items/msg_x", None, "Conversation with id 'conv_x' not found."),
]


@pytest.mark.parametrize(("method", "path", "body", "message"), UNKNOWN,
                         ids=[f"{m} {p}" for m, p, _, _ in UNKNOWN])
def test_unknown_ids_are_openai_404s(
    sandbox: Sandbox, method: str, path: str, body: Any, message: str
) -> None:
    """Every route of a stored object answers an unknown id with OpenAI's 404 for its kind."""
    reply = send(sandbox, method, path, body)
    assert (reply.status, reply.json()) == (404, {"error": error(message)})


def test_update_bodies_must_name_metadata(client: OpenAI, sandbox: Sandbox) -> None:
    """An update without ``metadata`` is a 400 missing parameter, for both kinds."""
    chat = client.chat.completions.create(model="m", messages=USER_HI, store=True)
    conversation = client.conversations.create()
    missing = {"error": error("Missing required parameter: 'metadata'.", "metadata",
                              "missing_required_parameter")}
    for path in (f"/v1/chat/completions/{chat.id}", f"/v1/conversations/{conversation.id}"):
        reply = send(sandbox, "POST", path, {})
        assert (reply.status, reply.json()) == (400, missing)
