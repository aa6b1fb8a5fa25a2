"""The shipped dashboard against a real Prometheus scraping a running gateway (issue #5).

The official SDK drives allowed and blocked traffic through the gateway against the sandbox,
while Prometheus scrapes the admin listener every second. Every panel query of the dashboard is
then evaluated through Prometheus' HTTP API, with Grafana's variables substituted.
"""

from __future__ import annotations

import io
import math
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from tests.conftest import Gateway, Sandbox, make_settings, start_gateway
from tests.promql import PrometheusProcess, dashboard_queries, substitute_grafana_vars

ROOT = Path(__file__).resolve().parent.parent
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "files-gateway.json"
RATE_INTERVAL = 4  # Grafana's $__rate_interval for a 1 s scrape: four scrape intervals


@pytest.fixture
def scraped(sandbox: Sandbox, tmp_path: Path) -> Iterator[tuple[Gateway, PrometheusProcess]]:
    settings = make_settings(sandbox.url, f"sqlite:///{tmp_path / 'records.db'}")
    gateway = Gateway(start_gateway(sandbox, settings), sandbox, settings)
    target = gateway.admin_url.removeprefix("http://")
    try:
        with PrometheusProcess(target, scrape_interval="1s") as prometheus:
            prometheus.wait_for_scrape()
            yield gateway, prometheus
    finally:
        gateway.close()


def drive_traffic(gateway: Gateway) -> tuple[Counter[str], Counter[str], int]:
    """Allowed and blocked SDK traffic; returns blocked downloads by reason and by purpose."""
    alice, bob, carol = (gateway.client(who) for who in ("alice", "bob", "carol"))

    def upload(purpose: str, flags: str = "") -> str:
        return alice.files.create(
            file=("data.jsonl", io.BytesIO(b'{"a": 1}\n')), purpose=purpose,  # type: ignore[arg-type]
            extra_headers={"X-File-Access": flags} if flags else None,
        ).id

    shared, private = upload("batch"), upload("batch", "private_only")
    sealed, user_data = upload("batch", "no_download"), upload("user_data")
    # (client, file id, expected error or None, reason, purpose label), spread over seconds.
    plan = [
        (alice, shared, None, "", ""), (bob, shared, None, "", ""), (alice, private, None, "", ""),
        (bob, private, openai.PermissionDeniedError, "private_only_forbidden", "batch"),
        (alice, sealed, openai.PermissionDeniedError, "download_disabled", "batch"),
        (bob, sealed, openai.PermissionDeniedError, "download_disabled", "batch"),
        (alice, user_data, openai.PermissionDeniedError, "purpose_download_forbidden", "user_data"),
        (carol, shared, openai.NotFoundError, "file_not_found", "batch"),
        (alice, "file-neverseen1", openai.PermissionDeniedError, "file_untracked", "unknown"),
        (bob, "file-neverseen2", openai.PermissionDeniedError, "file_untracked", "unknown"),
    ]
    by_reason: Counter[str] = Counter()
    by_purpose: Counter[str] = Counter()
    allowed = 0
    for round_ in range(3):
        for client, file_id, error, reason, purpose in plan:
            if error is None:
                assert client.files.content(file_id).content == b'{"a": 1}\n'
                allowed += 1
                continue
            with pytest.raises(error) as refused:
                client.files.content(file_id)
            assert refused.value.code == reason
            by_reason[reason] += 1
            by_purpose[purpose] += 1
        if round_ < 2:
            time.sleep(1.5)
    return by_reason, by_purpose, allowed


def values(samples: list[dict[str, object]], label: str) -> dict[str, float]:
    """{label value: sample value} for the non-zero samples of an instant query."""
    found: dict[str, float] = {}
    for sample in samples:
        metric, value = sample["metric"], sample["value"]
        assert isinstance(metric, dict) and isinstance(value, list)
        if float(value[1]):
            found[str(metric.get(label, ""))] = float(value[1])
    return found


def test_every_dashboard_query_evaluates_and_counts_the_blocked_downloads(
    scraped: tuple[Gateway, PrometheusProcess],
) -> None:
    """Each panel query parses and evaluates; the blocked-download panels show what was caused."""
    gateway, prometheus = scraped
    started = time.time()
    by_reason, by_purpose, allowed = drive_traffic(gateway)
    prometheus.wait_for_samples(3)
    now = time.time()
    range_seconds = math.ceil(now - started) + 5
    panels: dict[str, list[str]] = {}
    queries = dashboard_queries(DASHBOARD)
    for title, expr in queries:
        query = substitute_grafana_vars(expr, range_seconds, RATE_INTERVAL)
        panels.setdefault(title, []).append(query)
        prometheus.query(query, at=now)  # raises PrometheusError unless it parses and evaluates
        prometheus.query_range(query, started - 5, now, 1)
    assert len(queries) >= 27 and len(panels) >= 19

    blocked = sum(by_reason.values())
    assert blocked == 21 and allowed == 9
    (total,) = panels["Blocked downloads (range)"]
    assert prometheus.scalar(total, at=now) == blocked
    (reasons,) = panels["Blocked downloads by reason (range)"]
    assert values(prometheus.query(reasons, at=now), "reason") == dict(by_reason)
    (purposes,) = panels["Blocked downloads by purpose (range)"]
    assert values(prometheus.query(purposes, at=now), "purpose") == dict(by_purpose)
    (top,) = panels["Top deny reasons (range)"]
    assert {
        reason: value for reason, value in values(prometheus.query(top, at=now), "reason").items()
    } == dict(by_reason)

    # The rate panels saw the same reasons while the traffic ran.
    (rate_by_reason,) = panels["Blocked downloads by reason"]
    seen = {
        series["metric"].get("reason", "")
        for series in prometheus.query_range(rate_by_reason, started, now, 1)
        if any(float(point[1]) > 0 for point in series["values"])
    }
    assert seen == set(by_reason)
    (ratio,) = panels["Allow/deny ratio per action"]
    download_ratio = [
        float(point[1])
        for series in prometheus.query_range(ratio, started, now, 1)
        if series["metric"].get("action") == "download"
        for point in series["values"]
        if point[1] != "NaN"
    ]
    assert download_ratio and 0 < max(download_ratio) <= 1
    (policy,) = panels["Policy version"]
    assert values(prometheus.query(policy, at=now), "version") == {
        gateway.settings.policy.version: 1.0
    }
