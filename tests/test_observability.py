"""Metrics and request logs (DESIGN §9, issue #5): bounded series, canonical lines, workers."""

from __future__ import annotations

import asyncio
import io
import os
import re
import shutil
import signal
import sys
import time
import urllib.request
from pathlib import Path

import aiohttp
import pytest
import yaml
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from gateway.identity import fingerprint
from gateway.logs import REQUEST_LOGGER
from tests.cli_processes import Processes
from tests.conftest import Gateway, Sandbox, identity_keys, make_settings, start_gateway
from tests.http import call
from tests.servers import free_port, wait_for_port

ROOT = Path(__file__).resolve().parent.parent
DESIGN_METRICS = {
    "files_gateway_decisions_total": {"action", "decision", "reason", "purpose"},
    "files_gateway_http_requests_total": {"route", "method", "code"},
    "files_gateway_http_request_duration_seconds": {"route", "method"},
    "files_gateway_upstream_request_duration_seconds": {"route", "code"},
    "files_gateway_upstream_errors_total": {"reason"},
    "files_gateway_store_operation_duration_seconds": {"operation"},
    "files_gateway_store_errors_total": {"operation"},
    "files_gateway_bytes_total": {"direction"},
    "files_gateway_inflight_requests": set(),
    "files_gateway_audit_events_total": {"sink", "result"},
    "files_gateway_policy_info": {"version"},
}
ALICE = {"Authorization": "Bearer sk-alice"}


def series(exposition: str) -> set[tuple[str, tuple[tuple[str, str], ...]]]:
    """Every exposed series: sample name and its sorted labels."""
    return {
        (sample.name, tuple(sorted(sample.labels.items())))
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
        if family.name.startswith("files_gateway_")
    }


def test_every_design_metric_is_exposed_with_its_labels(gateway: Gateway) -> None:
    """/metrics on the admin listener exposes each §9 metric with exactly its labels, up front."""
    families = {
        family.name: family for family in text_string_to_metric_families(gateway.metrics())
    }
    for name, labels in DESIGN_METRICS.items():
        base = name.removesuffix("_total")
        assert base in families, name
        sample_labels = {
            key for sample in families[base].samples for key in sample.labels if key != "le"
        }
        assert sample_labels == labels, name
    version = gateway.settings.policy.version
    assert gateway.metric("files_gateway_policy_info", version=version) == 1
    # Pre-created: a deny that never happened reads 0, not "no data".
    assert 'reason="download_disabled"' in gateway.metrics()
    assert 'files_gateway_audit_events_total{result="error",sink="stdout"} 0.0' in gateway.metrics()


async def drive(base: str, requests: list[tuple[str, str, dict[str, str]]]) -> list[int]:
    """Send many requests, 50 at a time; returns the statuses."""
    statuses: list[int] = []
    async with aiohttp.ClientSession() as session:

        async def one(method: str, path: str, headers: dict[str, str]) -> int:
            async with session.request(method, base + path, headers=headers) as reply:
                await reply.read()
                return reply.status

        for start in range(0, len(requests), 50):
            statuses += await asyncio.gather(*(one(*r) for r in requests[start:start + 50]))
    return statuses


def distinct_traffic(start: int, count: int) -> list[tuple[str, str, dict[str, str]]]:
    """Per index: a new file id, a new unknown key, a new pass-through path, a new method."""
    traffic: list[tuple[str, str, dict[str, str]]] = []
    for index in range(start, start + count):
        stranger = {"Authorization": f"Bearer sk-stranger-{index}"}
        traffic += [
            ("GET", f"/v1/files/file-{index:06d}/content", ALICE),
            ("GET", f"/v1/files/file-x{index:06d}", stranger),
            ("GET", f"/v1/models/model-{index}", stranger),
            (f"X{index:04d}", f"/v1/files/file-{index}", ALICE),
        ]
    return traffic


async def test_series_do_not_grow_with_distinct_files_keys_or_paths(
    sqlite_gateway: Gateway,
) -> None:
    """1,000 distinct file ids, keys, paths and methods add no series beyond the first ones."""
    gateway = sqlite_gateway
    assert set(await drive(gateway.url, distinct_traffic(0, 5))) <= {403, 404, 405, 400}
    before = series(gateway.metrics())
    statuses = await drive(gateway.url, distinct_traffic(5, 1000))
    after = series(gateway.metrics())
    assert statuses.count(403) >= 1000
    assert after == before, sorted(after - before)[:10]
    text = gateway.metrics()
    assert "file-000" not in text and "sk-stranger" not in text and "model-" not in text
    untracked = gateway.metric(
        "files_gateway_decisions_total", action="download", decision="deny",
        reason="file_untracked", purpose="unknown",
    )
    assert untracked == 1005


@pytest.mark.parametrize("level", ["debug", "info", "warning"])
def test_one_canonical_request_line_at_the_configured_level(
    sandbox: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str], level: str
) -> None:
    """Each request logs one line on stderr, in the process log's format: route template,
    status, duration, bytes, request id, key."""
    settings = make_settings(
        sandbox.url, f"sqlite:///{tmp_path / 'r.db'}", request_log_level=level, log_level="debug"
    )
    capsys.readouterr()
    gateway = Gateway(start_gateway(sandbox, settings), sandbox, settings)
    try:
        reply = call(gateway.url, "GET", "/v1/files/file-abc123/content",
                     {**ALICE, "x-request-id": "req-canonical-1"})
    finally:
        gateway.close()
    assert reply.status == 403
    lines = [line for line in capsys.readouterr().err.splitlines() if REQUEST_LOGGER in line]
    assert len(lines) == 1, lines
    stamp, _, message = lines[0].partition(f" {level.upper()} {REQUEST_LOGGER} ")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}", stamp), lines[0]
    assert message.startswith("method=GET route=/v1/files/{file_id}/content status=403 duration_ms=")
    assert f"bytes={len(reply.body)} request_id=req-canonical-1 key={fingerprint('sk-alice')[:16]}" \
        in message
    assert "file-abc123" not in message and "sk-alice" not in message


def test_request_line_below_the_process_log_level_is_not_written(
    sandbox: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """request_log_level debug under log_level info writes no request line."""
    settings = make_settings(sandbox.url, f"sqlite:///{tmp_path / 'r.db'}", request_log_level="debug")
    capsys.readouterr()
    gateway = Gateway(start_gateway(sandbox, settings), sandbox, settings)
    try:
        reply = call(gateway.url, "GET", "/v1/files/file-abc123/content", ALICE)
    finally:
        gateway.close()
    assert reply.status == 403
    assert REQUEST_LOGGER not in capsys.readouterr().err



def scrape(admin: str) -> str:
    # A new connection per scrape: SO_REUSEPORT hands each to any one worker.
    request = urllib.request.Request(admin + "/metrics", headers={"Connection": "close"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return str(response.read().decode())


def untracked_downloads(exposition: str) -> float:
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            if sample.name == "files_gateway_decisions_total" and sample.labels == {
                "action": "download", "decision": "deny", "reason": "file_untracked",
                "purpose": "unknown",
            }:
                return float(sample.value)
    return 0.0


def worker_counts(tmp_path: Path, name: str) -> list[float]:
    """Each worker's own count, read from its metric file alone."""
    metrics_dirs = list(tmp_path.glob("files-gateway-metrics-*"))
    assert len(metrics_dirs) == 1
    counts = []
    for counter_file in sorted(metrics_dirs[0].glob("counter_*.db")):
        alone = tmp_path / f"{name}-{counter_file.stem}"
        alone.mkdir()
        shutil.copy(counter_file, alone)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(alone))  # type: ignore[no-untyped-call]
        counts.append(untracked_downloads(generate_latest(registry).decode()))
    return counts


def test_workers_share_one_correct_metrics_endpoint(
    processes: Processes, tmp_path: Path
) -> None:
    """`serve --workers 2`: traffic spreads over both, and every scrape shows the sum of both."""
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    sandbox_port, port, admin_port = free_port(), free_port(), free_port()
    processes.spawn("sandbox", "--listen", f"127.0.0.1:{sandbox_port}", cwd=tmp_path, env=env)
    config = tmp_path / "gateway.yaml"
    config.write_text(yaml.safe_dump({"identity": {"keys": identity_keys()}}))
    processes.spawn(
        "serve", "--config", str(config), "--workers", "2",
        "--upstream", f"http://127.0.0.1:{sandbox_port}", "--listen", f"127.0.0.1:{port}",
        "--admin-listen", f"127.0.0.1:{admin_port}", cwd=tmp_path, env=env,
    )
    wait_for_port(port, timeout=30)
    wait_for_port(admin_port, timeout=30)
    # Each worker writes its metric files as it starts, then binds the shared ports itself, which
    # a loaded machine may delay: send until both have served some, then check the sums.
    base, admin = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{admin_port}"
    deadline = time.monotonic() + 30
    sent, per_worker = 0, [0.0]
    while len(per_worker) < 2 or not all(per_worker):
        assert time.monotonic() < deadline, f"traffic never reached both workers: {per_worker}"
        for _ in range(30):
            assert call(base, "GET", f"/v1/files/file-w{sent}/content", ALICE).status == 403
            sent += 1
        per_worker = worker_counts(tmp_path, f"round-{sent}")
    assert [untracked_downloads(scrape(admin)) for _ in range(10)] == [float(sent)] * 10
    assert sum(worker_counts(tmp_path, "final")) == sent

    gateway = processes.started[-1]
    gateway.send_signal(signal.SIGTERM)
    assert gateway.wait(timeout=30) == 0
    assert list(tmp_path.glob("files-gateway-metrics-*")) == []


class BrokenStream(io.StringIO):
    def write(self, text: str) -> int:
        raise BrokenPipeError("the log collector went away")


def test_a_broken_stderr_loses_the_request_line_not_the_request(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With stderr broken, requests are still answered as before; only their lines are lost."""
    monkeypatch.setattr(sys, "stderr", BrokenStream())
    settings = make_settings(sandbox.url, f"sqlite:///{tmp_path / 'r.db'}")
    gateway = Gateway(start_gateway(sandbox, settings), sandbox, settings)
    try:
        refused = call(gateway.url, "GET", "/v1/files/file-abc123/content", ALICE)
        listed = call(gateway.url, "GET", "/v1/files", ALICE)
    finally:
        gateway.close()
    assert (refused.status, refused.code) == (403, "file_untracked")
    assert listed.status == 200 and listed.json()["object"] == "list"
