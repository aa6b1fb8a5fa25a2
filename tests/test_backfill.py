"""`files-gateway backfill` adopts files that already exist upstream as legacy files of an org."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import openai
import pytest
import yaml

from tests.conftest import ROOT, GatewayFactory, Sandbox, identity_keys
from tests.http import call


def seed_many(sandbox: Sandbox, count: int) -> list[str]:
    return [sandbox.seed("batch", content=f"{index}\n") for index in range(count)]


def backfill_config(sandbox: Sandbox, tmp_path: Path) -> tuple[str, Path]:
    """A store of the test's own and a config naming it and the sandbox, with an upstream key."""
    store = f"sqlite:///{tmp_path / 'records.db'}"
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"store": store, "upstream": {
        "url": sandbox.url, "api_key": "sk-admin"}}))
    return store, config


def backfill(config: Path, *extra: str, tty: bool = False) -> tuple[int, str]:
    args = [sys.executable, "-m", "gateway", "backfill", "--config", str(config), "--org", "acme",
            *extra]
    if not tty:
        done = subprocess.run(args, capture_output=True, text=True, timeout=120, cwd=ROOT)
        return done.returncode, done.stderr
    leader, follower = pty.openpty()
    proc = subprocess.Popen(args, stdout=follower, stderr=follower, cwd=ROOT)
    os.close(follower)
    output = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
    os.close(leader)
    return proc.wait(timeout=120), output.decode()


def test_backfill_adopts_pages_idempotently(
    sandbox: Sandbox, make_gateway: GatewayFactory, tmp_path: Path
) -> None:
    """Every upstream page is read; reruns adopt only what is new; the org then sees legacy files."""
    store, config = backfill_config(sandbox, tmp_path)
    first_batch = seed_many(sandbox, 1050)
    code, output = backfill(config, "--owner", "migration")
    assert code == 0, output
    assert "backfill done: seen 1050, adopted 1050, already known 0" in output
    later = seed_many(sandbox, 3)
    code, output = backfill(config, tty=True)
    assert code == 0, output
    assert "\r" in output  # the progress line redraws on a terminal
    assert "seen 1053, adopted 3, already known 1050" in output

    gateway = make_gateway(store=store)
    bob = gateway.client("bob")
    assert bob.files.content(first_batch[0]).content == b"0\n"
    assert bob.files.retrieve(later[-1]).id == later[-1]
    reply = call(gateway.url, "GET", f"/gateway/v1/files/{later[0]}/access",
                 {"Authorization": "Bearer sk-bob"})
    assert reply.json()["actions"]["download"]["reason"] == "legacy"
    with pytest.raises(openai.NotFoundError):
        gateway.client("carol").files.retrieve(first_batch[1])


def test_backfill_reads_the_project_the_gateway_is_pinned_to(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """Backfill lists with the gateway's own organization and project, as serving sends them."""
    _, config = backfill_config(sandbox, tmp_path)
    settings = yaml.safe_load(config.read_text())
    settings["upstream"].update(organization="org-gateway", project="proj_gateway")
    config.write_text(yaml.safe_dump(settings))
    seed_many(sandbox, 2)
    sandbox.clear()
    code, output = backfill(config)
    assert code == 0, output
    sent = sandbox.requests()
    assert sent
    assert {(r["headers"].get("openai-organization"), r["headers"].get("openai-project"))
            for r in sent} == {("org-gateway", "proj_gateway")}


def test_backfill_needs_an_upstream_key(tmp_path: Path) -> None:
    """Without upstream.api_key the command explains itself and exits non-zero."""
    config = tmp_path / "c.yaml"
    config.write_text(json.dumps({"store": f"sqlite:///{tmp_path / 'r.db'}",
                                  "identity": {"keys": identity_keys()}}))
    code, output = backfill(config)
    assert code == 2
    assert "upstream.api_key" in output


@pytest.mark.filterwarnings("ignore:The Sora API:DeprecationWarning")
def test_backfill_adopts_stored_completions_and_evals(
    sandbox: Sandbox, make_gateway: GatewayFactory, tmp_path: Path
) -> None:
    """Listable objects stored before the gateway are adopted on request: chat completions,
    evals and their runs, whose output items then follow the run's file once it is adopted too."""
    store, config = backfill_config(sandbox, tmp_path)
    direct = openai.OpenAI(api_key="sk-admin", base_url=sandbox.url + "/v1", max_retries=0)
    completions = [direct.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hi"}], store=True).id
        for _ in range(3)]
    rows = direct.files.create(file=("r.jsonl", b'{"item": {"q": "row"}}\n'), purpose="evals")
    made = direct.evals.create(
        name="e", testing_criteria=[],
        data_source_config={"type": "custom", "item_schema": {"type": "object"}})
    run = direct.evals.runs.create(
        made.id, data_source={"type": "jsonl", "source": {"type": "file_id", "id": rows.id}})
    skill = direct.skills.create(files=[("s/SKILL.md", b"---\nname: s\n---\n")])
    video = direct.videos.create(prompt="a cat")
    direct.close()

    code, output = backfill(config, "--objects", "chat_completions,evals,skills,videos")
    assert code == 0, output
    assert "backfill done: seen 7, adopted 7, already known 0" in output

    gateway = make_gateway(store=store)
    bob, carol = gateway.client("bob"), gateway.client("carol")
    assert sorted(c.id for c in bob.chat.completions.list()) == sorted(completions)
    assert [c.id for c in carol.chat.completions.list()] == []
    assert [e.id for e in bob.evals.list()] == [made.id]
    assert [r.id for r in bob.evals.runs.list(made.id)] == [run.id]
    assert bob.skills.retrieve(skill.id).id == skill.id
    assert bob.videos.retrieve(video.id).id == video.id
    with pytest.raises(openai.NotFoundError):
        carol.skills.retrieve(skill.id)
    with pytest.raises(openai.PermissionDeniedError):  # its file is not adopted yet
        bob.evals.runs.output_items.list(run.id, eval_id=made.id)

    code, output = backfill(config, "--objects", "files,evals")
    assert code == 0, output
    assert "seen 3, adopted 1, already known 2" in output
    items = bob.evals.runs.output_items.list(run.id, eval_id=made.id)
    assert [item.datasource_item for item in items] == [{"q": "row"}]
    with pytest.raises(openai.NotFoundError):
        carol.evals.runs.output_items.list(run.id, eval_id=made.id)


def test_backfill_adopts_the_agents_beta_s_objects(
    sandbox: Sandbox, make_gateway: GatewayFactory, tmp_path: Path
) -> None:
    """Agents, sessions (whose artifacts then download to the org), templates and vaults made
    before the gateway are adopted on request, each listed with the Agents beta header."""
    store, config = backfill_config(sandbox, tmp_path)
    direct = openai.OpenAI(api_key="sk-admin", base_url=sandbox.url + "/v1", max_retries=0)
    rows = direct.files.create(file=("r.csv", b"a,b\n1,2\n"), purpose="user_data")
    agents = direct.beta.agents
    agent = agents.create(model="gpt-5")
    session = agents.sessions.create(
        agent={"model": "gpt-5"},
        environment={"type": "openai_hosted", "files": [
            {"type": "file_id", "file_id": rows.id, "path": "/workspace/r.csv"}]})
    template = agents.environments.templates.create()
    vault = agents.vaults.create(name="v")
    direct.close()

    gateway = make_gateway(store=store)
    bob, carol = gateway.client("bob").beta.agents, gateway.client("carol").beta.agents
    with pytest.raises(openai.PermissionDeniedError):  # untracked until adopted
        bob.sessions.retrieve(session.id)

    code, output = backfill(
        config, "--objects", "agents,agent_sessions,agent_templates,agent_automations,vaults")
    assert code == 0, output
    assert "backfill done: seen 4, adopted 4, already known 0" in output
    assert bob.retrieve(agent.id).id == agent.id
    assert [s.id for s in bob.sessions.list()] == [session.id]
    assert bob.environments.templates.retrieve(template.id).id == template.id
    assert bob.vaults.retrieve(vault.id).id == vault.id
    artifact = bob.sessions.artifacts.list(session.id).data[0].id
    assert bob.sessions.artifacts.content(artifact, session_id=session.id).read() == b"a,b\n1,2\n"
    with pytest.raises(openai.NotFoundError):
        carol.sessions.retrieve(session.id)
    assert [s.id for s in carol.sessions.list()] == []
    # The Agents collections were listed with the beta header the SDK sends.
    beta = {(entry["path"], entry["headers"].get("openai-beta")) for entry in sandbox.requests()
            if entry["method"] == "GET" and entry["headers"].get("authorization") == "Bearer sk-admin"}
    assert ("/v1/agents/sessions", "agents=v1") in beta
    assert ("/v1/vaults", "agents=v1") in beta


def test_backfill_adopts_the_end_users_of_chatkit_threads(
    sandbox: Sandbox, make_gateway: GatewayFactory, tmp_path: Path
) -> None:
    """ChatKit threads made before the gateway name end users it never saw open a session:
    adopting `chatkit_users` makes each the org's once, whatever number of threads it has."""
    store, config = backfill_config(sandbox, tmp_path)
    threads = [sandbox.chatkit_thread(user) for user in ("customer-1", "customer-1", "customer-2")]
    gateway = make_gateway(store=store)
    bob = gateway.client("bob").beta.chatkit
    with pytest.raises(openai.PermissionDeniedError):  # untracked until adopted
        bob.threads.retrieve(threads[0])

    code, output = backfill(config, "--objects", "chatkit_users")
    assert code == 0, output
    assert "backfill done: seen 3, adopted 2, already known 1" in output
    assert sorted(t.id for t in bob.threads.list()) == sorted(threads)
    assert [t.id for t in gateway.client("carol").beta.chatkit.threads.list()] == []
    with pytest.raises(openai.NotFoundError):  # no other org can take them over now
        gateway.client("carol").beta.chatkit.sessions.create(user="customer-2",
                                                             workflow={"id": "wf"})
