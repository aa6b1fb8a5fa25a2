"""The sandbox's Agents beta, driven as a user would: the official SDK against a real sandbox
server. Agents, hosted environments and their files, templates, sessions (whole and streamed),
the artifacts a session publishes, vaults and automations."""

from __future__ import annotations

import base64
from typing import Any

import openai
import pytest
from openai import OpenAI
from openai.types.beta.agent_session import AgentSession
from openai.types.beta.agent_session_created_event import AgentSessionCreatedEvent
from openai.types.beta.environment import EnvironmentResourceOpenAIHosted

from tests.conftest import Sandbox
from tests.test_sandbox_evals import client as client  # the fixture, shared
from tests.test_sandbox_evals import send
from tests.test_sandbox_stored import error, refusal

# Every byte value, so a download that decodes, re-encodes or trims anything shows.
BINARY = bytes(range(256)) * 3
NOTES = b"first line\nsecond line\n"


def inline(path: str, data: bytes) -> Any:
    return {"type": "inline", "path": path, "data": base64.b64encode(data).decode()}


def by_file(path: str, file_id: str) -> Any:
    return {"type": "file_id", "path": path, "file_id": file_id}


def hosted(*files: dict[str, Any], **more: Any) -> Any:
    return {"type": "openai_hosted", "files": list(files), **more}


def upload(client: OpenAI, data: bytes, name: str = "notes.txt") -> str:
    return client.files.create(file=(name, data), purpose="user_data").id


def hosted_id(session: AgentSession) -> str:
    """The id of the session's OpenAI-hosted environment."""
    assert isinstance(session.environment, EnvironmentResourceOpenAIHosted), session.environment
    return session.environment.id


def contents(client: OpenAI, session_id: str) -> dict[str, bytes]:
    """Each artifact of the session, by path, with the bytes its download answers."""
    artifacts = client.beta.agents.sessions.artifacts
    return {
        artifact.path: artifacts.content(artifact.id, session_id=session_id).read()
        for artifact in artifacts.list(session_id)
    }


# Agents


def test_agent_lifecycle(client: OpenAI) -> None:
    """An agent answers every setting resolved; update replaces what it names, delete answers
    ``agent.deleted`` and the id is then unknown."""
    agents = client.beta.agents
    made = agents.create(model="gpt-5", name="helper", instructions="Be brief.", metadata={"team": "a"})
    assert made.id.startswith("agent_") and made.object == "agent"
    assert (made.model, made.name, made.instructions, made.metadata) == ("gpt-5", "helper", "Be brief.",
                                                                        {"team": "a"})
    assert (made.service_tier, made.tools, made.multi_agent.enabled) == ("auto", [], False)
    assert (made.text.verbosity, made.reasoning.effort) == ("medium", None)
    assert agents.retrieve(made.id).to_dict() == made.to_dict()

    changed = agents.update(made.id, name="renamed", multi_agent={"enabled": True})
    assert (changed.name, changed.model, changed.instructions) == ("renamed", "gpt-5", "Be brief.")
    assert (changed.multi_agent.enabled, changed.multi_agent.max_concurrent_subagents) == (True, 6)
    assert [agent.id for agent in agents.list()] == [made.id]

    gone = agents.delete(made.id)
    assert (gone.id, gone.object, gone.deleted) == (made.id, "agent.deleted", True)
    with pytest.raises(openai.NotFoundError) as caught:
        agents.retrieve(made.id)
    assert caught.value.body == error(f"Agent with id '{made.id}' not found.")


def test_lists_page_newest_first(client: OpenAI) -> None:
    """Lists page by ``after`` and ``limit``, newest first unless ``order=asc``; the SDK's
    auto-pagination walks every page."""
    made = [client.beta.agents.create(model="gpt-5", name=str(n)).id for n in range(3)]
    first = client.beta.agents.list(limit=2)
    assert ([a.id for a in first.data], first.has_more) == (made[:0:-1], True)
    assert [a.id for a in client.beta.agents.list(limit=2)] == made[::-1]
    assert [a.id for a in client.beta.agents.list(order="asc", after=made[0])] == made[1:]


# Environments and templates


def test_environment_lifecycle(client: OpenAI) -> None:
    """An environment is ready at once with its files listed by path and size, never content;
    a file added at a taken path replaces the one there."""
    file_id = upload(client, NOTES)
    environments = client.beta.agents.environments
    made = environments.create(environment=hosted(
        by_file("/workspace/notes.txt", file_id), inline("/workspace/data/blob.bin", BINARY),
    ))
    assert made.id.startswith("env_")
    assert (made.object, made.type, made.status) == ("agent.environment", "openai_hosted", "ready")
    assert [(f.type, f.path, f.size_bytes) for f in made.files] == [
        ("file_id", "/workspace/notes.txt", len(NOTES)), ("inline", "/workspace/data/blob.bin", len(BINARY)),
    ]
    assert environments.retrieve(made.id).to_dict() == made.to_dict()
    assert [environment.id for environment in environments.list()] == [made.id]

    added = environments.files.create(made.id, type="inline", path="/workspace/notes.txt",
                                      data=base64.b64encode(b"short").decode())
    assert (added.object, added.environment_id, added.path, added.size_bytes) == (
        "agent.environment.file", made.id, "/workspace/notes.txt", 5)
    listed = environments.files.list(made.id, order="asc")
    assert [(f.path, f.size_bytes) for f in listed] == [
        ("/workspace/data/blob.bin", len(BINARY)), ("/workspace/notes.txt", 5),
    ]
    assert [f.path for f in environments.files.list(made.id, path="/workspace/data")] == [
        "/workspace/data/blob.bin"]


def test_environment_files_page_by_token(client: OpenAI) -> None:
    """The files list is the SDK's token page: ``next`` resumes where the last page stopped."""
    paths = [f"/workspace/{name}.txt" for name in "abc"]
    made = client.beta.agents.environments.create(environment=hosted(*(inline(p, b"x") for p in paths)))
    first = client.beta.agents.environments.files.list(made.id, limit=2, order="asc")
    assert ([f.path for f in first.data], first.has_more) == (paths[:2], True)
    assert [f.path for f in first.get_next_page().data] == paths[2:]
    assert [f.path for f in client.beta.agents.environments.files.list(made.id, limit=1)] == paths[::-1]


def test_environment_file_from_file_id_copies_bytes(client: OpenAI) -> None:
    """A ``file_id`` entry copies the File's bytes, which outlive the File: a session in that
    environment publishes them as an artifact, byte for byte."""
    file_id = upload(client, BINARY, "blob.bin")
    environment = client.beta.agents.environments.create(environment=hosted())
    client.beta.agents.environments.files.create(
        environment.id, type="file_id", file_id=file_id, path="/workspace/in/blob.bin")
    client.files.delete(file_id)

    session = client.beta.agents.sessions.create(
        agent={"model": "gpt-5"},
        environment={"type": "openai_hosted", "environment_id": environment.id},
    )
    assert hosted_id(session) == environment.id
    assert contents(client, session.id) == {"/workspace/in/blob.bin": BINARY}


def test_a_missing_file_id_is_not_found(client: OpenAI) -> None:
    """An unknown File anywhere a file is placed is the Files 404, and nothing is made."""
    missing = by_file("/workspace/x.txt", "file-missing")
    environments = client.beta.agents.environments
    made = environments.create(environment=hosted())
    for step in (
        lambda: environments.create(environment=hosted(missing)),
        lambda: environments.files.create(made.id, type="file_id", file_id="file-missing",
                                          path="/workspace/x.txt"),
        lambda: environments.templates.create(files=[missing]),
        lambda: client.beta.agents.sessions.create(agent={"model": "gpt-5"}, environment=hosted(missing)),
    ):
        with pytest.raises(openai.NotFoundError) as caught:
            step()
        assert caught.value.body == error("No such File object: file-missing", "id")
    assert [e.id for e in environments.list()] == [made.id]
    assert environments.retrieve(made.id).files == []
    assert list(client.beta.agents.sessions.list()) == []


def test_file_paths_must_lie_under_workspace(client: OpenAI) -> None:
    """A destination outside ``/workspace/``, or climbing out of it, is refused."""
    for path in ("/etc/passwd", "/workspace/../etc/passwd", "relative.txt"):
        placed = hosted(inline(path, b"x"))
        status, body = refusal(lambda: client.beta.agents.environments.create(environment=placed))  # noqa: B023
        assert (status, body["param"], body["code"]) == (400, "environment.files[0].path", "invalid_value")


def test_template_lifecycle(client: OpenAI) -> None:
    """A template answers its files without contents (a File by id, inline bytes by size) and
    its settings with defaults; update replaces what it names; delete forgets it."""
    file_id = upload(client, NOTES)
    templates = client.beta.agents.environments.templates
    made = templates.create(
        name="base",
        files=[by_file("/workspace/notes.txt", file_id), inline("/workspace/blob.bin", BINARY)],
        packages={"python": ["pandas"]},
        env={"SECRET": "never answered"},
    )
    assert made.id.startswith("envtpl_") and made.object == "agent.environment.template"
    assert [f.to_dict() for f in made.files] == [
        {"type": "file_id", "file_id": file_id, "path": "/workspace/notes.txt"},
        {"type": "inline", "path": "/workspace/blob.bin", "size_bytes": len(BINARY)},
    ]
    assert (made.packages.python, made.packages.npm, made.network.access) == (["pandas"], [], "enabled")
    assert "SECRET" not in made.to_json()
    assert templates.retrieve(made.id).to_dict() == made.to_dict()

    changed = templates.update(made.id, name="renamed", packages=None)
    assert (changed.name, changed.packages.python, len(changed.files)) == ("renamed", [], 2)
    assert [t.id for t in templates.list()] == [made.id]
    gone = templates.delete(made.id)
    assert (gone.id, gone.object, gone.deleted) == (made.id, "agent.environment.template.deleted", True)
    with pytest.raises(openai.NotFoundError):
        templates.retrieve(made.id)


def test_a_session_from_a_template_gets_its_files(client: OpenAI) -> None:
    """A session naming a template gets a fresh environment with the template's files, and its
    own inline files over them; each becomes an artifact holding exactly its bytes."""
    file_id = upload(client, NOTES)
    template = client.beta.agents.environments.templates.create(
        files=[by_file("/workspace/notes.txt", file_id), inline("/workspace/old.txt", b"old")])
    session = client.beta.agents.sessions.create(
        agent={"model": "gpt-5"},
        environment=hosted(inline("/workspace/old.txt", b"new"), environment_template_id=template.id),
    )
    assert contents(client, session.id) == {"/workspace/notes.txt": NOTES, "/workspace/old.txt": b"new"}
    environment = client.beta.agents.environments.retrieve(hosted_id(session))
    assert sorted(f.path for f in environment.files) == ["/workspace/notes.txt", "/workspace/old.txt"]

    with pytest.raises(openai.NotFoundError) as caught:
        client.beta.agents.sessions.create(
            agent={"model": "gpt-5"}, environment=hosted(environment_template_id="envtpl_missing"))
    assert caught.value.body == error("Environment template with id 'envtpl_missing' not found.",
                                      "environment.environment_template_id")


# Sessions and artifacts


def test_session_lifecycle(client: OpenAI) -> None:
    """A session finishes its first turn at once: idle, with the input and a reply as items;
    update replaces metadata; delete forgets it and its artifacts."""
    sessions = client.beta.agents.sessions
    made = sessions.create(agent={"model": "gpt-5"}, environment={"type": "none"}, input="hi",
                           metadata={"run": "1"})
    assert made.id.startswith("sess_")
    assert (made.object, made.status, made.environment.type, made.metadata) == (
        "agent.session", "idle", "none", {"run": "1"})
    assert (made.agent.model, made.required_actions, made.vault_ids) == ("gpt-5", [], [])
    assert sessions.retrieve(made.id).to_dict() == made.to_dict()
    items = list(sessions.items.list(made.id, order="asc"))
    assert [(item.type, getattr(item, "role", None)) for item in items] == [
        ("message", "user"), ("message", "assistant")]

    assert sessions.update(made.id, metadata={"run": "2"}).metadata == {"run": "2"}
    assert [s.id for s in sessions.list(metadata={"run": "2"})] == [made.id]
    assert list(sessions.list(metadata={"run": "1"})) == []

    gone = sessions.delete(made.id)
    assert (gone.id, gone.object, gone.deleted) == (made.id, "agent.session.deleted", True)
    missing = error(f"Session with id '{made.id}' not found.")
    for step in (lambda: sessions.retrieve(made.id), lambda: sessions.artifacts.list(made.id)):
        assert refusal(step) == (404, missing)


def test_a_session_runs_a_saved_agent(client: OpenAI) -> None:
    """``agent_id`` runs a saved agent, ``agent`` overriding it for that session only; an
    unknown one is a 404 pointing at it."""
    saved = client.beta.agents.create(model="gpt-5", name="saved", instructions="Be brief.")
    session = client.beta.agents.sessions.create(
        agent_id=saved.id, agent={"model": "gpt-5-mini"}, environment={"type": "none"})
    assert (session.agent.id, session.agent.model, session.agent.instructions) == (
        saved.id, "gpt-5-mini", "Be brief.")
    assert client.beta.agents.retrieve(saved.id).model == "gpt-5"
    assert [s.id for s in client.beta.agents.sessions.list(agent_id=saved.id)] == [session.id]

    with pytest.raises(openai.NotFoundError) as caught:
        client.beta.agents.sessions.create(agent_id="agent_missing", environment={"type": "none"})
    assert caught.value.body == error("Agent with id 'agent_missing' not found.", "agent_id")


def test_a_streamed_session_starts_with_its_creation(client: OpenAI) -> None:
    """``stream: true`` answers events, the first ``agent.session.created`` carrying the session
    a later retrieve finds, the last ``agent.session.idle``."""
    stream = client.beta.agents.sessions.create(
        agent={"model": "gpt-5"}, environment={"type": "none"}, input="hi", stream=True)
    events = list(stream)
    first = events[0]
    assert isinstance(first, AgentSessionCreatedEvent) and first.type == "agent.session.created"
    assert client.beta.agents.sessions.retrieve(first.session.id).id == first.session.id
    assert [e.type for e in events][-3:] == [
        "agent.session.turn.item.done", "agent.session.turn.completed", "agent.session.idle"]
    assert all(e.event_id.startswith("event_") for e in events)
    assert len({getattr(e, "session_id", first.session.id) for e in events}) == 1


def test_a_streamed_turn_result_and_its_artifacts(client: OpenAI) -> None:
    """The SDK collects the streamed turn's result, whose artifacts download by path."""
    stream = client.beta.agents.sessions.create(
        agent={"model": "gpt-5"}, environment=hosted(inline("/workspace/outputs/r.bin", BINARY)),
        input="report", stream=True)
    result = stream.get_final_result()
    assert result.output_text == "Sandbox reply."
    artifacts = client.beta.agents.sessions.artifacts.for_result(result)
    assert artifacts.content("/workspace/outputs/r.bin").read() == BINARY


def test_artifact_content_is_the_exact_bytes(client: OpenAI, sandbox: Sandbox) -> None:
    """An artifact names its session, turn, environment and path; its content is the placed
    bytes, streamed as octet-stream; a deleted artifact is unknown."""
    sessions = client.beta.agents.sessions
    placed = hosted(inline("/workspace/b.bin", BINARY))
    session = sessions.create(agent={"model": "gpt-5"}, environment=placed)
    [artifact] = list(sessions.artifacts.list(session.id))
    assert artifact.id.startswith("art_") and artifact.object == "agent.session.artifact"
    assert (artifact.session_id, artifact.environment_id, artifact.path, artifact.size_bytes) == (
        session.id, hosted_id(session), "/workspace/b.bin", len(BINARY))
    assert sessions.artifacts.retrieve(artifact.id, session_id=session.id).to_dict() == artifact.to_dict()
    reply = send(sandbox, "GET", f"/v1/agents/sessions/{session.id}/artifacts/{artifact.id}/content")
    assert (reply.status, reply.headers["content-type"], reply.body) == (
        200, "application/octet-stream", BINARY)
    assert sessions.artifacts.content(artifact.id, session_id=session.id).read() == BINARY

    gone = sessions.artifacts.delete(artifact.id, session_id=session.id)
    assert (gone.id, gone.object, gone.deleted) == (artifact.id, "agent.session.artifact.deleted", True)
    assert refusal(lambda: sessions.artifacts.content(artifact.id, session_id=session.id)) == (
        404, error(f"Artifact with id '{artifact.id}' not found."))


# Vaults and automations


def test_vault_lifecycle(client: OpenAI) -> None:
    """A vault's name is trimmed; update replaces what it names; sessions name vaults by id,
    and an unknown one is a 404."""
    vaults = client.beta.agents.vaults
    made = vaults.create(name="  keys  ", metadata={"team": "a"})
    assert made.id.startswith("vault_")
    assert (made.object, made.name, made.metadata) == ("vault", "keys", {"team": "a"})
    assert vaults.retrieve(made.id).to_dict() == made.to_dict()
    assert vaults.update(made.id, name=None).name is None
    assert [v.id for v in vaults.list(metadata={"team": "a"})] == [made.id]
    assert list(vaults.list(metadata={"team": "b"})) == []

    session = client.beta.agents.sessions.create(
        agent={"model": "gpt-5"}, environment={"type": "none"}, vault_ids=[made.id])
    assert session.vault_ids == [made.id]
    gone = vaults.delete(made.id)
    assert (gone.id, gone.object, gone.deleted) == (made.id, "vault.deleted", True)
    with pytest.raises(openai.NotFoundError) as caught:
        client.beta.agents.sessions.create(
            agent={"model": "gpt-5"}, environment={"type": "none"}, vault_ids=[made.id])
    assert caught.value.body == error(f"Vault with id '{made.id}' not found.", "vault_ids[0]")


def test_automation_lifecycle(client: OpenAI) -> None:
    """An automation is kept, listed by its target session, paused and resumed, but never fired."""
    session = client.beta.agents.sessions.create(agent={"model": "gpt-5"}, environment={"type": "none"})
    automations = client.beta.agents.automations
    target: Any = {"type": "existing_session", "session_id": session.id, "instructions": "Check in."}
    made = automations.create(type="periodic", name="daily", expression="0 9 * * *",
                              timezone="UTC", target=target)
    assert made.id.startswith("auto_") and made.object == "agent.automation"
    assert (made.type, made.status, made.created_by.type, made.target.type) == (
        "periodic", "active", "developer", "existing_session")
    assert automations.retrieve(made.id).to_dict() == made.to_dict()
    assert automations.update(made.id, name="weekly").name == "weekly"
    assert [a.id for a in automations.list(session_id=session.id)] == [made.id]
    assert automations.pause(made.id).status == "paused"
    assert automations.resume(made.id).status == "active"

    gone = automations.delete(made.id)
    assert (gone.id, gone.object, gone.deleted) == (made.id, "agent.automation.deleted", True)
    with pytest.raises(openai.NotFoundError):
        automations.retrieve(made.id)
