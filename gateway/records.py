"""The FileRecord the gateway keeps for every file it has seen, and the access flags."""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

import orjson

_SHARED = ("owner", "org", "purpose", "policy_version")

PRIVATE_ONLY = "private_only"
NO_DOWNLOAD = "no_download"
EPHEMERAL = "ephemeral"
KNOWN_FLAGS = frozenset({PRIVATE_ONLY, NO_DOWNLOAD, EPHEMERAL})
# Restrictions a holder object takes over from the files put into it, so that a vector store
# search or a container cannot become a way around a file's own flags.
INHERITED_FLAGS = frozenset({PRIVATE_ONLY, NO_DOWNLOAD})


class FlagError(ValueError):
    """The flags a client sent cannot be accepted (unknown or contradictory)."""


class UnreadableRecord(ValueError):
    """A stored record this version cannot read whole: corrupt, or written by a newer gateway
    with a field or flag this one does not know. It is never decided on, since what was not
    understood may be a restriction."""


def parse_flags(raw: str) -> frozenset[str]:
    """Parse `private_only,ephemeral`; empty items are ignored, unknown ones refused."""
    items = [item.strip().lower() for item in raw.split(",")]
    flags = frozenset(item for item in items if item)
    unknown = sorted(flags - KNOWN_FLAGS)
    if unknown:
        raise FlagError(
            f"Unknown access flag(s): {', '.join(unknown)}; known: {', '.join(sorted(KNOWN_FLAGS))}"
        )
    return flags


def merge_flag_sources(header: str | None, field_value: str | None) -> frozenset[str]:
    """Flags may come from the header or the multipart field; both at once must agree."""
    from_header = parse_flags(header) if header is not None else None
    from_field = parse_flags(field_value) if field_value is not None else None
    if from_header is not None and from_field is not None and from_header != from_field:
        raise FlagError("X-File-Access header and `access` field disagree")
    return from_header if from_header is not None else (from_field or frozenset())


@dataclass(frozen=True, slots=True)
class FileRecord:
    """What the gateway knows of one file; `deleted` records are tombstones."""

    file_id: str
    owner: str
    org: str
    purpose: str
    flags: frozenset[str] = frozenset()
    created_at: int = 0
    policy_version: str = ""
    expires_at: int | None = None
    legacy: bool = False
    deleted: bool = False
    derived_from: str | None = None
    kind: str = "file"
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def is_expired(self, now: float) -> bool:
        return self.expires_at is not None and now >= self.expires_at

    def tombstone(self) -> FileRecord:
        return replace(self, deleted=True)

    def to_json(self) -> str:
        data = asdict(self)
        data["flags"] = sorted(self.flags)
        # Short keys and no defaults keep a Redis record small (issue 6 budget: <= 300 bytes).
        compact = {key: value for key, value in data.items() if value not in (None, False, {}, [])}
        if compact.get("kind") == "file":
            del compact["kind"]
        return orjson.dumps(compact).decode()

    @classmethod
    def from_json(cls, raw: str | bytes) -> FileRecord:
        try:
            data = orjson.loads(raw)
            if not isinstance(data, dict):
                raise UnreadableRecord("not a JSON object")
            if not _FIELDS.issuperset(data):
                raise UnreadableRecord(f"unknown fields {sorted(set(data) - _FIELDS)}")
            flags = data["flags"] = frozenset(data.get("flags", ()))
            if not KNOWN_FLAGS.issuperset(flags):
                raise UnreadableRecord(f"unknown flags {sorted(map(str, flags - KNOWN_FLAGS))}")
            # Few distinct values across many records: one shared copy each (the record cache).
            for key in _SHARED:
                if key in data:
                    data[key] = sys.intern(data[key])
            return cls(**data)
        except (orjson.JSONDecodeError, TypeError, AttributeError) as exc:
            # Not JSON, not an object, a field missing or of the wrong type.
            raise UnreadableRecord(str(exc)) from exc


_FIELDS = frozenset(item.name for item in fields(FileRecord))
