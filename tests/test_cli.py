"""The command line as a user runs it: check-config, purposes, and serve against the sandbox."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import openai
import pytest
import yaml

from gateway.settings import ENV_VARS, load_settings
from tests.cli_processes import Processes, start_serve
from tests.conftest import identity_keys
from tests.http import call
from tests.servers import free_port, wait_for_port

ROOT = Path(__file__).resolve().parent.parent


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args], capture_output=True, text=True, timeout=60,
        env={**os.environ, **(env or {})}, cwd=ROOT,
    )


def test_check_config_reports_every_problem(tmp_path: Path) -> None:
    """check-config lists every config and policy error at once, each naming its key."""
    policy = tmp_path / "policy.yaml"
    policy.write_text(yaml.safe_dump({
        "version": "x", "untracked": "maybe",
        "purposes": {"batch": {"download": "everyone", "apis": "batches",
                               "default_flags": ["secret"]},
                     "out": {"uploaded_by": "upstream", "inherits_from": "nothing"}},
    }))
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({
        "listen": "nowhere", "store": "mysql://x", "policy": str(policy), "workers": 0,
        "event_loop": "trio",
        "identity": {"mode": "magic", "keys": [{"sha256": "abc"}]},
        "upstream": {"url": "ftp://x", "project": "proj x"}, "colour": "blue",
    }))
    result = run_cli("check-config", "--config", str(config))
    assert result.returncode == 2
    for key in ("listen", "store", "workers", "event_loop", "identity.mode", "identity.keys[0].sha256",
                "identity.keys[0].principal", "upstream.url", "upstream.project: 'proj x' must be an id",
                "upstream.project: only used with upstream.api_key", "colour: unknown setting",
                "policy.untracked", "policy.purposes.batch.download", "policy.purposes.batch.apis",
                "policy.purposes.batch.default_flags", "policy.purposes.out.inherits_from"):
        assert key in result.stderr, key


def test_check_config_accepts_the_example(tmp_path: Path) -> None:
    """The shipped example config validates."""
    result = run_cli("check-config", "--config", str(ROOT / "config" / "example.yaml"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok: policy")


def test_layering_defaults_yaml_env_flags(tmp_path: Path) -> None:
    """Each layer overrides the one before: defaults < YAML < env < flags."""
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"listen": "127.0.0.1:1000", "admin_listen": "127.0.0.1:1001",
                                      "store": "redis://yaml:6379/0"}))
    settings = load_settings(
        config, env={"FILES_GATEWAY_ADMIN_LISTEN": "127.0.0.1:2001",
                     "FILES_GATEWAY_STORE": "redis://env:6379/0"},
        flags={"store": "redis://flag:6379/0"},
    )
    assert str(settings.listen) == "127.0.0.1:1000"
    assert str(settings.admin_listen) == "127.0.0.1:2001"
    assert settings.store_url == "redis://flag:6379/0"
    assert settings.upstream.url == "https://api.openai.com"
    with_v1 = load_settings(None, env={"FILES_GATEWAY_UPSTREAM": "https://llm.example/openai/v1/"})
    assert with_v1.upstream.url == "https://llm.example/openai"


def test_readme_documents_every_environment_variable() -> None:
    """README's table names every FILES_GATEWAY_* variable the settings read."""
    readme = (ROOT / "README.md").read_text()
    for name in [*ENV_VARS, "FILES_GATEWAY_CONFIG"]:
        assert f"`{name}`" in readme, name


def test_purposes_command_prints_the_matrix() -> None:
    """`purposes` prints the effective matrix as Markdown and as JSON."""
    markdown = run_cli("purposes", "--format", "markdown")
    assert markdown.returncode == 0
    assert "| user_data |" in markdown.stdout
    as_json = run_cli("purposes", "--format", "json")
    assert '"purpose": "user_data"' in as_json.stdout




def start_gateway_process(processes: Processes, tmp_path: Path, upstream: str) -> tuple[str, str]:
    config = tmp_path / "gateway.yaml"
    config.write_text(yaml.safe_dump({"identity": {"keys": identity_keys()}}))
    return start_serve(processes, tmp_path, config, upstream)


def test_first_run_and_restart_keep_records(
    processes: Processes, tmp_path: Path
) -> None:
    """sandbox + serve as separate processes; records survive a restart on the embedded store."""
    sandbox_port = free_port()
    processes.spawn("sandbox", "--listen", f"127.0.0.1:{sandbox_port}", cwd=tmp_path)
    wait_for_port(sandbox_port)
    upstream = f"http://127.0.0.1:{sandbox_port}"
    url, admin = start_gateway_process(processes, tmp_path, upstream)
    alice = openai.OpenAI(api_key="sk-alice", base_url=url + "/v1", max_retries=0)
    bob = openai.OpenAI(api_key="sk-bob", base_url=url + "/v1", max_retries=0)
    created = alice.files.create(file=("a.jsonl", io.BytesIO(b"{}\n")), purpose="batch",
                                 extra_headers={"X-File-Access": "private_only"})
    assert (tmp_path / "files-gateway.db").exists()
    gateway = processes.started[-1]
    gateway.send_signal(signal.SIGTERM)
    assert gateway.wait(timeout=30) == 0
    alice.close()
    bob.close()

    url, admin = start_gateway_process(processes, tmp_path, upstream)
    alice = openai.OpenAI(api_key="sk-alice", base_url=url + "/v1", max_retries=0)
    bob = openai.OpenAI(api_key="sk-bob", base_url=url + "/v1", max_retries=0)
    assert alice.files.content(created.id).content == b"{}\n"
    with pytest.raises(openai.PermissionDeniedError):
        bob.files.content(created.id)
    # It served a request from its store, so it is ready; the admin listener says so too.
    assert call(admin, "GET", "/readyz").json()["ready"] is True
    assert call(admin, "GET", "/healthz").status == 200
    alice.close()
    bob.close()


@pytest.mark.parametrize("workers", [1, 2])
def test_serve_runs_every_worker_on_uvloop_when_asked(
    processes: Processes, tmp_path: Path, workers: int
) -> None:
    """`serve --event-loop uvloop`: every worker, spawned ones included, runs on uvloop and
    serves the SDK as on asyncio's loop (issue 6's lever)."""
    sandbox_port, port, admin_port = free_port(), free_port(), free_port()
    processes.spawn("sandbox", "--listen", f"127.0.0.1:{sandbox_port}", cwd=tmp_path)
    wait_for_port(sandbox_port)
    config = tmp_path / "gateway.yaml"
    config.write_text(yaml.safe_dump({"identity": {"keys": identity_keys()}}))
    log = tmp_path / "serve.log"
    gateway = processes.spawn(
        "serve", "--config", str(config), "--event-loop", "uvloop", "--workers", str(workers),
        "--upstream", f"http://127.0.0.1:{sandbox_port}", "--listen", f"127.0.0.1:{port}",
        "--admin-listen", f"127.0.0.1:{admin_port}", cwd=tmp_path, stderr=log,
    )
    wait_for_port(port, timeout=30)

    def listening() -> list[str]:
        return [line for line in log.read_text().splitlines() if "listening on" in line]

    deadline = time.monotonic() + 30
    while len(listening()) < workers:
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)
    alice = openai.OpenAI(api_key="sk-alice", base_url=f"http://127.0.0.1:{port}/v1", max_retries=0)
    created = alice.files.create(file=("a.jsonl", io.BytesIO(b"{}\n")), purpose="batch")
    assert alice.files.content(created.id).content == b"{}\n"
    assert [item.id for item in alice.files.list()] == [created.id]
    alice.close()
    gateway.send_signal(signal.SIGTERM)
    assert gateway.wait(timeout=30) == 0
    lines = listening()
    assert len(lines) == workers, lines
    assert all(line.endswith("event loop uvloop") for line in lines), lines
