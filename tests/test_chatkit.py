"""ChatKit through the gateway: the first org to open a session for an end user owns them, and
their threads (made by their browser, never through the gateway) are read, listed and deleted by
that ownership. Official SDK over real HTTP against the sandbox.

alice and bob share org acme; carol is in globex.
"""

from __future__ import annotations

from pathlib import Path

import openai
import pytest
from openai.types.beta.chatkit import ChatSessionWorkflowParam

from tests.conftest import Gateway, GatewayFactory, Sandbox
from tests.sdk import refused
from tests.test_backfill import backfill, backfill_config

NOT_FOUND = (404, "file_not_found")
WORKFLOW: ChatSessionWorkflowParam = {"id": "wf_support"}


def open_session(gateway: Gateway, who: str, user: str) -> str:
    return gateway.client(who).beta.chatkit.sessions.create(user=user, workflow=WORKFLOW).id


def upstream_calls(gateway: Gateway) -> list[tuple[str, str]]:
    return [(entry["method"], entry["path"]) for entry in gateway.sandbox.requests()]


def test_an_end_user_belongs_to_the_first_org_to_open_a_session(gateway: Gateway) -> None:
    """Another org cannot open a session as an end user already taken, which would hand its
    browser that end user's threads; the same org can, and a new end user is anyone's first."""
    open_session(gateway, "alice", "customer-17")
    assert open_session(gateway, "bob", "customer-17")
    gateway.sandbox.clear()
    carol = gateway.client("carol").beta.chatkit.sessions
    assert refused(lambda: carol.create(user="customer-17", workflow=WORKFLOW)) == NOT_FOUND
    assert gateway.sandbox.requests() == []
    assert open_session(gateway, "carol", "customer-99")
    assert refused(lambda: gateway.client("alice").beta.chatkit.sessions.create(
        user="customer-99", workflow=WORKFLOW)) == NOT_FOUND


def test_threads_follow_their_end_user(gateway: Gateway) -> None:
    open_session(gateway, "alice", "customer-17")
    open_session(gateway, "carol", "customer-99")
    ours = gateway.sandbox.chatkit_thread("customer-17", "my salary question")
    theirs = gateway.sandbox.chatkit_thread("customer-99", "their question")
    unowned = gateway.sandbox.chatkit_thread("customer-42", "never through the gateway")
    bob, carol = (gateway.client(who).beta.chatkit.threads for who in ("bob", "carol"))

    assert bob.retrieve(ours).user == "customer-17"
    assert "my salary question" in str([item.model_dump() for item in bob.list_items(ours)])
    assert [t.id for t in bob.list(user="customer-17")] == [ours]
    assert [t.id for t in bob.list()] == [ours]
    assert [t.id for t in carol.list()] == [theirs]

    gateway.sandbox.clear()
    assert refused(lambda: carol.retrieve(ours)) == NOT_FOUND
    assert refused(lambda: carol.list_items(ours)) == NOT_FOUND
    assert refused(lambda: carol.delete(ours)) == NOT_FOUND
    assert refused(lambda: carol.list(user="customer-17")) == NOT_FOUND
    # The gateway read the thread to learn its end user; nothing else reached the upstream.
    assert set(upstream_calls(gateway)) == {("GET", f"/v1/chatkit/threads/{ours}")}
    assert refused(lambda: bob.retrieve(unowned)) == (403, "file_untracked")

    assert bob.delete(ours).deleted
    with pytest.raises(openai.NotFoundError):  # the upstream's own answer: it is gone
        bob.retrieve(ours)


def test_a_thread_list_pages_over_the_callers_end_users_only(gateway: Gateway) -> None:
    """Paging forward skips other orgs' threads; a cursor that is one of theirs is refused like
    a read of it, and `before`, which a filtered list cannot follow, needs `user`."""
    open_session(gateway, "alice", "customer-17")
    open_session(gateway, "carol", "customer-99")
    ours, theirs = [], []
    for index in range(3):
        ours.append(gateway.sandbox.chatkit_thread("customer-17", f"ours {index}"))
        theirs.append(gateway.sandbox.chatkit_thread("customer-99", f"theirs {index}"))
    alice = gateway.client("alice").beta.chatkit.threads

    first = alice.list(limit=2)
    assert [t.id for t in first.data] == ours[::-1][:2]
    assert [t.id for t in alice.list(limit=2)] == ours[::-1]  # the SDK pages on by `after`
    assert refused(lambda: alice.list(after=theirs[0])) == NOT_FOUND
    assert refused(lambda: alice.list(before=ours[0])) == (400, "invalid_request")
    gateway.sandbox.clear()
    alice.list(user="customer-17", before=ours[0])
    assert [entry["query"].get("before") for entry in gateway.sandbox.requests()] == [ours[0]]


def test_a_session_is_cancelled_by_its_org(gateway: Gateway) -> None:
    made = open_session(gateway, "alice", "customer-17")
    carol = gateway.client("carol").beta.chatkit.sessions
    gateway.sandbox.clear()
    assert refused(lambda: carol.cancel(made)) == NOT_FOUND
    assert gateway.sandbox.requests() == []
    assert gateway.client("bob").beta.chatkit.sessions.cancel(made).id == made


def test_an_end_user_with_threads_from_before_the_gateway_is_not_anyone_s_first(
    sandbox: Sandbox, make_gateway: GatewayFactory, tmp_path: Path
) -> None:
    """Threads made before the gateway name end users it never saw: the first org to open a
    session for one would take those threads, so it stays untracked until backfill says whose."""
    store, config = backfill_config(sandbox, tmp_path)
    earlier = sandbox.chatkit_thread("customer-17", "my salary question")
    gateway = make_gateway(store=store)
    carol = gateway.client("carol").beta.chatkit
    assert refused(lambda: carol.sessions.create(user="customer-17", workflow=WORKFLOW)) == (
        403, "file_untracked")
    assert refused(lambda: carol.threads.retrieve(earlier)) == (403, "file_untracked")
    assert open_session(gateway, "carol", "customer-99")  # a new end user is still anyone's

    code, output = backfill(config, "--objects", "chatkit_users")
    assert code == 0, output
    assert open_session(gateway, "alice", "customer-17")
    assert gateway.client("bob").beta.chatkit.threads.retrieve(earlier).user == "customer-17"
    assert refused(lambda: carol.sessions.create(user="customer-17", workflow=WORKFLOW)) == NOT_FOUND


def test_a_new_end_user_is_not_claimed_when_the_upstream_cannot_list_their_threads(
    sqlite_gateway: Gateway,
) -> None:
    """Whether an end user has earlier threads decides whether a session may claim them: when
    the upstream cannot say, the session is refused (502), nothing is claimed or created."""
    gateway = sqlite_gateway
    gateway.sandbox.faults({"status": {"GET /v1/chatkit/threads": 500}})
    carol = gateway.client("carol").beta.chatkit
    assert refused(lambda: carol.sessions.create(user="customer-17", workflow=WORKFLOW)) == (
        502, "upstream_unavailable")
    assert ("POST", "/v1/chatkit/sessions") not in upstream_calls(gateway)
    gateway.sandbox.faults({})
    assert open_session(gateway, "alice", "customer-17")  # still anyone's first
