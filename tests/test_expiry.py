"""Ephemeral files: 410 once expired, and a reaper that deletes each one exactly once."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import json
import time
from collections import Counter
from pathlib import Path

import openai
import yaml

from gateway.store.redis import RedisStore, connect
from tests.cli_processes import Processes, start_serve
from tests.conftest import Sandbox, identity_keys
from tests.http import call
from tests.servers import RedisServer


def expire_now(redis_url: str, file_ids: list[str]) -> None:
    async def rewrite() -> None:
        store = RedisStore(connect(redis_url, 2.0))
        for file_id in file_ids:
            record = await store.get(file_id)
            assert record is not None
            await store.put(dataclasses.replace(record, expires_at=int(time.time()) - 1))
        await store.close()

    asyncio.run(rewrite())



def test_two_replicas_reap_each_file_exactly_once(
    sandbox: Sandbox, own_redis: RedisServer, processes: Processes, tmp_path: Path
) -> None:
    """Two gateways on one Redis: every expired file is deleted upstream once, then 404s."""
    config = tmp_path / "gateway.yaml"
    config.write_text(yaml.safe_dump({
        "identity": {"keys": identity_keys()}, "reaper_interval_seconds": 0.2,
        "upstream": {"api_key": "sk-gateway-own", "project": "proj_gateway"},
    }))
    urls = [start_serve(processes, tmp_path, config, sandbox.url, own_redis.url).url
            for _ in range(2)]
    alice = openai.OpenAI(api_key="sk-alice", base_url=urls[0] + "/v1", max_retries=0)
    ids = [
        alice.files.create(file=("e.jsonl", io.BytesIO(b"{}\n")), purpose="batch",
                           extra_headers={"X-File-Access": "ephemeral"}).id
        for _ in range(12)
    ]
    sent = [r["form"] for r in sandbox.requests() if r["method"] == "POST"]
    assert all(form.get("expires_after[seconds]") == "86400" for form in sent)
    keeper = alice.files.create(file=("k.jsonl", io.BytesIO(b"{}\n")), purpose="batch").id
    sandbox.faults({"status": {"DELETE /v1/files": 500}})
    expire_now(own_redis.url, ids)
    time.sleep(1.0)  # several rounds that fail upstream: the files must not be dropped
    failed = Counter(r["path"] for r in sandbox.requests() if r["method"] == "DELETE")
    assert failed, "the reaper should have tried"
    # Cleared before the faults are lifted: a round in between must not delete unseen.
    sandbox.clear()
    sandbox.faults({})

    def deletions() -> Counter[str]:
        return Counter(r["path"] for r in sandbox.requests()
                       if r["method"] == "DELETE" and r["status"] == 200)

    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and len(deletions()) < len(ids):
        time.sleep(0.2)
    time.sleep(1.0)  # more rounds: nothing may be deleted twice
    assert deletions() == Counter({f"/v1/files/{file_id}": 1 for file_id in ids})
    assert {(r["headers"]["authorization"], r["headers"].get("openai-project"))
            for r in sandbox.requests() if r["method"] == "DELETE"} == {
        ("Bearer sk-gateway-own", "proj_gateway")}
    for url in urls:
        gone = call(url, "GET", f"/v1/files/{ids[0]}", {"Authorization": "Bearer sk-alice"})
        assert (gone.status, gone.code) == (404, "file_not_found")
    assert alice.files.retrieve(keeper).id == keeper
    alice.close()


def test_expired_file_is_410_for_every_action(
    sandbox: Sandbox, own_redis: RedisServer, processes: Processes, tmp_path: Path
) -> None:
    """Past its expiry (and before the reaper), every action on the file is 410 file_expired."""
    config = tmp_path / "gateway.yaml"
    config.write_text(yaml.safe_dump({"identity": {"keys": identity_keys()},
                                      "reaper_interval_seconds": 3600}))
    url = start_serve(processes, tmp_path, config, sandbox.url, own_redis.url).url
    alice = openai.OpenAI(api_key="sk-alice", base_url=url + "/v1", max_retries=0)
    file_id = alice.files.create(file=("e.jsonl", io.BytesIO(b"{}\n")), purpose="batch",
                                 extra_headers={"X-File-Access": "ephemeral"}).id
    expire_now(own_redis.url, [file_id])
    sandbox.clear()
    headers = {"Authorization": "Bearer sk-alice", "Content-Type": "application/json"}
    for method, path, body in [
        ("GET", f"/v1/files/{file_id}/content", None),
        ("GET", f"/v1/files/{file_id}", None),
        ("DELETE", f"/v1/files/{file_id}", None),
        ("POST", "/v1/batches", json.dumps({"input_file_id": file_id, "endpoint": "/v1/x",
                                            "completion_window": "24h"}).encode()),
    ]:
        reply = call(url, method, path, headers, body)
        assert (reply.status, reply.code) == (410, "file_expired"), (method, path)
    assert sandbox.requests() == []
    alice.close()
