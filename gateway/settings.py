"""One frozen, typed Settings, resolved once: defaults < YAML < FILES_GATEWAY_* env < flags.

Every problem is collected and reported at once, each naming its key (STYLE: Starlette config).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from gateway.policy import Policy
from gateway.policy_config import PolicyError, load_policy

IdentityMode = Literal["api_key", "header", "static"]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

DEFAULTS: dict[str, Any] = {
    "listen": "127.0.0.1:8080",
    "admin_listen": "127.0.0.1:9090",
    "store": "sqlite:///./files-gateway.db",
    "workers": 1,
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
_LIST_KEYS = frozenset({"identity.header.trusted_proxies"})
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class ConfigError(ValueError):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class HostPort:
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class KeyEntry:
    sha256: str
    principal: str
    org: str
    admin: bool = False


@dataclass(frozen=True)
class IdentitySettings:
    mode: IdentityMode = "api_key"
    keys: tuple[KeyEntry, ...] = ()
    unknown_keys: Literal["fingerprint", "reject"] = "fingerprint"
    default_org: str = "default"
    user_header: str = "X-Forwarded-User"
    org_header: str = "X-Forwarded-Org"
    trusted_proxies: tuple[Network, ...] = ()
    static_principal: str | None = None
    static_org: str | None = None


@dataclass(frozen=True)
class UpstreamSettings:
    url: str = "https://api.openai.com"
    api_key: str | None = dataclasses.field(default=None, repr=False)
    timeout_seconds: float = 600.0
    connect_timeout_seconds: float = 10.0


@dataclass(frozen=True)
class AuditSettings:
    """Durable audit sinks besides stdout (DESIGN §9); each is off when unset."""

    jsonl_path: Path | None = None
    redis_stream: str | None = None
    redis_url: str | None = dataclasses.field(default=None, repr=False)
    redis_maxlen: int = 1_000_000


@dataclass(frozen=True)
class Settings:
    listen: HostPort
    admin_listen: HostPort
    store_url: str
    store_timeout_seconds: float
    workers: int
    policy: Policy
    policy_path: Path | None
    max_upload_bytes: int
    shutdown_timeout_seconds: float
    spool_dir: Path | None
    log_level: str
    identity: IdentitySettings
    upstream: UpstreamSettings
    reaper_interval_seconds: float = 30.0
    cache_entries: int = 100_000
    audit: AuditSettings = AuditSettings()
    request_log_level: str = "info"


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested YAML mappings become dotted keys, except where a setting is itself a mapping."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and name not in DEFAULTS:
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def load_settings(
    config_file: Path | None = None,
    env: Mapping[str, str] | None = None,
    flags: Mapping[str, Any] | None = None,
) -> Settings:
    """Resolve every layer and validate once; raise ConfigError listing every problem."""
    env = os.environ if env is None else env
    problems: list[str] = []
    values = dict(DEFAULTS)
    config_file = config_file or (Path(env[CONFIG_ENV]) if env.get(CONFIG_ENV) else None)
    if config_file is not None:
        values.update(_read_yaml(config_file, problems))
    for name, key in ENV_VARS.items():
        if name in env:
            raw = env[name]
            values[key] = raw.split(",") if key in _LIST_KEYS else raw
    values.update({key: value for key, value in (flags or {}).items() if value is not None})
    for key in sorted(set(values) - set(DEFAULTS)):
        problems.append(f"{key}: unknown setting")
    settings = _build(values, problems)
    if problems or settings is None:
        raise ConfigError(problems)
    return settings


def _read_yaml(path: Path, problems: list[str]) -> dict[str, Any]:
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        problems.append(f"config: cannot read {path}: {exc}")
        return {}
    if not isinstance(raw, Mapping):
        problems.append(f"config: {path} must hold a mapping")
        return {}
    return flatten(raw)


def _build(values: dict[str, Any], problems: list[str]) -> Settings | None:
    policy_path = Path(values["policy"]) if values["policy"] else None
    policy: Policy | None = None
    try:
        policy = load_policy(policy_path)
    except PolicyError as exc:
        problems.extend(exc.problems)
    untracked = values["untracked"]
    if untracked is not None:
        if untracked not in ("deny", "allow"):
            problems.append(f"untracked: {untracked!r} must be deny or allow")
        elif policy is not None:
            policy = dataclasses.replace(policy, untracked=untracked)
    identity = _identity(values, problems)
    upstream = UpstreamSettings(
        url=_url(values, "upstream.url", ("http", "https"), problems),
        api_key=values["upstream.api_key"] or None,
        timeout_seconds=_number(values, "upstream.timeout_seconds", problems),
        connect_timeout_seconds=_number(values, "upstream.connect_timeout_seconds", problems),
    )
    store = str(values["store"])
    if not store.startswith(("sqlite:///", "redis://", "rediss://", "redis+sentinel://")):
        problems.append(
            f"store: {store!r} must start with sqlite:///, redis://, rediss:// or redis+sentinel://"
        )
    listen = _host_port(values, "listen", problems)
    admin = _host_port(values, "admin_listen", problems)
    workers = int(_number(values, "workers", problems, minimum=1))
    max_upload = int(_number(values, "limits.max_upload_bytes", problems, minimum=1))
    shutdown = _number(values, "shutdown_timeout_seconds", problems)
    store_timeout = _number(values, "store_timeout_seconds", problems)
    log_level = str(values["log_level"]).lower()
    if log_level not in ("debug", "info", "warning", "error"):
        problems.append(f"log_level: {log_level!r} must be debug, info, warning or error")
    spool = Path(values["spool_dir"]) if values["spool_dir"] else None
    request_log_level = str(values["request_log_level"]).lower()
    if request_log_level not in ("debug", "info", "warning", "error"):
        problems.append(
            f"request_log_level: {request_log_level!r} must be debug, info, warning or error"
        )
    audit = _audit(values, store, problems)
    if problems or policy is None or listen is None or admin is None:
        return None
    return Settings(
        listen=listen,
        admin_listen=admin,
        store_url=store,
        store_timeout_seconds=store_timeout,
        workers=workers,
        policy=policy,
        policy_path=policy_path,
        max_upload_bytes=max_upload,
        shutdown_timeout_seconds=shutdown,
        spool_dir=spool,
        log_level=log_level,
        identity=identity,
        upstream=upstream,
        audit=audit,
        request_log_level=request_log_level,
        reaper_interval_seconds=_number(values, "reaper_interval_seconds", problems, minimum=0.05),
        cache_entries=int(_number(values, "cache_entries", problems)),
    )


def _audit(values: dict[str, Any], store: str, problems: list[str]) -> AuditSettings:
    stream = values["audit.redis_stream"] or None
    url = values["audit.redis_url"] or None
    if stream is not None and url is None:
        # The stream lives next to the records by default, when they are in Redis.
        if store.startswith(("redis://", "rediss://", "redis+sentinel://")):
            url = store
        else:
            problems.append("audit.redis_url: required when audit.redis_stream is set "
                            "and the store is not Redis")
    if url is not None and not str(url).startswith(("redis://", "rediss://", "redis+sentinel://")):
        problems.append(f"audit.redis_url: {url!r} must start with redis://, rediss:// "
                        "or redis+sentinel://")
    path = values["audit.jsonl_path"]
    return AuditSettings(
        jsonl_path=Path(path) if path else None,
        redis_stream=str(stream) if stream is not None else None,
        redis_url=str(url) if url is not None else None,
        redis_maxlen=int(_number(values, "audit.redis_maxlen", problems, minimum=1)),
    )


def _identity(values: dict[str, Any], problems: list[str]) -> IdentitySettings:
    mode = values["identity.mode"]
    if mode not in ("api_key", "header", "static"):
        problems.append(f"identity.mode: {mode!r} must be api_key, header or static")
        mode = "api_key"
    unknown = values["identity.unknown_keys"]
    if unknown not in ("fingerprint", "reject"):
        problems.append(f"identity.unknown_keys: {unknown!r} must be fingerprint or reject")
        unknown = "fingerprint"
    keys = []
    raw_keys = values["identity.keys"]
    if not isinstance(raw_keys, list):
        problems.append("identity.keys: must be a list")
        raw_keys = []
    for index, entry in enumerate(raw_keys):
        where = f"identity.keys[{index}]"
        if not isinstance(entry, Mapping):
            problems.append(f"{where}: must be a mapping")
            continue
        digest = str(entry.get("sha256", "")).lower()
        if not _SHA256.match(digest):
            problems.append(f"{where}.sha256: must be 64 hex characters")
        if not entry.get("principal"):
            problems.append(f"{where}.principal: required")
        keys.append(
            KeyEntry(
                sha256=digest,
                principal=str(entry.get("principal", "")),
                org=str(entry.get("org") or values["identity.default_org"]),
                admin=bool(entry.get("admin", False)),
            )
        )
    proxies: list[Network] = []
    for raw in values["identity.header.trusted_proxies"] or []:
        try:
            proxies.append(ipaddress.ip_network(str(raw).strip(), strict=False))
        except ValueError:
            problems.append(f"identity.header.trusted_proxies: {raw!r} is not a network")
    static_principal = values["identity.static.principal"]
    static_org = values["identity.static.org"]
    if mode == "static" and not (static_principal and static_org):
        problems.append("identity.static: principal and org are required in static mode")
    return IdentitySettings(
        mode=mode,
        keys=tuple(keys),
        unknown_keys=unknown,
        default_org=str(values["identity.default_org"]),
        user_header=str(values["identity.header.user"]),
        org_header=str(values["identity.header.org"]),
        trusted_proxies=tuple(proxies),
        static_principal=static_principal,
        static_org=static_org,
    )


def _number(
    values: dict[str, Any], key: str, problems: list[str], minimum: float = 0.0
) -> float:
    raw = values[key]
    try:
        number = float(raw)
    except (TypeError, ValueError):
        problems.append(f"{key}: {raw!r} is not a number")
        return float(DEFAULTS[key])
    if number < minimum or isinstance(raw, bool):
        problems.append(f"{key}: {raw!r} must be at least {minimum:g}")
    return number


def _host_port(values: dict[str, Any], key: str, problems: list[str]) -> HostPort | None:
    raw = str(values[key])
    host, sep, port = raw.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        problems.append(f"{key}: {raw!r} must be HOST:PORT")
        return None
    return HostPort(host.strip("[]"), int(port))


def _url(values: dict[str, Any], key: str, schemes: tuple[str, ...], problems: list[str]) -> str:
    raw = str(values[key]).rstrip("/")
    if not any(raw.startswith(f"{scheme}://") for scheme in schemes):
        problems.append(f"{key}: {raw!r} must be an {' or '.join(schemes)} URL")
    return raw
