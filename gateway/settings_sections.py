"""The typed parts of Settings, and the parsers that build them and collect problems."""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from gateway.settings_catalog import DEFAULTS

IdentityMode = Literal["api_key", "header", "static"]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


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
    # With the gateway's own key, the organization and project it bills to: callers' own
    # OpenAI-Organization and OpenAI-Project headers are not forwarded then.
    organization: str | None = None
    project: str | None = None

    def own_headers(self) -> dict[str, str]:
        """What the gateway's own requests carry: its key, and the organization and project
        that key is pinned to."""
        own = {"Authorization": f"Bearer {self.api_key}"}
        for name, value in (("OpenAI-Organization", self.organization),
                            ("OpenAI-Project", self.project)):
            if value:
                own[name] = value
        return own
    timeout_seconds: float = 600.0
    connect_timeout_seconds: float = 10.0


@dataclass(frozen=True)
class AuditSettings:
    """Durable audit sinks besides stdout (DESIGN §9); each is off when unset."""

    jsonl_path: Path | None = None
    redis_stream: str | None = None
    redis_url: str | None = dataclasses.field(default=None, repr=False)
    redis_maxlen: int = 1_000_000


def parse_audit(values: dict[str, Any], store: str, problems: list[str]) -> AuditSettings:
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
        redis_maxlen=int(parse_number(values, "audit.redis_maxlen", problems, minimum=1)),
    )


def parse_identity(values: dict[str, Any], problems: list[str]) -> IdentitySettings:
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


def parse_number(
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


def parse_host_port(values: dict[str, Any], key: str, problems: list[str]) -> HostPort | None:
    raw = str(values[key])
    host, sep, port = raw.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        problems.append(f"{key}: {raw!r} must be HOST:PORT")
        return None
    return HostPort(host.strip("[]"), int(port))


def parse_upstream_scope(
    values: dict[str, Any], key: str, api_key: str | None, problems: list[str]
) -> str | None:
    """`upstream.organization` or `upstream.project`: a header value, and only with the
    gateway's own key (a caller's own key goes with the headers the caller chose)."""
    raw = values[key]
    if raw is None or raw == "":
        return None
    value = str(raw)
    if not value.isascii() or not value.isprintable() or " " in value:
        problems.append(f"{key}: {value!r} must be an id such as org-… or proj_… (visible ASCII)")
    if api_key is None:
        problems.append(f"{key}: only used with upstream.api_key (callers' own keys choose "
                        "their own organization and project)")
    return value


def parse_url(values: dict[str, Any], key: str, schemes: tuple[str, ...], problems: list[str]) -> str:
    raw = str(values[key]).rstrip("/")
    if not any(raw.startswith(f"{scheme}://") for scheme in schemes):
        problems.append(f"{key}: {raw!r} must be an {' or '.join(schemes)} URL")
    return raw
