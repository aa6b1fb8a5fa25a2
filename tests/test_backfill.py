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
    store = f"sqlite:///{tmp_path / 'records.db'}"
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"store": store, "upstream": {
        "url": sandbox.url, "api_key": "sk-admin"}}))
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


def test_backfill_needs_an_upstream_key(tmp_path: Path) -> None:
    """Without upstream.api_key the command explains itself and exits non-zero."""
    config = tmp_path / "c.yaml"
    config.write_text(json.dumps({"store": f"sqlite:///{tmp_path / 'r.db'}",
                                  "identity": {"keys": identity_keys()}}))
    code, output = backfill(config)
    assert code == 2
    assert "upstream.api_key" in output
