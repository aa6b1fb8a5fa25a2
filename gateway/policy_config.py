"""Parse the purpose matrix from YAML into a Policy, collecting every problem at once."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from gateway.policy import Deprecation, Policy, PurposeRule
from gateway.records import KNOWN_FLAGS

_PURPOSE_KEYS = frozenset(
    {"description", "uploaded_by", "apis", "download", "upstream_download", "default_flags",
     "inherits_from", "deprecated", "effective_from", "previous"}
)
_TOP_KEYS = frozenset(
    {"version", "untracked", "ephemeral_ttl_seconds", "inline_files", "purposes", "apis"}
)


class PolicyError(ValueError):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def default_policy_path() -> Path:
    return Path(str(resources.files("gateway") / "data" / "policy.yaml"))


def load_policy(path: Path | None = None) -> Policy:
    source = path or default_policy_path()
    try:
        raw = yaml.safe_load(source.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise PolicyError([f"policy: cannot read {source}: {exc}"]) from exc
    return parse_policy(raw)


def parse_policy(raw: Any) -> Policy:
    problems: list[str] = []
    if not isinstance(raw, Mapping):
        raise PolicyError(["policy: must be a mapping"])
    for key in sorted(set(raw) - _TOP_KEYS):
        problems.append(f"policy.{key}: unknown key")
    version = str(raw.get("version") or "")
    if not version:
        problems.append("policy.version: required")
    untracked = _choice(raw, "untracked", ("deny", "allow"), "deny", "policy", problems)
    inline = _choice(raw, "inline_files", ("deny", "allow"), "allow", "policy", problems)
    ttl = raw.get("ephemeral_ttl_seconds", 86400)
    if not isinstance(ttl, int) or isinstance(ttl, bool) or not 3600 <= ttl <= 2592000:
        problems.append(f"policy.ephemeral_ttl_seconds: {ttl!r} must be an integer 3600..2592000")
        ttl = 86400
    purposes: dict[str, PurposeRule] = {}
    raw_purposes = raw.get("purposes")
    if not isinstance(raw_purposes, Mapping) or not raw_purposes:
        problems.append("policy.purposes: required, a mapping of purpose name to rule")
        raw_purposes = {}
    for name, body in raw_purposes.items():
        rule = _parse_purpose(str(name), body, problems)
        if rule is not None:
            purposes[str(name)] = rule
    for rule in purposes.values():
        if rule.inherits_from is not None and rule.inherits_from not in purposes:
            problems.append(
                f"policy.purposes.{rule.name}.inherits_from: unknown purpose {rule.inherits_from!r}"
            )
    api_deprecations: dict[str, Deprecation] = {}
    raw_apis = raw.get("apis") or {}
    if not isinstance(raw_apis, Mapping):
        problems.append("policy.apis: must be a mapping")
        raw_apis = {}
    for api, body in raw_apis.items():
        where = f"policy.apis.{api}"
        if not isinstance(body, Mapping):
            problems.append(f"{where}: must be a mapping")
            continue
        deprecation = _parse_deprecation(body.get("deprecated"), f"{where}.deprecated", problems)
        if deprecation is not None:
            api_deprecations[str(api)] = deprecation
    if problems:
        raise PolicyError(problems)
    return Policy(
        version=version,
        purposes=purposes,
        untracked=untracked,  # type: ignore[arg-type]
        ephemeral_ttl_seconds=ttl,
        inline_files=inline,  # type: ignore[arg-type]
        api_deprecations=api_deprecations,
    )


def _choice(
    raw: Mapping[str, Any], key: str, allowed: tuple[str, ...], default: str, where: str,
    problems: list[str],
) -> str:
    value = raw.get(key, default)
    if value not in allowed:
        problems.append(f"{where}.{key}: {value!r} must be one of {', '.join(allowed)}")
        return default
    return str(value)


def _parse_purpose(
    name: str, body: Any, problems: list[str], where: str | None = None
) -> PurposeRule | None:
    where = where or f"policy.purposes.{name}"
    if not isinstance(body, Mapping):
        problems.append(f"{where}: must be a mapping")
        return None
    before = len(problems)
    for key in sorted(set(body) - _PURPOSE_KEYS):
        problems.append(f"{where}.{key}: unknown key")
    uploaded_by = _choice(body, "uploaded_by", ("client", "upstream"), "client", where, problems)
    download = _choice(body, "download", ("owner", "org", "none"), "org", where, problems)
    upstream = _choice(
        body, "upstream_download", ("allowed", "refused", "unknown"), "unknown", where, problems
    )
    apis = body.get("apis", [])
    if not isinstance(apis, list) or not all(isinstance(api, str) for api in apis):
        problems.append(f"{where}.apis: must be a list of API names")
        apis = []
    flags = body.get("default_flags", [])
    if not isinstance(flags, list) or not set(flags) <= KNOWN_FLAGS:
        problems.append(
            f"{where}.default_flags: {flags!r} must be a list of {', '.join(sorted(KNOWN_FLAGS))}"
        )
        flags = []
    inherits = body.get("inherits_from")
    deprecation = _parse_deprecation(body.get("deprecated"), f"{where}.deprecated", problems)
    effective_from, previous = _grandfathering(name, body, where, problems)
    if len(problems) > before:
        return None
    return PurposeRule(
        effective_from=effective_from,
        previous=previous,
        name=name,
        description=str(body.get("description", "")),
        uploaded_by=uploaded_by,  # type: ignore[arg-type]
        apis=frozenset(apis),
        download=download,  # type: ignore[arg-type]
        upstream_download=upstream,  # type: ignore[arg-type]
        default_flags=frozenset(flags),
        inherits_from=str(inherits) if inherits is not None else None,
        deprecated=deprecation,
    )


def _grandfathering(
    name: str, body: Mapping[str, Any], where: str, problems: list[str]
) -> tuple[int | None, PurposeRule | None]:
    """`effective_from` + `previous`: files recorded before the date keep the previous rule.
    `previous` lists only what changed; the rest is the current rule's."""
    raw_date, raw_previous = body.get("effective_from"), body.get("previous")
    if raw_date is None and raw_previous is None:
        return None, None
    if raw_date is None or not isinstance(raw_previous, Mapping):
        problems.append(f"{where}: effective_from and previous go together")
        return None, None
    try:
        day = dt.date.fromisoformat(str(raw_date))
    except ValueError:
        problems.append(f"{where}.effective_from: {raw_date!r} is not an ISO date")
        return None, None
    if set(raw_previous) & {"effective_from", "previous"}:
        problems.append(f"{where}.previous: cannot nest another effective_from")
        return None, None
    current = {key: value for key, value in body.items() if key not in ("effective_from", "previous")}
    previous = _parse_purpose(name, {**current, **raw_previous}, problems, f"{where}.previous")
    moment = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
    return int(moment.timestamp()), previous


def _parse_deprecation(raw: Any, where: str, problems: list[str]) -> Deprecation | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping) or "since" not in raw:
        problems.append(f"{where}: must be a mapping with at least `since`")
        return None
    for key in ("since", "sunset"):
        value = raw.get(key)
        if value is None:
            continue
        try:
            dt.date.fromisoformat(str(value))
        except ValueError:
            problems.append(f"{where}.{key}: {value!r} is not an ISO date")
    enforce = raw.get("enforce_sunset", True)
    if not isinstance(enforce, bool):
        problems.append(f"{where}.enforce_sunset: must be true or false")
    return Deprecation(
        enforce_sunset=bool(enforce),
        since=str(raw["since"]),
        sunset=str(raw["sunset"]) if raw.get("sunset") is not None else None,
        replacement=raw.get("replacement"),
        guide=raw.get("guide"),
    )
