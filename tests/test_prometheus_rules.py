"""The shipped Prometheus config, alert rules and Grafana dashboard (issue #5, DESIGN §9)."""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from tests.promql import (
    PrometheusProcess,
    dashboard_queries,
    iter_panels,
    substitute_grafana_vars,
)

ROOT = Path(__file__).resolve().parent.parent
PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"
GRAFANA_DIR = ROOT / "deploy" / "grafana"
DASHBOARD = GRAFANA_DIR / "dashboards" / "files-gateway.json"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}

REQUIRED_PANELS = {
    "Blocked downloads (range)",
    "Blocked downloads by reason",
    "Blocked downloads by purpose",
    "Top deny reasons (range)",
    "Allow/deny ratio per action",
    'Decision errors (decision="error")',
    "Upstream latency (p50 / p95 / p99)",
    "Upstream errors",
    "Store latency (p50 / p95 / p99)",
    "Store errors",
    "Bytes moved",
    "Requests in flight",
}

ALERTS = {
    "FilesGatewayBlockedDownloadsSpike",
    "FilesGatewayDecisionErrors",
    "FilesGatewayStoreUnavailable",
    "FilesGatewayUpstreamErrorRate",
    "FilesGatewayAuditSinkErrors",
}


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    # Relative paths in the files (rule_files, the tests' rule_files) resolve from here.
    return subprocess.run(
        args, cwd=PROMETHEUS_DIR, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.parametrize(
    "command",
    [
        pytest.param(("promtool", "check", "rules", "alerts.yml"), id="the alert rules are valid"),
        pytest.param(
            ("promtool", "test", "rules", "alerts_test.yml"),
            id="every alert fires on its trigger and a healthy gateway fires none",
        ),
        pytest.param(
            ("promtool", "check", "config", "prometheus.yml"),
            id="the scrape config and its rule file are valid",
        ),
    ],
)
def test_promtool_accepts(command: tuple[str, ...]) -> None:
    """promtool checks the rules and config and passes the rule unit tests."""
    result = _run(*command)
    assert result.returncode == 0, result.stdout + result.stderr


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def test_rule_tests_cover_every_alert_with_a_healthy_case() -> None:
    """alerts_test.yml fires each of the five alerts, and a healthy case expects none of them."""
    rules = _yaml(PROMETHEUS_DIR / "alerts.yml")
    alerts = [rule for group in rules["groups"] for rule in group["rules"]]
    assert {rule["alert"] for rule in alerts} == ALERTS
    for rule in alerts:
        assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
        assert {"summary", "description"} <= set(rule["annotations"]), rule["alert"]
    cases = _yaml(PROMETHEUS_DIR / "alerts_test.yml")["tests"]
    fired = {
        check["alertname"]
        for case in cases
        for check in case["alert_rule_test"]
        if check["exp_alerts"]
    }
    assert fired == ALERTS
    [healthy] = [case for case in cases if case["name"] == "healthy gateway fires nothing"]
    silent = {c["alertname"] for c in healthy["alert_rule_test"] if c["exp_alerts"] == []}
    assert silent == ALERTS


def test_scrape_config_scrapes_the_gateway_admin_listener() -> None:
    """prometheus.yml scrapes job files-gateway on the admin listener and loads alerts.yml."""
    config = _yaml(PROMETHEUS_DIR / "prometheus.yml")
    assert config["rule_files"] == ["alerts.yml"]
    [job] = config["scrape_configs"]
    assert job["job_name"] == "files-gateway"
    assert job["metrics_path"] == "/metrics"
    assert job["static_configs"][0]["targets"] == ["127.0.0.1:9090"]


def test_grafana_provisioning_points_at_the_dashboard() -> None:
    """Grafana provisioning declares a Prometheus datasource and a file provider for dashboards."""
    datasources = _yaml(GRAFANA_DIR / "provisioning" / "datasources" / "prometheus.yaml")
    assert [d["type"] for d in datasources["datasources"]] == ["prometheus"]
    providers = _yaml(GRAFANA_DIR / "provisioning" / "dashboards" / "files-gateway.yaml")
    [provider] = providers["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"].endswith("/files-gateway")


def _dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return data


def test_dashboard_has_fixed_uid_and_datasource_variable() -> None:
    """The dashboard has uid files-gateway and a Prometheus `datasource` variable."""
    dashboard = _dashboard()
    assert dashboard["uid"] == "files-gateway"
    assert dashboard["id"] is None
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"


def test_every_panel_uses_the_datasource_variable() -> None:
    """Every panel and every target, collapsed rows included, uses ${datasource}."""
    panels = [p for p in iter_panels(_dashboard()["panels"]) if p["type"] != "row"]
    assert panels
    ids = [p["id"] for p in iter_panels(_dashboard()["panels"])]
    assert len(ids) == len(set(ids)), "panel ids repeat"
    for panel in panels:
        assert panel["datasource"] == DATASOURCE, panel["title"]
        assert panel["targets"], panel["title"]
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs)), panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == DATASOURCE, panel["title"]


def test_dashboard_has_the_required_panels() -> None:
    """Every panel issue #5 asks for is present, with a query."""
    titles = {title for title, _ in dashboard_queries(DASHBOARD)}
    assert titles >= REQUIRED_PANELS, REQUIRED_PANELS - titles


def test_dashboard_queries_include_collapsed_rows() -> None:
    """dashboard_queries also reads the panels nested inside a collapsed row."""
    nested = [
        p["title"]
        for row in _dashboard()["panels"]
        if row["type"] == "row" and row["collapsed"]
        for p in row["panels"]
    ]
    assert nested
    titles = {title for title, _ in dashboard_queries(DASHBOARD)}
    assert set(nested) <= titles


def test_rate_windows_use_grafana_intervals() -> None:
    """No query hard-codes a range window: each uses $__rate_interval or $__range."""
    for title, expr in dashboard_queries(DASHBOARD):
        assert not re.search(r"\[\d+[smhdwy]\]", expr), (title, expr)
        for window in re.findall(r"\[([^\]]+)\]", expr):
            assert window in ("$__rate_interval", "$__range"), (title, expr)


def test_range_count_panels_are_instant_queries() -> None:
    """Panels that count over $__range ask for one instant value, not a series."""
    for panel in iter_panels(_dashboard()["panels"]):
        for target in panel.get("targets", []):
            if "$__range" in target["expr"]:
                assert target["instant"] is True and target["range"] is False, panel["title"]


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        pytest.param(
            "rate(x[$__rate_interval])", "rate(x[4s])", id="the rate interval becomes seconds"
        ),
        pytest.param("increase(x[$__range])", "increase(x[600s])", id="the range too"),
        pytest.param("x offset ${__range}", "x offset 600s", id="braces are accepted"),
        pytest.param("x / $__range_s", "x / 600", id="range in seconds is a number"),
        pytest.param("x / ${__range_ms}", "x / 600000", id="range in milliseconds too"),
        pytest.param("avg_over_time(x[$__interval])", "avg_over_time(x[1s])", id="interval"),
        pytest.param("x * $__interval_ms", "x * 1000", id="interval in milliseconds"),
        pytest.param('x{ds="$datasource"}', 'x{ds="prometheus"}', id="the datasource variable"),
        pytest.param("rate(x[[[__rate_interval]]])", "rate(x[4s])", id="old [[var]] syntax"),
    ],
)
def test_substitute_grafana_vars(expr: str, expected: str) -> None:
    """Grafana's variables become plain PromQL durations and numbers."""
    assert substitute_grafana_vars(expr, range_seconds=600, rate_interval_seconds=4) == expected


def test_substitute_grafana_vars_refuses_unknown_variables() -> None:
    """An unknown template variable is an error naming it, not a silent blank."""
    with pytest.raises(ValueError, match=r"\$instance"):
        substitute_grafana_vars('up{instance=~"$instance"}', 60, 4)
    assert (
        substitute_grafana_vars('up{instance=~"$instance"}', 60, 4, variables={"instance": ".*"})
        == 'up{instance=~".*"}'
    )


class _FakeGateway:
    """The gateway's metrics (DESIGN §9) in their own registry, as the admin listener serves."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.decisions = Counter(
            "files_gateway_decisions_total",
            "Access decisions.",
            ["action", "decision", "reason", "purpose"],
            registry=r,
        )
        self.http_requests = Counter(
            "files_gateway_http_requests_total",
            "Requests.",
            ["route", "method", "code"],
            registry=r,
        )
        self.http_duration = Histogram(
            "files_gateway_http_request_duration_seconds",
            "Request duration.",
            ["route", "method"],
            registry=r,
        )
        self.upstream_duration = Histogram(
            "files_gateway_upstream_request_duration_seconds",
            "Upstream duration.",
            ["route", "code"],
            registry=r,
        )
        self.upstream_errors = Counter(
            "files_gateway_upstream_errors_total", "Upstream errors.", ["reason"], registry=r
        )
        self.store_duration = Histogram(
            "files_gateway_store_operation_duration_seconds",
            "Store duration.",
            ["operation"],
            registry=r,
        )
        self.store_errors = Counter(
            "files_gateway_store_errors_total", "Store errors.", ["operation"], registry=r
        )
        self.bytes = Counter("files_gateway_bytes_total", "Bytes.", ["direction"], registry=r)
        self.inflight = Gauge("files_gateway_inflight_requests", "In flight.", registry=r)
        self.audit = Counter(
            "files_gateway_audit_events_total", "Audit events.", ["sink", "result"], registry=r
        )
        self.policy = Gauge("files_gateway_policy_info", "Policy.", ["version"], registry=r)

    def baseline(self) -> None:
        """Create the label sets up front and put some healthy traffic in every metric."""
        self.policy.labels(version="2024-06-01").set(1)
        self.inflight.set(2)
        self.decisions.labels("download", "allow", "owner", "user_data").inc(5)
        self.decisions.labels("upload", "allow", "owner", "batch").inc(3)
        self.decisions.labels("retrieve", "deny", "file_not_found", "unknown").inc(1)
        self.decisions.labels("download", "deny", "purpose_download_forbidden", "batch")
        self.decisions.labels("download", "error", "policy_store_unavailable", "unknown")
        self.http_requests.labels("/v1/files/{file_id}/content", "GET", "200").inc(5)
        self.http_duration.labels("/v1/files/{file_id}/content", "GET").observe(0.05)
        self.upstream_duration.labels("/v1/files/{file_id}/content", "200").observe(0.04)
        self.upstream_duration.labels("/v1/files/{file_id}/content", "502").observe(0.3)
        for reason in ("timeout", "connect", "protocol", "status_5xx"):
            self.upstream_errors.labels(reason)
        self.store_duration.labels("get").observe(0.001)
        self.store_errors.labels("get")
        self.bytes.labels("upload").inc(1024)
        self.bytes.labels("download").inc(2048)
        self.audit.labels("stdout", "ok").inc(9)
        self.audit.labels("stdout", "error")

    def traffic(self) -> None:
        """More of everything, so every rate() over the last seconds has something to see."""
        self.decisions.labels("download", "allow", "org", "assistants").inc()
        self.decisions.labels("download", "error", "policy_store_unavailable", "unknown").inc()
        self.http_requests.labels("/v1/files", "POST", "200").inc()
        self.http_duration.labels("/v1/files", "POST").observe(0.2)
        self.upstream_duration.labels("/v1/files", "200").observe(0.15)
        self.upstream_duration.labels("/v1/files/{file_id}/content", "502").observe(0.3)
        self.upstream_errors.labels("timeout").inc()
        self.store_duration.labels("put").observe(0.002)
        self.store_errors.labels("get").inc()
        self.bytes.labels("download").inc(4096)
        self.audit.labels("stdout", "ok").inc()


@pytest.fixture
def gateway_metrics() -> Iterator[tuple[_FakeGateway, str]]:
    """A fake gateway's metrics served over HTTP on 127.0.0.1; yields it and host:port."""
    gateway = _FakeGateway()
    gateway.baseline()
    server, thread = start_http_server(0, addr="127.0.0.1", registry=gateway.registry)
    try:
        yield gateway, f"127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_dashboard_queries_evaluate_against_real_prometheus(
    gateway_metrics: tuple[_FakeGateway, str],
) -> None:
    """Every dashboard query evaluates to data; the blocked-download counts are exact."""
    gateway, target = gateway_metrics
    started = time.time()
    with PrometheusProcess(target) as prom:
        prom.wait_for_scrape("files-gateway")
        prom.wait_for_samples(2)
        # 3 then 1 more on a series that exists at 0, and a new series that first
        # appears at 2: the range panels must count all 6.
        gateway.decisions.labels("download", "deny", "purpose_download_forbidden", "batch").inc(3)
        gateway.traffic()
        prom.wait_for_samples(2)
        gateway.decisions.labels("download", "deny", "purpose_download_forbidden", "batch").inc()
        gateway.decisions.labels("download", "deny", "private_only_forbidden", "user_data").inc(2)
        gateway.traffic()
        prom.wait_for_samples(3)
        gateway.traffic()
        prom.wait_for_samples(2)

        now = time.time()
        range_seconds = int(now - started) + 60
        results: dict[str, list[list[dict[str, Any]]]] = {}
        for title, expr in dashboard_queries(DASHBOARD):
            promql = substitute_grafana_vars(expr, range_seconds, rate_interval_seconds=4)
            instant = prom.query(promql, at=now)
            series = prom.query_range(promql, start=now - 20, end=now, step=1)
            assert instant, f"{title}: {promql} returned no data"
            assert series, f"{title}: {promql} returned no series over a range"
            results.setdefault(title, []).append(instant)

        def by(title: str, label: str) -> dict[str, float]:
            [samples] = results[title]
            return {s["metric"].get(label, ""): float(s["value"][1]) for s in samples}

        assert by("Blocked downloads (range)", "") == {"": 6.0}
        assert by("Blocked downloads by reason (range)", "reason") == {
            "purpose_download_forbidden": 4.0,
            "private_only_forbidden": 2.0,
        }
        assert by("Blocked downloads by purpose (range)", "purpose") == {
            "batch": 4.0,
            "user_data": 2.0,
        }
        assert by("Decision errors (range)", "") == {"": 3.0}
        top = {
            (s["metric"]["action"], s["metric"]["reason"]): float(s["value"][1])
            for s in results["Top deny reasons (range)"][0]
        }
        assert top[("download", "purpose_download_forbidden")] == 4.0
        assert top[("retrieve", "file_not_found")] == 1.0
