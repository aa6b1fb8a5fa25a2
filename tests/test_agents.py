"""The Agents beta through the gateway: agents, sessions, environments, templates, automations
and vaults are their creator's, files copied into an environment are references of the `agents`
API, and a session's artifacts download by the session's rules. Official SDK over real HTTP
against the sandbox.

alice and bob share org acme; carol is in globex.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest
from openai.types.beta import AgentSessionCreatedEvent

from tests import sdk
from tests.conftest import Gateway
from tests.http import call
from tests.sdk import refusal, refused

NOT_FOUND = (404, "file_not_found")
ROWS = b"name,salary\nada,100\n"


upload = partial(sdk.upload, data=ROWS, filename="rows.csv")


def hosted(*file_ids: str) -> Any:
    """An OpenAI-hosted environment with these files copied in (Any: the SDK's TypedDict union)."""
    return {"type": "openai_hosted", "files": [
        {"type": "file_id", "file_id": file_id, "path": f"/workspace/{index}.csv"}
        for index, file_id in enumerate(file_ids)]}


def new_session(gateway: Gateway, who: str, *file_ids: str, **extra: Any) -> str:
    return str(gateway.client(who).beta.agents.sessions.create(
        environment=hosted(*file_ids), agent={"model": "gpt-5"}, **extra).id)


# Each kind: how alice makes one, and the SDK resource that reads, lists and deletes it.
KINDS: dict[str, tuple[Callable[[Gateway], str], Callable[[Any], Any]]] = {
    "agent": (lambda g: g.client("alice").beta.agents.create(model="gpt-5").id,
              lambda client: client.beta.agents),
    "session": (lambda g: new_session(g, "alice"), lambda client: client.beta.agents.sessions),
    "template": (lambda g: g.client("alice").beta.agents.environments.templates.create().id,
                 lambda client: client.beta.agents.environments.templates),
    "vault": (lambda g: g.client("alice").beta.agents.vaults.create(name="v").id,
              lambda client: client.beta.agents.vaults),
}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_agents_objects_are_their_org_s(gateway: Gateway, kind: str) -> None:
    make, resource = KINDS[kind]
    object_id = make(gateway)
    bob, carol = resource(gateway.client("bob")), resource(gateway.client("carol"))

    assert bob.retrieve(object_id).id == object_id
    assert [item.id for item in bob.list()] == [object_id]
    gateway.sandbox.clear()
    assert refused(lambda: carol.retrieve(object_id)) == NOT_FOUND
    assert refused(lambda: carol.delete(object_id)) == NOT_FOUND
    assert gateway.sandbox.requests() == []
    assert [item.id for item in carol.list()] == []

    bob.delete(object_id)
    assert refused(lambda: bob.retrieve(object_id)) == NOT_FOUND


def test_an_environment_is_its_creator_s_and_holds_its_files_restrictions(gateway: Gateway) -> None:
    private = upload(gateway, "alice", access="private_only")
    environments = gateway.client("alice").beta.agents.environments
    shared = environments.create(environment=hosted(upload(gateway, "alice"))).id
    sealed = environments.create(environment=hosted(private)).id
    bob = gateway.client("bob").beta.agents.environments

    assert bob.retrieve(shared).id == shared
    assert [e.id for e in bob.list()] == [shared]
    bobs, bobs_private = upload(gateway, "bob"), upload(gateway, "bob", access="private_only")
    gateway.sandbox.clear()
    assert refused(lambda: bob.retrieve(sealed)) == (403, "private_only_forbidden")
    assert refused(lambda: bob.files.create(sealed, type="file_id", file_id=bobs,
                                            path="/workspace/b.csv")) == (
        403, "private_only_forbidden")
    assert refused(lambda: gateway.client("carol").beta.agents.environments.retrieve(shared)) == (
        NOT_FOUND)
    assert gateway.sandbox.requests() == []

    # A private file goes only into its owner's environment, and makes it private first.
    assert refusal(lambda: bob.files.create(
        shared, type="file_id", file_id=bobs_private, path="/workspace/p.csv")) == (
        403, "private_only_forbidden", "file_id")
    assert gateway.sandbox.requests() == []
    environments.files.create(shared, type="file_id", file_id=private, path="/workspace/p.csv")
    assert refused(lambda: bob.retrieve(shared)) == (403, "private_only_forbidden")


def _session_body(file_id: str) -> dict[str, Any]:
    return {"agent": {"model": "gpt-5"}, "environment": hosted(file_id)}


# Every place an Agents body copies a file into an environment, and the param a refusal names.
PLACES: list[tuple[str, Callable[[Gateway], str], Callable[[str], dict[str, Any]], str]] = [
    ("session environment", lambda g: "/v1/agents/sessions", _session_body,
     "environment.files[0].file_id"),
    ("prewarmed environment", lambda g: "/v1/agents/environments",
     lambda f: {"environment": hosted(f)}, "environment.files[0].file_id"),
    ("environment file", lambda g: "/v1/agents/environments/"
     + g.client("alice").beta.agents.environments.create(environment=hosted()).id + "/files",
     lambda f: {"type": "file_id", "file_id": f, "path": "/workspace/x.csv"}, "file_id"),
    ("template", lambda g: "/v1/agents/environments/templates",
     lambda f: {"files": [{"type": "file_id", "file_id": f, "path": "/workspace/x.csv"}]},
     "files[0].file_id"),
    ("automation new session", lambda g: "/v1/agents/automations",
     lambda f: {"type": "once", "name": "n", "run_at": 2_000_000_000, "target": {
         "type": "new_session", "environment": hosted(f), "agent": {"model": "gpt-5"},
         "input": [{"role": "user", "content": "go"}]}},
     "target.environment.files[0].file_id"),
]


@pytest.mark.parametrize(("name", "path", "body", "param"), PLACES, ids=[p[0] for p in PLACES])
def test_files_copied_into_an_environment_follow_the_reference_rules(
    gateway: Gateway, name: str, path: Callable[[Gateway], str],
    body: Callable[[str], dict[str, Any]], param: str,
) -> None:
    """The caller's own document goes in; a peer's private file, another org's, an untracked
    one and a purpose the Agents API does not take are refused, with nothing sent upstream."""
    where = path(gateway)
    headers = {"Authorization": "Bearer sk-alice", "Content-Type": "application/json",
               "OpenAI-Beta": "agents=v1"}
    mine = upload(gateway, "alice")
    gateway.sandbox.clear()
    allowed = call(gateway.url, "POST", where, headers, json.dumps(body(mine)).encode())
    assert allowed.status == 200, allowed.body
    assert mine in json.dumps(gateway.sandbox.requests())

    for file_id, expected in (
        (upload(gateway, "bob", access="private_only"), (403, "private_only_forbidden")),
        (upload(gateway, "carol"), NOT_FOUND),
        (gateway.sandbox.seed("user_data"), (403, "file_untracked")),
        (upload(gateway, "alice", purpose="batch"), (400, "purpose_api_mismatch")),
    ):
        gateway.sandbox.clear()
        reply = call(gateway.url, "POST", where, headers, json.dumps(body(file_id)).encode())
        assert (reply.status, reply.code) == expected, (name, reply.body)
        assert reply.json()["error"]["param"] == param
        assert gateway.sandbox.requests() == []


def test_artifacts_download_by_the_session_s_rules(gateway: Gateway) -> None:
    plain = new_session(gateway, "alice", upload(gateway, "alice"))
    sealed = new_session(gateway, "alice", upload(gateway, "alice", access="no_download"))
    alice, bob, carol = (gateway.client(who).beta.agents.sessions for who in ("alice", "bob", "carol"))

    artifact = bob.artifacts.list(plain).data[0].id
    assert bob.artifacts.content(artifact, session_id=plain).read() == ROWS
    assert alice.artifacts.content(artifact, session_id=plain).read() == ROWS
    gateway.sandbox.clear()
    assert refused(lambda: carol.artifacts.list(plain)) == NOT_FOUND
    assert refused(lambda: carol.artifacts.content(artifact, session_id=plain)) == NOT_FOUND

    # Usable in the session, never downloadable, not even by its owner.
    assert refused(lambda: alice.artifacts.content("art_any", session_id=sealed)) == (
        403, "download_disabled")
    assert gateway.sandbox.requests() == []
    assert gateway.metric("files_gateway_decisions_total", action="download", decision="deny",
                          reason="download_disabled", purpose="unknown") == 1
    assert alice.retrieve(sealed).id == sealed


def test_a_streamed_session_is_recorded_before_its_id_is_out(gateway: Gateway) -> None:
    stream = gateway.client("alice").beta.agents.sessions.create(
        environment=hosted(upload(gateway, "alice", access="private_only")),
        agent={"model": "gpt-5"}, stream=True)
    events = list(stream)
    assert events[0].type == "agent.session.created"
    session_id = events[0].session.id
    assert gateway.client("alice").beta.agents.sessions.retrieve(session_id).id == session_id
    # It ran on a private file, so it is private.
    assert refused(lambda: gateway.client("bob").beta.agents.sessions.retrieve(session_id)) == (
        403, "private_only_forbidden")


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        ("/v1/agents/sessions", lambda agent, session, vault: {
            "agent_id": agent, "environment": {"type": "none"}}, "agent_id"),
        ("/v1/agents/sessions", lambda agent, session, vault: {
            "agent": {"model": "gpt-5"}, "environment": {"type": "none"}, "vault_ids": [vault]},
         "vault_ids[0]"),
        ("/v1/agents/automations", lambda agent, session, vault: {
            "type": "once", "name": "n", "run_at": 2_000_000_000, "target": {
                "type": "existing_session", "session_id": session, "instructions": "go"}},
         "target.session_id"),
    ],
    ids=["agent", "vault", "automation session"],
)
def test_agents_objects_named_by_id_are_references(
    gateway: Gateway, path: str, body: Callable[[str, str, str], dict[str, Any]], param: str,
) -> None:
    """Another org's agent, session or vault cannot be used by naming it; the caller's own can,
    and `metadata` is the caller's free text, never a reference."""
    carol = gateway.client("carol").beta.agents
    theirs = (carol.create(model="gpt-5").id, new_session(gateway, "carol"),
              carol.vaults.create(name="v").id)
    alice = gateway.client("alice").beta.agents
    mine = (alice.create(model="gpt-5").id, new_session(gateway, "alice"),
            alice.vaults.create(name="v").id)
    headers = {"Authorization": "Bearer sk-alice", "Content-Type": "application/json"}
    gateway.sandbox.clear()
    reply = call(gateway.url, "POST", path, headers, json.dumps(body(*theirs)).encode())
    assert (reply.status, reply.code) == NOT_FOUND, reply.body
    assert reply.json()["error"]["param"] == param
    assert gateway.sandbox.requests() == []

    allowed = {**body(*mine), "metadata": {"session_id": "my-own-label"}}
    reply = call(gateway.url, "POST", path, headers, json.dumps(allowed).encode())
    assert reply.status == 200, reply.body


def test_a_session_s_own_environment_is_the_session_s(gateway: Gateway) -> None:
    """The environment made for a session is recorded with it, restrictions and all, so its
    creator can use it and no one else more than the session allows."""
    alice = gateway.client("alice").beta.agents
    session = alice.sessions.create(environment=hosted(upload(gateway, "alice", access="private_only")),
                                    agent={"model": "gpt-5"})
    environment = session.environment.id  # type: ignore[union-attr]
    assert alice.environments.retrieve(environment).id == environment
    assert refused(lambda: gateway.client("bob").beta.agents.environments.retrieve(environment)) == (
        403, "private_only_forbidden")
    assert refused(lambda: gateway.client("carol").beta.agents.environments.retrieve(environment)) == (
        NOT_FOUND)

    # A streamed create names only the session first; reading the session records the rest.
    events = list(alice.sessions.create(environment=hosted(), agent={"model": "gpt-5"},
                                        stream=True))
    first = events[0]
    assert isinstance(first, AgentSessionCreatedEvent)
    assert refused(lambda: alice.environments.retrieve(
        first.session.environment.id)) == (403, "file_untracked")  # type: ignore[union-attr]
    made = alice.sessions.retrieve(first.session.id).environment.id  # type: ignore[union-attr]
    assert gateway.client("bob").beta.agents.environments.retrieve(made).id == made
