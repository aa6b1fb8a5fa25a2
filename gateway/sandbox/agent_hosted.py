"""What configures an OpenAI-hosted environment besides its files, shared by environments, their
templates and sessions: capability directories, network, packages, desktop, skills and plugins,
answered with their defaults filled in. A template's settings come first; what a body gives
replaces them field by field.

Skill references must name sandbox skills (the Skills 404 otherwise). An environment answers the
concrete version each installs; a template keeps the selector, resolved again for every session.
Inline skills and plugins answer the name and description they declare; archives are not read.
Confidential fields (``env``, ``setup_commands``) are accepted and never answered.
"""

from __future__ import annotations

import copy

from .agent_common import joined, object_at, strings
from .errors import invalid_type, not_one_of
from .skills import REFERENCE, check_skill_references, version_of
from .state import SandboxState
from .store import JsonObject
from .stored import flag

ACCESS = ("enabled", "disabled", "restricted")
PACKAGE_KINDS = ("npm", "python", "system")
DEFAULTS: JsonObject = {
    "capability_directories": [],
    "network": {"access": "enabled", "allowed_domains": []},
    "packages": {kind: [] for kind in PACKAGE_KINDS},
    "desktop": {"enabled": False},
}


def settings(config: JsonObject, base: JsonObject, where: str) -> JsonObject:
    """``config``'s settings over ``base`` (a template, or nothing: the defaults)."""
    made: JsonObject = {key: copy.deepcopy(base.get(key, default)) for key, default in DEFAULTS.items()}
    if config.get("capability_directories") is not None:
        name = joined(where, "capability_directories")
        made["capability_directories"] = strings(config["capability_directories"], name)
    if config.get("network") is not None:
        network = object_at(config["network"], joined(where, "network"))
        access = network.get("access")
        if access not in ACCESS:
            raise not_one_of(access, ACCESS, joined(where, "network.access"))
        domains = strings(network.get("allowed_domains"), joined(where, "network.allowed_domains"))
        made["network"] = {"access": access, "allowed_domains": domains}
    if config.get("packages") is not None:
        packages = object_at(config["packages"], joined(where, "packages"))
        made["packages"] = {
            kind: strings(packages.get(kind), joined(where, f"packages.{kind}")) for kind in PACKAGE_KINDS
        }
    if config.get("desktop") is not None:
        desktop = object_at(config["desktop"], joined(where, "desktop"))
        made["desktop"] = {"enabled": flag(desktop, "enabled", False)}
    return made


def skills(state: SandboxState, value: object, where: str, *, pinned: bool) -> list[JsonObject]:
    """Skills as answered: each reference ``pinned`` to the version it installs, or with its
    selector kept; each inline skill by its name and description."""
    listed = _entries(value, where)
    check_skill_references(state, {where: listed})
    return [_skill(state, skill, pinned) for skill in listed]


def _skill(state: SandboxState, skill: JsonObject, pinned: bool) -> JsonObject:
    if skill.get("type") != REFERENCE:
        return _inline(skill)
    skill_id, selector = skill["skill_id"], skill.get("version")
    if not pinned:
        return {"type": REFERENCE, "skill_id": skill_id, "version": selector}
    stored = state.skills[skill_id]
    if selector is None:
        selector = stored.object["default_version"]
    elif selector == "latest":
        selector = stored.object["latest_version"]
    made = version_of(stored, str(selector))
    return {
        "type": REFERENCE,
        "skill_id": skill_id,
        "version": made["version"],
        "name": made["name"],
        "description": made["description"],
    }


def plugins(value: object, where: str) -> list[JsonObject]:
    return [_inline(plugin) for plugin in _entries(value, where)]


def _inline(declared: JsonObject) -> JsonObject:
    return {
        "type": "inline",
        "name": str(declared.get("name") or ""),
        "description": str(declared.get("description") or ""),
    }


def _entries(value: object, where: str) -> list[JsonObject]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise invalid_type(where, "an array")
    for index, entry in enumerate(value):
        if not isinstance(entry, dict):
            raise invalid_type(f"{where}[{index}]", "an object")
    return value
