"""One frozen, typed Settings, resolved once: defaults < YAML < FILES_GATEWAY_* env < flags.

Every problem is collected and reported at once, each naming its key (STYLE: Starlette config).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gateway.policy import Policy
from gateway.policy_config import PolicyError, load_policy
from gateway.settings_catalog import CONFIG_ENV, DEFAULTS, ENV_VARS, LIST_KEYS
from gateway.settings_sections import (
    AuditSettings,
    HostPort,
    IdentitySettings,
    KeyEntry,
    UpstreamSettings,
    parse_audit,
    parse_host_port,
    parse_identity,
    parse_number,
    parse_upstream_scope,
    parse_url,
)

__all__ = [
    "CONFIG_ENV", "DEFAULTS", "ENV_VARS", "AuditSettings", "ConfigError", "HostPort",
    "IdentitySettings", "KeyEntry", "Settings", "UpstreamSettings", "load_settings",
]


class ConfigError(ValueError):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


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
    audit: AuditSettings = dataclasses.field(default_factory=AuditSettings)
    request_log_level: str = "info"
    event_loop: str = "asyncio"


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
            values[key] = raw.split(",") if key in LIST_KEYS else raw
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
    identity = parse_identity(values, problems)
    api_key = values["upstream.api_key"] or None
    upstream = UpstreamSettings(
        # Routes are forwarded with their /v1 prefix; an OPENAI_BASE_URL-style value is accepted too.
        url=parse_url(values, "upstream.url", ("http", "https"), problems).removesuffix("/v1"),
        api_key=api_key,
        organization=parse_upstream_scope(values, "upstream.organization", api_key, problems),
        project=parse_upstream_scope(values, "upstream.project", api_key, problems),
        timeout_seconds=parse_number(values, "upstream.timeout_seconds", problems),
        connect_timeout_seconds=parse_number(values, "upstream.connect_timeout_seconds", problems),
    )
    store = str(values["store"])
    if not store.startswith(("sqlite:///", "redis://", "rediss://", "redis+sentinel://")):
        problems.append(
            f"store: {store!r} must start with sqlite:///, redis://, rediss:// or redis+sentinel://"
        )
    listen = parse_host_port(values, "listen", problems)
    admin = parse_host_port(values, "admin_listen", problems)
    workers = int(parse_number(values, "workers", problems, minimum=1))
    event_loop = _event_loop(values, problems)
    max_upload = int(parse_number(values, "limits.max_upload_bytes", problems, minimum=1))
    shutdown = parse_number(values, "shutdown_timeout_seconds", problems)
    store_timeout = parse_number(values, "store_timeout_seconds", problems)
    log_level = _level(values, "log_level", problems)
    request_log_level = _level(values, "request_log_level", problems)
    spool = Path(values["spool_dir"]) if values["spool_dir"] else None
    audit = parse_audit(values, store, problems)
    # Parsed before the check below, so that their problems are reported with the rest.
    reaper = parse_number(values, "reaper_interval_seconds", problems, minimum=0.05)
    cache_entries = int(parse_number(values, "cache_entries", problems))
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
        reaper_interval_seconds=reaper,
        cache_entries=cache_entries,
        event_loop=event_loop,
    )


def _event_loop(values: dict[str, Any], problems: list[str]) -> str:
    loop = _choice(values, "event_loop", ("asyncio", "uvloop"), problems)
    if loop == "uvloop" and importlib.util.find_spec("uvloop") is None:
        problems.append("event_loop: uvloop is not installed (pip install 'files-gateway[uvloop]')")
    return loop


def _level(values: dict[str, Any], key: str, problems: list[str]) -> str:
    return _choice(values, key, ("debug", "info", "warning", "error"), problems)


def _choice(values: dict[str, Any], key: str, choices: tuple[str, ...], problems: list[str]) -> str:
    value = str(values[key]).lower()
    if value not in choices:
        problems.append(f"{key}: {value!r} must be {', '.join(choices[:-1])} or {choices[-1]}")
    return value


