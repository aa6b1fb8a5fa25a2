"""The purpose matrix and the access decision. Pure: data in, a frozen Decision out."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

from gateway.principal import Principal
from gateway.records import INHERITED_FLAGS, NO_DOWNLOAD, PRIVATE_ONLY, FileRecord

DownloadRule = Literal["owner", "org", "none"]
UpstreamDownload = Literal["allowed", "refused", "unknown"]


class Action(StrEnum):
    UPLOAD = "upload"
    DOWNLOAD = "download"
    RETRIEVE = "retrieve"
    DELETE = "delete"
    LIST = "list"
    REFERENCE = "reference"
    RETAG = "retag"


@dataclass(frozen=True)
class Deprecation:
    since: str
    sunset: str | None = None
    replacement: str | None = None
    guide: str | None = None
    # After the sunset the gateway answers 410 api_sunset itself (APIs only; configurable).
    enforce_sunset: bool = True


@dataclass(frozen=True)
class PurposeRule:
    name: str
    description: str
    uploaded_by: Literal["client", "upstream"]
    apis: frozenset[str]
    download: DownloadRule
    upstream_download: UpstreamDownload
    default_flags: frozenset[str] = frozenset()
    inherits_from: str | None = None
    deprecated: Deprecation | None = None
    # Grandfathering: files recorded before `effective_from` (unix seconds) keep `previous`.
    effective_from: int | None = None
    previous: PurposeRule | None = None
    # When the gateway saw the upstream refuse this purpose's download (issue 3).
    upstream_observed: str | None = None


@dataclass(frozen=True)
class Policy:
    version: str
    purposes: Mapping[str, PurposeRule]
    untracked: Literal["deny", "allow"] = "deny"
    ephemeral_ttl_seconds: int = 86400
    inline_files: Literal["deny", "allow"] = "allow"
    api_deprecations: Mapping[str, Deprecation] = field(default_factory=dict)

    def rule(self, purpose: str) -> PurposeRule | None:
        return self.purposes.get(purpose)

    def rule_for(self, record: FileRecord) -> PurposeRule | None:
        """The rule a file was recorded under: a later change never silently reaches it."""
        rule = self.purposes.get(record.purpose)
        if rule is None or rule.effective_from is None or rule.previous is None:
            return rule
        return rule.previous if record.created_at < rule.effective_from else rule


@dataclass(frozen=True)
class Decision:
    """`reason` is a deny code (DESIGN §7) or owner/org/legacy/public for an allow."""

    action: Action
    allowed: bool
    reason: str
    status: int = 200
    message: str = ""


@functools.cache
def _allow(action: Action, reason: str) -> Decision:
    # A handful of distinct allows, shared: a list annotates thousands of files (issue 6).
    return Decision(action, True, reason)


def _deny(action: Action, status: int, reason: str, message: str) -> Decision:
    return Decision(action, False, reason, status, message)


def decide_upload(purpose: str, policy: Policy) -> Decision:
    rule = policy.rule(purpose)
    if rule is None or rule.uploaded_by != "client":
        return _deny(
            Action.UPLOAD, 400, "purpose_not_allowed", f"Uploads of purpose {purpose!r} are not allowed"
        )
    return _allow(Action.UPLOAD, "owner")


def decide(
    action: Action,
    principal: Principal,
    record: FileRecord | None,
    policy: Policy,
    now: float,
    file_id: str = "",
) -> Decision:
    """Decide one action on one file for one principal; checks run from coarse to fine."""
    if record is None:
        if policy.untracked == "allow":
            return _allow(action, "public")
        return _deny(action, 403, "file_untracked", f"File {file_id} is not tracked by the gateway")
    if record.deleted or record.org != principal.org:
        # Another org's file is indistinguishable from an unknown one.
        return _deny(action, 404, "file_not_found", f"No such File object: {record.file_id}")
    if record.is_expired(now):
        return _deny(action, 410, "file_expired", f"File {record.file_id} has expired")
    is_owner = record.owner == principal.name
    if PRIVATE_ONLY in record.flags and not is_owner:
        return _deny(
            action, 403, "private_only_forbidden", f"File {record.file_id} is private to its owner"
        )
    if action is Action.DOWNLOAD:
        refusal = _download_refusal(principal, record, policy, is_owner)
        if refusal is not None:
            return refusal
    if is_owner:
        return _allow(action, "owner")
    return _allow(action, "legacy" if record.legacy else "org")


def decide_owner_only(
    action: Action, principal: Principal, record: FileRecord | None, policy: Policy, now: float,
    file_id: str = "",
) -> Decision:
    """Steps only the owner may take (an Upload's parts, complete, cancel): a same-org peer is
    refused as for a private file; everything else as decide()."""
    owned = dataclasses.replace(record, flags=record.flags | {PRIVATE_ONLY}) if record else None
    return decide(action, principal, owned, policy, now, file_id)


def decide_bundle_download(
    action: Action, principal: Principal, record: FileRecord | None, policy: Policy, now: float,
    file_id: str = "",
) -> Decision:
    """The content of an object that is not a file and so has no purpose (a skill's bundle):
    whoever may see the object may download it, unless it is `no_download`."""
    seen = decide(Action.RETRIEVE, principal, record, policy, now, file_id)
    if not seen.allowed:
        return dataclasses.replace(seen, action=Action.DOWNLOAD)
    if record is not None and NO_DOWNLOAD in record.flags:
        return _deny(
            Action.DOWNLOAD, 403, "download_disabled", f"Downloads of {record.file_id} are disabled"
        )
    return _allow(Action.DOWNLOAD, seen.reason)


def decide_retag(
    principal: Principal, record: FileRecord | None, policy: Policy, now: float, file_id: str = "",
    flags: frozenset[str] | None = None,
) -> Decision:
    """The owner, or an admin of the file's org, may change its flags to `flags`. A caller who
    may not see the file learns no more than decide() tells; a file without a record has no
    flags to change, whatever `untracked` says. The restrictions of an object that holds or was
    made from files may be lent by those files, whoever owns them: only an admin lifts them."""
    if record is None:
        return _deny(Action.RETAG, 403, "file_untracked", f"File {file_id} is not tracked by the gateway")
    seen = decide(Action.RETAG, principal, record, policy, now, file_id)
    if seen.status in (404, 410):
        return seen
    if principal.admin and record.org == principal.org:
        return _allow(Action.RETAG, "owner" if record.owner == principal.name else "org")
    if record.owner == principal.name:
        lifted = record.flags - flags if flags is not None else frozenset()
        if lifted & INHERITED_FLAGS and (record.kind != "file" or record.derived_from is not None):
            return _deny(
                Action.RETAG, 403, "flags_change_forbidden",
                f"{', '.join(sorted(lifted & INHERITED_FLAGS))} on {record.file_id} may come from the "
                "files it holds or was made from; only an admin of its org may lift it",
            )
        return _allow(Action.RETAG, "owner")
    return _deny(
        Action.RETAG, 403, "flags_change_forbidden",
        "Only the file's owner or an admin of its org may change its flags",
    )


def may_see(principal: Principal, record: FileRecord | None, policy: Policy, now: float) -> bool:
    """decide(LIST, ...).allowed without building a Decision: lists test every item."""
    if record is None:
        return policy.untracked == "allow"
    if record.deleted or record.org != principal.org:
        return False
    if record.expires_at is not None and now >= record.expires_at:
        return False
    return PRIVATE_ONLY not in record.flags or record.owner == principal.name


def _download_refusal(
    principal: Principal, record: FileRecord, policy: Policy, is_owner: bool
) -> Decision | None:
    if NO_DOWNLOAD in record.flags:
        return _deny(
            Action.DOWNLOAD, 403, "download_disabled", f"Downloads of file {record.file_id} are disabled"
        )
    rule = policy.rule_for(record)
    download: DownloadRule = rule.download if rule is not None else "none"
    if download == "none" or (download == "owner" and not is_owner):
        return _deny(
            Action.DOWNLOAD,
            403,
            "purpose_download_forbidden",
            f"Not allowed to download files of purpose: {record.purpose}",
        )
    return None


def is_downloadable(principal: Principal, record: FileRecord, policy: Policy, now: float) -> bool:
    """True when the gateway allows the download and the upstream is not known to refuse it."""
    rule = policy.rule_for(record)
    if rule is not None and rule.upstream_download == "refused":
        return False
    return decide(Action.DOWNLOAD, principal, record, policy, now).allowed
