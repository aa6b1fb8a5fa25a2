"""Every setting with its default, and the FILES_GATEWAY_* variable that sets it."""

from __future__ import annotations

from typing import Any

DEFAULTS: dict[str, Any] = {
    "listen": "127.0.0.1:8080",
    "admin_listen": "127.0.0.1:9090",
    "store": "sqlite:///./files-gateway.db",
    "workers": 1,
    "event_loop": "asyncio",
    "policy": None,
    "limits.max_upload_bytes": 512 * 1024 * 1024,
    "shutdown_timeout_seconds": 25.0,
    "spool_dir": None,
    "log_level": "info",
    "untracked": None,
    "identity.mode": "api_key",
    "identity.keys": [],
    "identity.unknown_keys": "fingerprint",
    "identity.default_org": "default",
    "identity.header.user": "X-Forwarded-User",
    "identity.header.org": "X-Forwarded-Org",
    "identity.header.trusted_proxies": ["127.0.0.1/32", "::1/128"],
    "identity.static.principal": None,
    "identity.static.org": None,
    "upstream.url": "https://api.openai.com",
    "upstream.api_key": None,
    "upstream.timeout_seconds": 600.0,
    "upstream.connect_timeout_seconds": 10.0,
    "store_timeout_seconds": 1.0,
    "reaper_interval_seconds": 30.0,
    "cache_entries": 100_000,
    "request_log_level": "info",
    "audit.jsonl_path": None,
    "audit.redis_stream": None,
    "audit.redis_url": None,
    "audit.redis_maxlen": 1_000_000,
}

# One variable per setting; README's table is checked against this mapping by the tests.
ENV_VARS: dict[str, str] = {
    "FILES_GATEWAY_LISTEN": "listen",
    "FILES_GATEWAY_ADMIN_LISTEN": "admin_listen",
    "FILES_GATEWAY_STORE": "store",
    "FILES_GATEWAY_STORE_TIMEOUT": "store_timeout_seconds",
    "FILES_GATEWAY_REAPER_INTERVAL": "reaper_interval_seconds",
    "FILES_GATEWAY_CACHE_ENTRIES": "cache_entries",
    "FILES_GATEWAY_WORKERS": "workers",
    "FILES_GATEWAY_EVENT_LOOP": "event_loop",
    "FILES_GATEWAY_POLICY": "policy",
    "FILES_GATEWAY_MAX_UPLOAD_BYTES": "limits.max_upload_bytes",
    "FILES_GATEWAY_SHUTDOWN_TIMEOUT": "shutdown_timeout_seconds",
    "FILES_GATEWAY_SPOOL_DIR": "spool_dir",
    "FILES_GATEWAY_LOG_LEVEL": "log_level",
    "FILES_GATEWAY_UNTRACKED": "untracked",
    "FILES_GATEWAY_IDENTITY_MODE": "identity.mode",
    "FILES_GATEWAY_UNKNOWN_KEYS": "identity.unknown_keys",
    "FILES_GATEWAY_DEFAULT_ORG": "identity.default_org",
    "FILES_GATEWAY_IDENTITY_USER_HEADER": "identity.header.user",
    "FILES_GATEWAY_IDENTITY_ORG_HEADER": "identity.header.org",
    "FILES_GATEWAY_TRUSTED_PROXIES": "identity.header.trusted_proxies",
    "FILES_GATEWAY_STATIC_PRINCIPAL": "identity.static.principal",
    "FILES_GATEWAY_STATIC_ORG": "identity.static.org",
    "FILES_GATEWAY_UPSTREAM": "upstream.url",
    "FILES_GATEWAY_UPSTREAM_API_KEY": "upstream.api_key",
    "FILES_GATEWAY_UPSTREAM_TIMEOUT": "upstream.timeout_seconds",
    "FILES_GATEWAY_UPSTREAM_CONNECT_TIMEOUT": "upstream.connect_timeout_seconds",
    "FILES_GATEWAY_REQUEST_LOG_LEVEL": "request_log_level",
    "FILES_GATEWAY_AUDIT_JSONL": "audit.jsonl_path",
    "FILES_GATEWAY_AUDIT_REDIS_STREAM": "audit.redis_stream",
    "FILES_GATEWAY_AUDIT_REDIS_URL": "audit.redis_url",
    "FILES_GATEWAY_AUDIT_REDIS_MAXLEN": "audit.redis_maxlen",
}
CONFIG_ENV = "FILES_GATEWAY_CONFIG"
# Settings whose environment value is a comma-separated list.
LIST_KEYS = frozenset({"identity.header.trusted_proxies"})
