"""The sandbox's ChatKit beta, driven as a server would: the official SDK against a real sandbox
server. Sessions (made, resolved, cancelled, expired) and threads, which the test makes through
the control route as a ChatKit frontend would, then lists, pages, reads and deletes."""

from __future__ import annotations

import json
import time
from typing import Any

import openai
import pytest
from openai import OpenAI
from openai.types.beta.chatkit import ChatKitThreadAssistantMessageItem, ChatKitThreadUserMessageItem

from tests.conftest import Sandbox
from tests.http import call
from tests.test_sandbox_evals import client as client  # the fixture, shared
from tests.test_sandbox_evals import send
from tests.test_sandbox_stored import error

WORKFLOW: Any = {"id": "wf_support"}


def threads(sandbox: Sandbox, *users: str) -> list[str]:
    """One thread per user named, oldest first."""
    return [sandbox.chatkit_thread(user, f"hi from {user}") for user in users]


# Sessions


def test_session_answers_every_setting_resolved(client: OpenAI, sandbox: Sandbox) -> None:
    """A session made from ``user`` and a workflow id alone answers the documented defaults, and
    the SDK's beta header reaches the sandbox."""
    before = int(time.time())
    made = client.beta.chatkit.sessions.create(user="end-user-1", workflow=WORKFLOW)
    assert made.id.startswith("cksess_") and made.object == "chatkit.session"
    assert (made.user, made.status) == ("end-user-1", "active")
    assert made.client_secret and made.client_secret != made.id
    assert before + 600 <= made.expires_at <= int(time.time()) + 600
    assert made.workflow.to_dict() == {"id": "wf_support", "version": None, "state_variables": None,
                                       "tracing": {"enabled": True}}
    assert (made.max_requests_per_1_minute, made.rate_limits.max_requests_per_1_minute) == (10, 10)
    assert made.chatkit_configuration.to_dict() == {
        "automatic_thread_titling": {"enabled": True},
        "file_upload": {"enabled": False, "max_file_size": 512, "max_files": 10},
        "history": {"enabled": True, "recent_threads": None},
    }
    assert sandbox.requests()[-1]["headers"]["openai-beta"] == "chatkit_beta=v1"


def test_session_answers_what_it_was_given(client: OpenAI) -> None:
    """Every override sent is answered back in the session's resolved settings."""
    made = client.beta.chatkit.sessions.create(
        user="end-user-1",
        workflow={"id": "wf_support", "version": "3", "state_variables": {"tier": "gold", "seats": 4},
                  "tracing": {"enabled": False}},
        chatkit_configuration={"automatic_thread_titling": {"enabled": False},
                               "file_upload": {"enabled": True, "max_files": 2},
                               "history": {"recent_threads": 5}},
        expires_after={"anchor": "created_at", "seconds": 60},
        rate_limits={"max_requests_per_1_minute": 30},
    )
    assert (made.workflow.version, made.workflow.state_variables) == ("3", {"tier": "gold", "seats": 4})
    assert made.workflow.tracing.enabled is False
    configuration = made.chatkit_configuration
    assert configuration.automatic_thread_titling.enabled is False
    assert (configuration.file_upload.enabled, configuration.file_upload.max_files) == (True, 2)
    assert (configuration.history.enabled, configuration.history.recent_threads) == (True, 5)
    assert made.expires_at <= int(time.time()) + 60
    assert (made.max_requests_per_1_minute, made.rate_limits.max_requests_per_1_minute) == (30, 30)


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        ({"workflow": WORKFLOW}, "user", "missing_required_parameter"),
        ({"user": "", "workflow": WORKFLOW}, "user", "string_below_min_length"),
        ({"user": "u"}, "workflow", "missing_required_parameter"),
        ({"user": "u", "workflow": {}}, "workflow.id", "missing_required_parameter"),
        ({"user": "u", "workflow": {"id": "w", "tracing": {"enabled": "yes"}}},
         "workflow.tracing.enabled", "invalid_type"),
        ({"user": "u", "workflow": WORKFLOW, "expires_after": {"anchor": "created_at", "seconds": 601}},
         "expires_after.seconds", "invalid_value"),
        ({"user": "u", "workflow": WORKFLOW, "rate_limits": {"max_requests_per_1_minute": 0}},
         "rate_limits.max_requests_per_1_minute", "invalid_value"),
        ({"user": "u", "workflow": WORKFLOW,
          "chatkit_configuration": {"file_upload": {"max_file_size": 513}}},
         "chatkit_configuration.file_upload.max_file_size", "invalid_value"),
    ],
)
def test_session_refuses_bad_bodies(sandbox: Sandbox, body: Any, param: str, code: str) -> None:
    """A bad body is a 400 naming the field by its path, as OpenAI names nested fields."""
    reply = send(sandbox, "POST", "/v1/chatkit/sessions", body)
    assert (reply.status, reply.json()["error"]["param"], reply.code) == (400, param, code)


def test_cancel_makes_a_session_cancelled(client: OpenAI) -> None:
    """Cancel answers the same session, now ``cancelled``; cancelling again changes nothing."""
    made = client.beta.chatkit.sessions.create(user="end-user-1", workflow=WORKFLOW)
    cancelled = client.beta.chatkit.sessions.cancel(made.id)
    assert (cancelled.id, cancelled.status) == (made.id, "cancelled")
    assert cancelled.to_dict() == {**made.to_dict(), "status": "cancelled"}
    assert client.beta.chatkit.sessions.cancel(made.id).status == "cancelled"


def test_a_session_past_its_expiry_is_expired(client: OpenAI, sandbox: Sandbox) -> None:
    """Once the clock passes ``expires_at`` the session answers ``expired``, and cancelling it
    no longer makes it ``cancelled``."""
    made = client.beta.chatkit.sessions.create(
        user="end-user-1", workflow=WORKFLOW, expires_after={"anchor": "created_at", "seconds": 30})
    send(sandbox, "POST", "/__sandbox/clock", {"advance": 31})
    assert client.beta.chatkit.sessions.cancel(made.id).status == "expired"


def test_cancelling_an_unknown_session_is_not_found(client: OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.beta.chatkit.sessions.cancel("cksess_missing")
    assert caught.value.body == error("Session with id 'cksess_missing' not found.")


# Threads


def test_control_route_makes_a_thread_without_a_key(sandbox: Sandbox) -> None:
    """``POST /__sandbox/chatkit/threads`` needs no key and answers the thread it made; a body
    without ``user`` is refused."""
    headers = {"Content-Type": "application/json"}
    made = call(sandbox.url, "POST", "/__sandbox/chatkit/threads", headers,
                json.dumps({"user": "end-user-1", "text": "hi"}).encode())
    assert made.status == 200
    thread = made.json()
    assert thread["id"].startswith("cthr_")
    assert {k: v for k, v in thread.items() if k not in ("id", "created_at")} == {
        "object": "chatkit.thread", "status": {"type": "active"}, "title": None, "user": "end-user-1"}
    refused = call(sandbox.url, "POST", "/__sandbox/chatkit/threads", headers, b'{"text": "hi"}')
    assert (refused.status, refused.code) == (400, "missing_required_parameter")


def test_retrieve_answers_the_thread(client: OpenAI, sandbox: Sandbox) -> None:
    thread_id = sandbox.chatkit_thread("end-user-1")
    thread = client.beta.chatkit.threads.retrieve(thread_id)
    assert (thread.id, thread.object, thread.user, thread.title) == (
        thread_id, "chatkit.thread", "end-user-1", None)
    assert thread.status.type == "active"
    assert abs(thread.created_at - time.time()) < 60


def test_user_filter_lists_only_that_users_threads(client: OpenAI, sandbox: Sandbox) -> None:
    """Newest first; ``user`` narrows the list to that end user's threads."""
    made = threads(sandbox, "alice", "bob", "alice")
    assert [t.id for t in client.beta.chatkit.threads.list(user="alice")] == [made[2], made[0]]
    assert [t.id for t in client.beta.chatkit.threads.list(user="bob")] == [made[1]]
    assert [t.id for t in client.beta.chatkit.threads.list(user="carol")] == []
    assert [t.id for t in client.beta.chatkit.threads.list()] == made[::-1]


def test_threads_page_with_after(client: OpenAI, sandbox: Sandbox) -> None:
    """A page ends at ``limit`` with ``has_more``; ``after`` resumes past its last id, which is
    how the SDK's auto-pagination walks every page."""
    made = threads(sandbox, "a", "b", "c", "d", "e")
    first = client.beta.chatkit.threads.list(limit=2)
    assert ([t.id for t in first.data], first.has_more) == (made[:2:-1], True)
    rest = client.beta.chatkit.threads.list(limit=2, after=made[3])
    assert ([t.id for t in rest.data], rest.has_more) == ([made[2], made[1]], True)
    assert [t.id for t in client.beta.chatkit.threads.list(limit=2)] == made[::-1]
    assert [t.id for t in client.beta.chatkit.threads.list(order="asc", after=made[1])] == made[2:]


def test_threads_page_with_before(client: OpenAI, sandbox: Sandbox) -> None:
    """``before`` gives the page that precedes that id in the list's order: the ``limit`` objects
    nearest it, with ``has_more`` when more precede them."""
    made = threads(sandbox, "a", "b", "c", "d", "e")
    back = client.beta.chatkit.threads.list(limit=2, before=made[1])
    assert ([t.id for t in back.data], back.has_more) == ([made[3], made[2]], True)
    assert [t.id for t in client.beta.chatkit.threads.list(order="asc", before=made[2]).data] == made[:2]
    assert [t.id for t in client.beta.chatkit.threads.list(before=made[4]).data] == []


def test_items_show_the_seeded_text(client: OpenAI, sandbox: Sandbox) -> None:
    """A thread's items are the user's message with the seeded text and the workflow's reply,
    newest first unless ``order=asc``."""
    thread_id = sandbox.chatkit_thread("end-user-1", "Where is my order?")
    asked, answered = client.beta.chatkit.threads.list_items(thread_id, order="asc").data
    assert isinstance(asked, ChatKitThreadUserMessageItem)
    assert isinstance(answered, ChatKitThreadAssistantMessageItem)
    assert [part.text for part in asked.content] == ["Where is my order?"]
    assert (asked.attachments, asked.inference_options) == ([], None)
    assert answered.content[0].text and answered.content[0].annotations == []
    assert {asked.thread_id, answered.thread_id} == {thread_id}
    assert asked.id.startswith("cthi_") and asked.object == "chatkit.thread_item"
    newest_first = client.beta.chatkit.threads.list_items(thread_id)
    assert [item.id for item in newest_first] == [answered.id, asked.id]


def test_delete_then_retrieve_is_not_found(client: OpenAI, sandbox: Sandbox) -> None:
    """Delete answers ``chatkit.thread.deleted``; the thread and its items are then unknown and
    it is no longer listed."""
    kept, gone = threads(sandbox, "end-user-1", "end-user-1")
    deleted = client.beta.chatkit.threads.delete(gone)
    assert (deleted.id, deleted.object, deleted.deleted) == (gone, "chatkit.thread.deleted", True)
    for step in (lambda: client.beta.chatkit.threads.retrieve(gone),
                 lambda: client.beta.chatkit.threads.list_items(gone),
                 lambda: client.beta.chatkit.threads.delete(gone)):
        with pytest.raises(openai.NotFoundError) as caught:
            step()
        assert caught.value.body == error(f"Thread with id '{gone}' not found.")
    assert [t.id for t in client.beta.chatkit.threads.list()] == [kept]
