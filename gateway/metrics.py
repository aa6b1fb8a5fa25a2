"""Every metric of DESIGN §9, created once against an injected registry; bounded labels only."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from gateway.policy import Action, Policy

DENY_REASONS = (
    "invalid_file_id", "invalid_access_flag", "purpose_not_allowed", "purpose_api_mismatch",
    "private_only_forbidden", "purpose_download_forbidden", "download_disabled", "file_untracked",
    "file_not_found", "file_expired", "file_too_large", "missing_api_key", "invalid_api_key",
    "untrusted_identity_header",
)
ERROR_REASONS = (
    "policy_store_unavailable", "upstream_unavailable", "upstream_timeout", "client_disconnected",
    "internal_error",
)
ALLOW_REASONS = ("owner", "org", "legacy", "public")
UNKNOWN_PURPOSE = "unknown"


class Metrics:
    def __init__(self, registry: CollectorRegistry, policy: Policy) -> None:
        self.registry = registry
        self._purposes = frozenset(policy.purposes)
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
        for operation in ("get", "get_many", "put", "ping"):
            self.store_errors.labels(operation)
        self.audit_events.labels("stdout", "ok")
        self.audit_events.labels("stdout", "error")

    def purpose_label(self, purpose: str | None) -> str:
        """Only purposes the policy knows become label values; the rest share one bucket."""
        return purpose if purpose in self._purposes else UNKNOWN_PURPOSE

    def decision(self, action: str, decision: str, reason: str, purpose: str | None) -> None:
        self.decisions.labels(action, decision, reason, self.purpose_label(purpose)).inc()
