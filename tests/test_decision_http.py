"""The decision table end to end: actors x file states x actions, through real HTTP.

Every denial also shows, through the sandbox, that the upstream saw no request.
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Callable

import pytest

from gateway import keys
from gateway.records import FileRecord
from tests.conftest import KEYS, Gateway
from tests.http import call

ACTORS = {
    "owner": "sk-alice",
    "peer": "sk-bob",
    "other_org": "sk-carol",
    "unknown_key": "sk-nobody-knows-me",
    "no_key": None,
}
OK = (200, None)
NF = (404, "file_not_found")
PRIV = (403, "private_only_forbidden")
EXP = (410, "file_expired")
UNTR = (403, "file_untracked")
NOKEY = (401, "missing_api_key")
UP = (403, "purpose_download_forbidden")
NODL = (403, "download_disabled")

# state -> actor -> (download, retrieve, delete); list visibility follows retrieve.
TABLE: dict[str, dict[str, tuple[tuple[int, str | None], ...]]] = {
    "plain": {"owner": (OK, OK, OK), "peer": (OK, OK, OK)},
    "private_only": {"owner": (OK, OK, OK), "peer": (PRIV, PRIV, PRIV)},
    "no_download": {"owner": (NODL, OK, OK), "peer": (NODL, OK, OK)},
    "ephemeral_expired": {"owner": (EXP, EXP, EXP), "peer": (EXP, EXP, EXP)},
    "user_data": {"owner": (UP, OK, OK), "peer": (UP, OK, OK)},
    "vision": {"owner": (OK, OK, OK), "peer": (OK, OK, OK)},
    "untracked": {"owner": (UNTR,) * 3, "peer": (UNTR,) * 3},
    "deleted": {"owner": (NF,) * 3, "peer": (NF,) * 3},
}
for state, row in TABLE.items():
    outsider = (UNTR,) * 3 if state == "untracked" else (NF,) * 3
    row["other_org"] = outsider
    row["unknown_key"] = outsider
    row["no_key"] = (NOKEY,) * 3

ACTIONS = {"download": 0, "retrieve": 1, "delete": 2}


def make_file(gateway: Gateway, state: str) -> str:
    client = gateway.client("alice")
    if state == "untracked":
        return gateway.sandbox.seed("batch")
    purpose = {"user_data": "user_data", "vision": "vision"}.get(state, "batch")
    access = {"private_only": "private_only", "no_download": "no_download",
              "ephemeral_expired": "ephemeral"}.get(state)
    created = client.files.create(
        file=("f.jsonl", io.BytesIO(b"{}\n")), purpose=purpose,  # type: ignore[arg-type]
        extra_headers={"X-File-Access": access} if access else {},
    )
    if state == "deleted":
        client.files.delete(created.id)
    if state == "ephemeral_expired":
        store = gateway.app[keys.STORE]

        async def expire() -> None:
            record = await store.get(created.id)
            assert record is not None
            await store.put(dataclasses.replace(record, expires_at=record.created_at - 1))

        gateway.server.call(expire)
    return created.id


def headers_for(actor: str) -> dict[str, str]:
    key = ACTORS[actor]
    return {"Authorization": f"Bearer {key}"} if key else {}


PATHS: dict[str, tuple[str, Callable[[str], str]]] = {
    "download": ("GET", lambda fid: f"/v1/files/{fid}/content"),
    "retrieve": ("GET", lambda fid: f"/v1/files/{fid}"),
    "delete": ("DELETE", lambda fid: f"/v1/files/{fid}"),
}


@pytest.mark.parametrize("action", list(ACTIONS))
@pytest.mark.parametrize("actor", list(ACTORS))
@pytest.mark.parametrize("state", list(TABLE))
def test_decision(gateway: Gateway, state: str, actor: str, action: str) -> None:
    """The gateway answers each actor/state/action as the table says; refusals never go up."""
    file_id = make_file(gateway, state)
    expected = TABLE[state][actor][ACTIONS[action]]
    gateway.sandbox.clear()
    method, path = PATHS[action]
    reply = call(gateway.url, method, path(file_id), headers_for(actor))
    assert (reply.status, reply.code if reply.status != 200 else None) == expected, reply.body
    upstream_calls = gateway.sandbox.requests()
    if expected == UP:
        assert [r["path"] for r in upstream_calls] == [path(file_id)]
        assert reply.json()["error"]["source"] == "upstream"
    elif expected != OK:
        assert upstream_calls == []
        assert reply.headers["x-gateway-reason"] == expected[1]
        assert reply.headers["x-should-retry"] == "false"


@pytest.mark.parametrize("actor", ["owner", "peer", "other_org", "unknown_key"])
def test_list_shows_only_what_retrieve_allows(gateway: Gateway, actor: str) -> None:
    """A list shows a file exactly when the caller may retrieve it; hidden ids never appear."""
    made = {state: make_file(gateway, state) for state in TABLE}
    reply = call(gateway.url, "GET", "/v1/files?limit=100", headers_for(actor))
    assert reply.status == 200
    listed = {item["id"] for item in reply.json()["data"]}
    for state, file_id in made.items():
        visible = TABLE[state][actor][ACTIONS["retrieve"]] == OK
        assert (file_id in listed) is visible, state
        if not visible:
            assert file_id.encode() not in reply.body


def test_no_key_on_list_is_refused(gateway: Gateway) -> None:
    """Without a key the list is refused with 401 missing_api_key and no upstream call."""
    gateway.sandbox.clear()
    reply = call(gateway.url, "GET", "/v1/files", {})
    assert (reply.status, reply.code) == NOKEY
    assert gateway.sandbox.requests() == []


def test_keys_are_distinct() -> None:
    """The test principals have distinct keys (a guard for the table above)."""
    assert len({key for key, _, _ in KEYS.values()}) == len(KEYS)


def test_record_round_trip() -> None:
    """A record survives its JSON form unchanged, flags included."""
    record = FileRecord("file-1", "alice", "acme", "batch", frozenset({"ephemeral"}), 5, "v",
                        expires_at=10)
    assert FileRecord.from_json(record.to_json()) == record
