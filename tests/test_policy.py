"""The decision, as a table: every actor, object state and action (policy is pure)."""

from __future__ import annotations

import dataclasses

import pytest

from gateway.policy import (
    Action,
    Policy,
    decide,
    decide_bundle_download,
    decide_owner_only,
    decide_retag,
    decide_upload,
    is_downloadable,
    may_see,
)
from gateway.policy_config import load_policy
from gateway.principal import Principal
from gateway.records import FileRecord

NOW = 1_800_000_000.0
POLICY = load_policy()
OWNER = Principal("alice", "acme")
PEER = Principal("bob", "acme")
OTHER_ORG = Principal("carol", "globex")
UNKNOWN_KEY = Principal("key:0123456789ab", "default")
ACTORS = {"owner": OWNER, "peer": PEER, "other_org": OTHER_ORG, "unknown_key": UNKNOWN_KEY}


def record(purpose: str = "batch", flags: tuple[str, ...] = (), **changes: object) -> FileRecord:
    base = FileRecord("file-abc", "alice", "acme", purpose, frozenset(flags), int(NOW) - 60, "v1")
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


STATES: dict[str, FileRecord | None] = {
    "plain": record(),
    "private_only": record(flags=("private_only",)),
    "no_download": record(flags=("no_download",)),
    "ephemeral_live": record(flags=("ephemeral",), expires_at=int(NOW) + 60),
    "ephemeral_expired": record(flags=("ephemeral",), expires_at=int(NOW) - 1),
    "user_data": record("user_data"),
    "legacy": record(legacy=True, owner="legacy"),
    "unknown_purpose": record("mystery"),
    "untracked": None,
    "deleted": record(deleted=True),
}

NOT_FOUND = (404, "file_not_found")
OK_OWNER, OK_ORG, OK_LEGACY = (200, "owner"), (200, "org"), (200, "legacy")
PRIVATE = (403, "private_only_forbidden")
EXPIRED = (410, "file_expired")
UNTRACKED = (403, "file_untracked")

# (state, actor) -> {action: (status, reason)}; actions missing from a row take the row's "*".
TABLE: dict[tuple[str, str], dict[str, tuple[int, str]]] = {
    ("plain", "owner"): {"*": OK_OWNER},
    ("plain", "peer"): {"*": OK_ORG},
    ("private_only", "owner"): {"*": OK_OWNER},
    ("private_only", "peer"): {"*": PRIVATE},
    ("no_download", "owner"): {"*": OK_OWNER, "download": (403, "download_disabled")},
    ("no_download", "peer"): {"*": OK_ORG, "download": (403, "download_disabled")},
    ("ephemeral_live", "owner"): {"*": OK_OWNER},
    ("ephemeral_live", "peer"): {"*": OK_ORG},
    ("ephemeral_expired", "owner"): {"*": EXPIRED},
    ("ephemeral_expired", "peer"): {"*": EXPIRED},
    # The gateway allows it; the upstream's own refusal is handled at enforcement.
    ("user_data", "owner"): {"*": OK_OWNER},
    ("user_data", "peer"): {"*": OK_ORG},
    ("legacy", "owner"): {"*": OK_LEGACY},
    ("legacy", "peer"): {"*": OK_LEGACY},
    ("unknown_purpose", "owner"): {"*": OK_OWNER, "download": (403, "purpose_download_forbidden")},
    ("unknown_purpose", "peer"): {"*": OK_ORG, "download": (403, "purpose_download_forbidden")},
}
for state in STATES:
    for actor in ("other_org", "unknown_key"):
        TABLE[(state, actor)] = {"*": UNTRACKED if state == "untracked" else NOT_FOUND}
for actor in ("owner", "peer"):
    TABLE[("untracked", actor)] = {"*": UNTRACKED}
    TABLE[("deleted", actor)] = {"*": NOT_FOUND}

ACTIONS = [Action.DOWNLOAD, Action.RETRIEVE, Action.DELETE, Action.LIST, Action.REFERENCE]
CASES = [
    (state, actor, action)
    for state in STATES
    for actor in ACTORS
    for action in ACTIONS
]


@pytest.mark.parametrize(("state", "actor", "action"), CASES)
def test_decision_table(state: str, actor: str, action: Action) -> None:
    """Each actor, file state and action gets the status and reason the table states."""
    row = TABLE[(state, actor)]
    expected = row.get(action.value, row["*"])
    decision = decide(action, ACTORS[actor], STATES[state], POLICY, NOW, "file-abc")
    assert (200 if decision.allowed else decision.status, decision.reason) == expected
    assert decision.action is action


def test_untracked_allow_policy_allows_as_public() -> None:
    """With `untracked: allow`, a file without a record is allowed with reason `public`."""
    policy = dataclasses.replace(POLICY, untracked="allow")
    decision = decide(Action.DOWNLOAD, PEER, None, policy, NOW, "file-x")
    assert (decision.allowed, decision.reason) == (True, "public")


@pytest.mark.parametrize(
    ("download", "actor", "allowed"),
    [("owner", "owner", True), ("owner", "peer", False), ("none", "owner", False),
     ("org", "peer", True)],
)
def test_purpose_download_rule(download: str, actor: str, allowed: bool) -> None:
    """A purpose's `download` rule (owner | org | none) bounds who may download."""
    rule = dataclasses.replace(POLICY.purposes["batch"], download=download)  # type: ignore[arg-type]
    policy = dataclasses.replace(POLICY, purposes={**POLICY.purposes, "batch": rule})
    decision = decide(Action.DOWNLOAD, ACTORS[actor], record(), policy, NOW)
    assert decision.allowed is allowed
    if not allowed:
        assert decision.reason == "purpose_download_forbidden"


@pytest.mark.parametrize(
    ("purpose", "allowed"),
    [("batch", True), ("user_data", True), ("vision", True), ("fine-tune", True),
     ("evals", True), ("assistants", True), ("batch_output", False),
     ("fine-tune-results", False), ("assistants_output", False), ("mystery", False), ("", False)],
)
def test_upload_purposes(purpose: str, allowed: bool) -> None:
    """Only client-uploadable purposes of the policy may be uploaded."""
    decision = decide_upload(purpose, POLICY)
    assert decision.allowed is allowed
    assert decision.reason == ("owner" if allowed else "purpose_not_allowed")


@pytest.mark.parametrize(
    ("purpose", "downloadable"),
    [("batch", True), ("vision", True), ("user_data", False), ("assistants", False)],
)
def test_downloadable_accounts_for_upstream_refusal(purpose: str, downloadable: bool) -> None:
    """`downloadable` is false where the upstream is known to refuse the purpose."""
    assert is_downloadable(OWNER, record(purpose), POLICY, NOW) is downloadable


def test_policy_type() -> None:
    """The shipped policy parses into a Policy with every purpose of DESIGN §5."""
    assert isinstance(POLICY, Policy)
    assert set(POLICY.purposes) == {
        "assistants", "batch", "batch_output", "fine-tune", "fine-tune-results", "vision",
        "user_data", "evals", "assistants_output",
    }


@pytest.mark.parametrize("untracked", ["deny", "allow"])
@pytest.mark.parametrize("state", list(STATES))
@pytest.mark.parametrize("actor", list(ACTORS))
def test_list_fast_path_agrees_with_decide(state: str, actor: str, untracked: str) -> None:
    """The list filter's fast check gives exactly decide(LIST)'s answer."""
    policy = dataclasses.replace(POLICY, untracked=untracked)  # type: ignore[arg-type]
    record = STATES[state]
    expected = decide(Action.LIST, ACTORS[actor], record, policy, NOW).allowed
    assert may_see(ACTORS[actor], record, policy, NOW) is expected


@pytest.mark.parametrize(
    ("actor", "expected"),
    [("owner", (True, "owner")), ("peer", (False, "private_only_forbidden")),
     ("other_org", (False, "file_not_found"))],
)
def test_owner_only_steps(actor: str, expected: tuple[bool, str]) -> None:
    """An Upload's own steps are the owner's alone; the rest of decide() still applies."""
    decision = decide_owner_only(Action.UPLOAD, ACTORS[actor], record(), POLICY, NOW)
    assert (decision.allowed, decision.reason) == expected


ADMIN = Principal("root", "acme", admin=True)
OTHER_ADMIN = Principal("boss", "globex", admin=True)
FORBIDDEN = (403, "flags_change_forbidden")


@pytest.mark.parametrize(
    ("state", "actor", "expected"),
    [
        ("plain", OWNER, OK_OWNER), ("plain", PEER, FORBIDDEN), ("plain", ADMIN, OK_ORG),
        ("plain", OTHER_ORG, NOT_FOUND), ("plain", OTHER_ADMIN, NOT_FOUND),
        ("private_only", OWNER, OK_OWNER), ("private_only", PEER, FORBIDDEN),
        ("private_only", ADMIN, OK_ORG), ("no_download", PEER, FORBIDDEN),
        ("legacy", PEER, FORBIDDEN), ("legacy", ADMIN, OK_ORG),
        ("ephemeral_expired", OWNER, EXPIRED), ("ephemeral_expired", ADMIN, EXPIRED),
        ("deleted", OWNER, NOT_FOUND), ("untracked", OWNER, UNTRACKED), ("untracked", ADMIN, UNTRACKED),
    ],
)
@pytest.mark.parametrize("untracked", ["deny", "allow"])
def test_retag_table(state: str, actor: Principal, expected: tuple[int, str], untracked: str) -> None:
    """Flags change by the owner or an admin of the file's org; a file without a record is
    refused even where untracked files are otherwise allowed (nothing to re-tag)."""
    policy = dataclasses.replace(POLICY, untracked=untracked)  # type: ignore[arg-type]
    decision = decide_retag(actor, STATES[state], policy, NOW, "file-abc")
    assert (decision.status, decision.reason) == expected
    assert decision.allowed is (expected[0] == 200)


HOLDER = record("", ("no_download", "private_only"), kind="vector_store")
DERIVED = record("batch_output", ("no_download",), derived_from="batch_abc")


@pytest.mark.parametrize(
    ("held", "actor", "flags", "expected"),
    [
        # A plain upload's restrictions are its owner's own.
        (record(flags=("no_download",)), OWNER, (), OK_OWNER),
        # What holds or was made from files may carry their restrictions: only added to...
        (HOLDER, OWNER, ("no_download", "private_only", "ephemeral"), OK_OWNER),
        (HOLDER, OWNER, ("private_only",), FORBIDDEN), (HOLDER, OWNER, (), FORBIDDEN),
        (DERIVED, OWNER, (), FORBIDDEN), (DERIVED, OWNER, ("no_download",), OK_OWNER),
        # ...unless by an admin of its org.
        (HOLDER, ADMIN, (), OK_ORG), (DERIVED, ADMIN, (), OK_ORG),
        (dataclasses.replace(HOLDER, owner="root"), ADMIN, (), OK_OWNER),
        (HOLDER, PEER, ("no_download", "private_only"), FORBIDDEN),
    ],
)
def test_lent_restrictions_are_lifted_only_by_an_admin(
    held: FileRecord, actor: Principal, flags: tuple[str, ...], expected: tuple[int, str]
) -> None:
    """A holder's or a derived file's `private_only`/`no_download` may come from another
    principal's file: its owner clearing them would read that file (a vector store search,
    a container file's content)."""
    decision = decide_retag(actor, held, POLICY, NOW, held.file_id, frozenset(flags))
    assert (decision.status, decision.reason) == expected


BUNDLE_TABLE: dict[tuple[str, str], tuple[int, str]] = {
    ("plain", "owner"): OK_OWNER, ("plain", "peer"): OK_ORG, ("plain", "other_org"): NOT_FOUND,
    ("private_only", "owner"): OK_OWNER, ("private_only", "peer"): PRIVATE,
    ("no_download", "owner"): (403, "download_disabled"),
    ("no_download", "peer"): (403, "download_disabled"),
    ("ephemeral_expired", "owner"): EXPIRED, ("legacy", "peer"): OK_LEGACY,
    ("deleted", "owner"): NOT_FOUND, ("untracked", "owner"): UNTRACKED,
    # No purpose is no purpose rule: a bundle is not refused as a file of unknown purpose is.
    ("unknown_purpose", "peer"): OK_ORG,
}


@pytest.mark.parametrize(("state", "actor"), list(BUNDLE_TABLE))
def test_bundle_download_table(state: str, actor: str) -> None:
    """A bundle (a skill's content) downloads by visibility and the no_download flag alone."""
    bundle = STATES[state]
    if bundle is not None:
        bundle = dataclasses.replace(bundle, purpose="", kind="skill")
    decision = decide_bundle_download(Action.DOWNLOAD, ACTORS[actor], bundle, POLICY, NOW, "s")
    assert (200 if decision.allowed else decision.status, decision.reason) == (
        BUNDLE_TABLE[(state, actor)])
    assert decision.action is Action.DOWNLOAD
