"""Helpers to check the shipped Grafana dashboard against a real Prometheus.

`dashboard_queries` reads every panel query, `substitute_grafana_vars` turns
Grafana's variables into plain PromQL, and `PrometheusProcess` runs the
`prometheus` binary against a scrape target so those queries can be evaluated
through its HTTP API (issue #5).
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = [
    "PrometheusError",
    "PrometheusProcess",
    "dashboard_queries",
    "iter_panels",
    "substitute_grafana_vars",
]


class PrometheusError(RuntimeError):
    """Prometheus failed to start, or its HTTP API answered with an error."""


def iter_panels(panels: Sequence[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
    """Yield every panel, rows included, and the panels nested in collapsed rows."""
    for panel in panels:
        yield panel
        yield from iter_panels(panel.get("panels", []))


def dashboard_queries(path: str | Path) -> list[tuple[str, str]]:
    """Return (panel title, expr) for every target of every panel of a dashboard."""
    dashboard = json.loads(Path(path).read_text(encoding="utf-8"))
    queries: list[tuple[str, str]] = []
    for panel in iter_panels(dashboard.get("panels", [])):
        for target in panel.get("targets", []):
            expr = target.get("expr")
            if isinstance(expr, str) and expr.strip():
                queries.append((str(panel.get("title", "")), expr))
    return queries


# $name, ${name}, ${name:format} and the deprecated [[name]] (Grafana's template syntax).
_VARIABLE = re.compile(r"\$\{(\w+)(?::[^}]*)?\}|\$(\w+)|\[\[(\w+)(?::[^\]]*)?\]\]")


def substitute_grafana_vars(
    expr: str,
    range_seconds: int,
    rate_interval_seconds: int,
    *,
    interval_seconds: int | None = None,
    variables: Mapping[str, str] | None = None,
) -> str:
    """Replace Grafana's built-in and template variables in a PromQL expression.

    Durations become whole seconds ("300s"), as Grafana's Prometheus datasource
    renders them. `$__interval` defaults to a quarter of the rate interval: with
    a small step, Grafana's `$__rate_interval` is four scrape intervals. The
    `datasource` variable does not appear in PromQL; if it does, it becomes
    "prometheus". Any other variable must be given in `variables`, or this
    raises ValueError naming it.
    """
    if range_seconds <= 0 or rate_interval_seconds <= 0:
        raise ValueError(
            f"range_seconds={range_seconds} and rate_interval_seconds={rate_interval_seconds} "
            "must be positive"
        )
    interval = max(1, rate_interval_seconds // 4) if interval_seconds is None else interval_seconds
    values: dict[str, str] = {
        "__rate_interval": f"{rate_interval_seconds}s",
        "__rate_interval_ms": str(rate_interval_seconds * 1000),
        "__interval": f"{interval}s",
        "__interval_ms": str(interval * 1000),
        "__range": f"{range_seconds}s",
        "__range_s": str(range_seconds),
        "__range_ms": str(range_seconds * 1000),
        "datasource": "prometheus",
    }
    values.update(variables or {})

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2) or match.group(3)
        if name not in values:
            raise ValueError(f"unknown Grafana variable {match.group(0)!r} in {expr!r}")
        return values[name]

    return _VARIABLE.sub(replace, expr)


def _free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _scrape_config(
    target: str, job: str, scrape_interval: str, metrics_path: str, rule_files: Sequence[Path]
) -> str:
    # JSON is valid YAML, so the config needs no YAML library.
    config: dict[str, Any] = {
        "global": {"scrape_interval": scrape_interval, "evaluation_interval": scrape_interval},
        "rule_files": [str(path.resolve()) for path in rule_files],
        "scrape_configs": [
            {
                "job_name": job,
                "metrics_path": metrics_path,
                "scrape_interval": scrape_interval,
                "scrape_timeout": scrape_interval,
                "static_configs": [{"targets": [target]}],
            }
        ],
    }
    return json.dumps(config, indent=2)


class PrometheusProcess:
    """A real `prometheus` scraping one target, on a free 127.0.0.1 port, as a context manager.

    Usage::

        with PrometheusProcess("127.0.0.1:9464") as prom:
            prom.wait_for_scrape("files-gateway")
            prom.query("sum(files_gateway_inflight_requests)")
    """

    def __init__(
        self,
        target: str,
        *,
        job: str = "files-gateway",
        scrape_interval: str = "1s",
        metrics_path: str = "/metrics",
        rule_files: Sequence[str | Path] = (),
        binary: str = "prometheus",
        start_timeout: float = 30.0,
    ) -> None:
        self.target = target
        self.job = job
        self.scrape_interval = scrape_interval
        self.metrics_path = metrics_path
        self.rule_files = [Path(path) for path in rule_files]
        self.binary = binary
        self.start_timeout = start_timeout
        self.port = 0
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._log_path: Path | None = None

    @property
    def url(self) -> str:
        """The base URL of the running Prometheus."""
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> PrometheusProcess:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Write the config, start the binary and wait until /-/ready answers 200."""
        executable = shutil.which(self.binary)
        if executable is None:
            raise PrometheusError(f"the {self.binary!r} binary is not on PATH")
        self._tmp = tempfile.TemporaryDirectory(prefix="files-gateway-prometheus-")
        tmp = Path(self._tmp.name)
        config = tmp / "prometheus.yml"
        config.write_text(
            _scrape_config(
                self.target, self.job, self.scrape_interval, self.metrics_path, self.rule_files
            ),
            encoding="utf-8",
        )
        self.port = _free_port()
        self._log_path = tmp / "prometheus.log"
        with self._log_path.open("wb") as log:
            self._process = subprocess.Popen(
                [
                    executable,
                    f"--config.file={config}",
                    f"--storage.tsdb.path={tmp / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--log.level=warn",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise PrometheusError(
                    f"prometheus exited with {self._process.returncode}:\n{self.log()}"
                )
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        raise PrometheusError(f"prometheus not ready after {self.start_timeout}s:\n{self.log()}")

    def log(self) -> str:
        """Return what the process wrote so far (its last 4000 characters)."""
        if self._log_path is None or not self._log_path.exists():
            return ""
        return self._log_path.read_text(encoding="utf-8", errors="replace")[-4000:]

    def stop(self) -> None:
        """Stop the process (SIGTERM, then SIGKILL) and remove its data directory."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def api(self, endpoint: str, params: Mapping[str, str]) -> Any:
        """GET /api/v1/<endpoint>; return `data`, or raise PrometheusError unless "success"."""
        url = f"{self.url}/api/v1/{endpoint}?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                body = json.loads(response.read())
        except urllib.error.HTTPError as err:
            # Bad queries answer 400/422 with the error in the JSON body.
            with err:
                body = json.loads(err.read() or b"{}")
        if body.get("status") != "success":
            raise PrometheusError(
                f"{endpoint} {dict(params)!r} failed: {body.get('errorType')}: {body.get('error')}"
            )
        return body["data"]

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        """Evaluate an instant query; a scalar or string result becomes one unlabelled sample."""
        params = {"query": expr}
        if at is not None:
            params["time"] = f"{at:.3f}"
        data = self.api("query", params)
        result = data["result"]
        if data["resultType"] in ("scalar", "string"):
            return [{"metric": {}, "value": result}]
        return list(result)

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[dict[str, Any]]:
        """Evaluate a range query, as a Grafana time series panel does."""
        data = self.api(
            "query_range",
            {"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step}"},
        )
        return list(data["result"])

    def scalar(self, expr: str, at: float | None = None) -> float:
        """Evaluate an instant query that yields exactly one sample and return its value."""
        samples = self.query(expr, at)
        if len(samples) != 1:
            raise PrometheusError(f"{expr!r} gave {len(samples)} samples, expected 1: {samples}")
        return float(samples[0]["value"][1])

    def wait_for_scrape(self, job: str | None = None, timeout: float = 30.0) -> None:
        """Wait until the job's target has been scraped successfully (`up == 1`)."""
        job = job or self.job
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.query(f'up{{job="{job}"}} == 1'):
                return
            time.sleep(0.2)
        targets = self.api("targets", {"state": "active"})
        raise PrometheusError(f"job {job!r} not scraped after {timeout}s; targets: {targets}")

    def wait_for_samples(self, count: int, job: str | None = None, timeout: float = 30.0) -> None:
        """Wait until `count` more scrapes of the job have happened from now."""
        job = job or self.job
        expr = f'count_over_time(up{{job="{job}"}}[1h])'
        start = max((float(s["value"][1]) for s in self.query(expr)), default=0.0)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            now = max((float(s["value"][1]) for s in self.query(expr)), default=0.0)
            if now >= start + count:
                return
            time.sleep(0.2)
        raise PrometheusError(f"job {job!r} did not get {count} more scrapes in {timeout}s")
