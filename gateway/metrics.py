"""Every metric of DESIGN §9, created once against an injected registry; bounded labels only.

With `--workers N` the values live in prometheus-client's multiprocess files (serve.py sets
PROMETHEUS_MULTIPROC_DIR for the workers); `exposition_registry` then aggregates every worker.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.multiprocess import MultiProcessCollector

from gateway.policy import Action, Policy

DENY_REASONS = (
    "invalid_file_id", "invalid_access_flag", "purpose_not_allowed", "purpose_api_mismatch",
    "private_only_forbidden", "purpose_download_forbidden", "download_disabled", "file_untracked",
    "file_not_found", "file_expired", "file_too_large", "missing_api_key", "invalid_api_key",
    "untrusted_identity_header", "invalid_request", "api_sunset", "flags_change_forbidden",
    "stored_source_forbidden",
)
ERROR_REASONS = (
    "policy_store_unavailable", "upstream_unavailable", "upstream_timeout", "client_disconnected",
    "internal_error",
)
ALLOW_REASONS = ("owner", "org", "legacy", "public")
UNKNOWN_PURPOSE = "unknown"
# Any other method (HTTP allows any token) shares one label value, so series stay bounded.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER_METHOD = "other"
AUDIT_RESULTS = ("ok", "error")


def method_label(method: str) -> str:
    return method if method in METHODS else OTHER_METHOD


def exposition_registry(registry: CollectorRegistry, multiproc_dir: Path | None) -> CollectorRegistry:
    """What /metrics serves: this process's registry, or every worker's values aggregated."""
    if multiproc_dir is None:
        return registry
    aggregate = CollectorRegistry()
    MultiProcessCollector(aggregate, path=str(multiproc_dir))  # type: ignore[no-untyped-call]
    return aggregate


class Metrics:
    def __init__(self, registry: CollectorRegistry, policy: Policy) -> None:
        self.registry = registry
        self._purposes = frozenset(policy.purposes)
        # labels() validates and locks on every call; label values are bounded, so the
        # children are kept once made (the per-request cost showed in the issue 6 profile).
        self._bound: dict[tuple[object, ...], Any] = {}
        self.decisions = Counter(
            "files_gateway_decisions_total", "Access decisions",
            ["action", "decision", "reason", "purpose"], registry=registry,
        )
        self.http_requests = Counter(
            "files_gateway_http_requests_total", "HTTP requests served",
            ["route", "method", "code"], registry=registry,
        )
        self.http_duration = Histogram(
            "files_gateway_http_request_duration_seconds", "Time to serve a request",
            ["route", "method"], registry=registry,
        )
        self.upstream_duration = Histogram(
            "files_gateway_upstream_request_duration_seconds", "Time to the upstream's response",
            ["route", "code"], registry=registry,
        )
        self.upstream_errors = Counter(
            "files_gateway_upstream_errors_total", "Upstream failures", ["reason"], registry=registry
        )
        self.store_duration = Histogram(
            "files_gateway_store_operation_duration_seconds", "Store operation time",
            ["operation"], registry=registry,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
        )
        self.store_errors = Counter(
            "files_gateway_store_errors_total", "Store failures", ["operation"], registry=registry
        )
        self.bytes = Counter(
            "files_gateway_bytes_total", "File bytes moved", ["direction"], registry=registry
        )
        self.inflight = Gauge(
            "files_gateway_inflight_requests", "Requests in flight", registry=registry,
            multiprocess_mode="livesum",
        )
        self.audit_events = Counter(
            "files_gateway_audit_events_total", "Audit events written", ["sink", "result"],
            registry=registry,
        )
        self.policy_info = Gauge(
            "files_gateway_policy_info", "The loaded policy", ["version"], registry=registry,
            multiprocess_mode="max",
        )
        self.policy_info.labels(version=policy.version).set(1)
        self._precreate()

    def _precreate(self) -> None:
        for action in Action:
            for reason in ALLOW_REASONS:
                self.decisions.labels(action.value, "allow", reason, UNKNOWN_PURPOSE)
            for reason in DENY_REASONS:
                self.decisions.labels(action.value, "deny", reason, UNKNOWN_PURPOSE)
            for reason in ERROR_REASONS:
                self.decisions.labels(action.value, "error", reason, UNKNOWN_PURPOSE)
        for purpose in self._purposes:
            self.decisions.labels(Action.DOWNLOAD.value, "deny", "purpose_download_forbidden", purpose)
        for direction in ("upload", "download"):
            self.bytes.labels(direction)
        for reason in ("timeout", "connect", "protocol", "status_5xx"):
            self.upstream_errors.labels(reason)
        for operation in ("get", "get_many", "put", "ping", "due", "lease", "learned", "learn"):
            self.store_errors.labels(operation)
            self.store_duration.labels(operation)
        self.audit_sink("stdout")

    def precreate_routes(self, router: web.UrlDispatcher) -> None:
        """Each route template and method starts at zero: its 200s, latency and upstream time."""
        for route in router.routes():
            if route.method not in METHODS or route.resource is None:
                continue  # "*" routes and HEAD twins appear under their real method on use
            template = route.resource.canonical
            self.http_requests.labels(template, route.method, "200")
            self.http_duration.labels(template, route.method)
            self.upstream_duration.labels(template, "200")

    def audit_sink(self, name: str) -> None:
        """Pre-create both results of a sink, so a failure shows as a rate from zero."""
        for result in AUDIT_RESULTS:
            self.audit_events.labels(name, result)

    def purpose_label(self, purpose: str | None) -> str:
        """Only purposes the policy knows become label values; the rest share one bucket."""
        return purpose if purpose in self._purposes else UNKNOWN_PURPOSE

    def _child(self, metric: Counter | Histogram, *labels: str) -> Any:
        key = (id(metric), *labels)
        child = self._bound.get(key)
        if child is None:
            child = self._bound[key] = metric.labels(*labels)
        return child

    def decision(self, action: str, decision: str, reason: str, purpose: str | None) -> None:
        self._child(self.decisions, action, decision, reason, self.purpose_label(purpose)).inc()

    def store(self, operation: str, elapsed: float, failed: bool) -> None:
        if failed:
            self._child(self.store_errors, operation).inc()
        self._child(self.store_duration, operation).observe(elapsed)

    def upstream_error(self, reason: str) -> None:
        self._child(self.upstream_errors, reason).inc()

    def audit_result(self, sink: str, result: str, count: int = 1) -> None:
        self._child(self.audit_events, sink, result).inc(count)

    def bytes_counter(self, direction: str) -> Any:
        """The bound counter of one direction, for a relay that counts chunk by chunk."""
        return self._child(self.bytes, direction)

    def http(self, route: str, method: str, status: int, elapsed: float) -> None:
        self._child(self.http_requests, route, method, str(status)).inc()
        self._child(self.http_duration, route, method).observe(elapsed)

    def upstream(self, route: str, status: int, elapsed: float) -> None:
        self._child(self.upstream_duration, route, str(status)).observe(elapsed)
