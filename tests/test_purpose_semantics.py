"""Purpose semantics users can rely on: the published matrix, introspection, learning from the
upstream, grandfathering, re-tagging, deprecation and sunset."""

from __future__ import annotations

import datetime as dt
import io
import json
import subprocess
import sys
from functools import partial
from typing import Any

import openai
import pytest

from tests import sdk
from tests.conftest import (
    ROOT,
    Gateway,
    GatewayFactory,
    MemorySink,
)
from tests.http import call


def auth(who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer sk-{who}", "Content-Type": "application/json"}


upload = partial(sdk.upload, data=b"{}\n", filename="d.jsonl")


def test_matrix_endpoint_and_docs_agree(sqlite_gateway: Gateway) -> None:
    """The JSON matrix has every purpose; its Markdown form is the committed docs/purposes.md."""
    matrix = call(sqlite_gateway.url, "GET", "/gateway/v1/purposes", auth("alice")).json()
    rows = {row["purpose"]: row for row in matrix["purposes"]}
    assert rows["user_data"]["download"] == "org"
    assert rows["user_data"]["upstream_download"] == "refused"
    assert rows["batch_output"]["inherits_from"] == "batch"
    assert matrix["apis"]["assistants"]["sunset"] == "2026-08-26"
    markdown = call(sqlite_gateway.url, "GET", "/gateway/v1/purposes?format=markdown",
                    auth("alice"))
    assert markdown.headers["content-type"].startswith("text/markdown")
    committed = (ROOT / "docs" / "purposes.md").read_text()
    assert markdown.body.decode() == committed
    printed = subprocess.run([sys.executable, "-m", "gateway", "purposes", "--format", "markdown"],
                             capture_output=True, text=True, check=True, cwd=ROOT)
    assert printed.stdout == committed, "docs/purposes.md drifted: regenerate it"


def test_access_introspection(sqlite_gateway: Gateway) -> None:
    """The access endpoint says, per caller, what each action would do, and what upstream does."""
    gateway = sqlite_gateway
    notes = upload(gateway, "alice", "user_data", "private_only")
    mine = call(gateway.url, "GET", f"/gateway/v1/files/{notes}/access", auth("alice")).json()
    assert mine["purpose"] == "user_data"
    assert mine["flags"] == ["private_only"]
    assert mine["owner_is_you"] is True
    assert mine["actions"]["download"] == {"allowed": True, "reason": "owner", "upstream": "refused"}
    peer = call(gateway.url, "GET", f"/gateway/v1/files/{notes}/access", auth("bob")).json()
    assert peer["actions"]["retrieve"] == {"allowed": False, "reason": "private_only_forbidden"}
    other = call(gateway.url, "GET", f"/gateway/v1/files/{notes}/access", auth("carol"))
    assert (other.status, other.code) == (404, "file_not_found")
    # What introspection promised is what happens.
    with pytest.raises(openai.PermissionDeniedError) as refused:
        gateway.client("alice").files.content(notes)
    assert refused.value.code == "purpose_download_forbidden"


@pytest.mark.parametrize(("purpose", "access", "downloadable"), [
    ("batch", None, True), ("user_data", None, False), ("batch", "no_download", False),
])
def test_gateway_object_on_every_file_object(
    sqlite_gateway: Gateway, purpose: str, access: str | None, downloadable: bool
) -> None:
    """create, retrieve and list all carry `gateway` with the same `downloadable`."""
    client = sqlite_gateway.client("alice")
    created = client.files.create(
        file=("d.jsonl", io.BytesIO(b"{}\n")), purpose=purpose,  # type: ignore[arg-type]
        extra_headers={"X-File-Access": access} if access else {},
    )
    views = [
        created.model_extra,
        client.files.retrieve(created.id).model_extra,
        next(f for f in client.files.list() if f.id == created.id).model_extra,
    ]
    for view in views:
        assert (view or {})["gateway"]["downloadable"] is downloadable


def test_upstream_refusal_is_learned_and_shared(make_gateway: GatewayFactory) -> None:
    """A refusal the policy did not expect is learnt, dated, stored and seen by other replicas."""

    def unknown_upstream(policy: dict[str, Any]) -> None:
        policy["purposes"]["user_data"]["upstream_download"] = "unknown"

    first = make_gateway(unknown_upstream)
    notes = upload(first, "alice", "user_data")
    assert (first.client("alice").files.retrieve(notes).model_extra or {})["gateway"][
        "downloadable"] is True
    with pytest.raises(openai.PermissionDeniedError):
        first.client("alice").files.content(notes)
    rows = {r["purpose"]: r for r in
            call(first.url, "GET", "/gateway/v1/purposes", auth("alice")).json()["purposes"]}
    assert rows["user_data"]["upstream_download"] == "refused"
    assert rows["user_data"]["upstream_observed"] == dt.datetime.now(dt.UTC).date().isoformat()
    assert (first.client("alice").files.retrieve(notes).model_extra or {})["gateway"][
        "downloadable"] is False
    second = make_gateway(unknown_upstream)
    access = call(second.url, "GET", f"/gateway/v1/files/{notes}/access", auth("alice")).json()
    assert access["actions"]["download"]["upstream"] == "refused"


def test_grandfathered_rule_change(make_gateway: GatewayFactory) -> None:
    """A rule with effective_from applies to files recorded after it; older files keep theirs."""
    tomorrow = (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)).isoformat()

    def tighten(policy: dict[str, Any]) -> None:
        policy["purposes"]["batch"].update(
            {"download": "owner", "effective_from": tomorrow, "previous": {"download": "org"}}
        )

    gateway = make_gateway(tighten)
    before = upload(gateway, "alice", "batch")
    call(gateway.sandbox.url, "POST", "/__sandbox/clock", {"Content-Type": "application/json"},
         json.dumps({"advance": 2 * 86400}).encode())
    after = upload(gateway, "alice", "batch")
    bob = gateway.client("bob")
    assert bob.files.content(before).content == b"{}\n"
    with pytest.raises(openai.PermissionDeniedError) as denied:
        bob.files.content(after)
    assert denied.value.code == "purpose_download_forbidden"
    assert gateway.client("alice").files.content(after).content == b"{}\n"


def test_retag_by_owner_admin_and_refusal(make_gateway: GatewayFactory) -> None:
    """Owner and org admin change flags (audited old and new); anyone else gets 403."""
    sink = MemorySink()
    gateway = make_gateway(sinks=[sink])
    file_id = upload(gateway, "alice", "batch")
    path = f"/gateway/v1/files/{file_id}/access"
    body = json.dumps({"flags": ["private_only"]}).encode()
    denied = call(gateway.url, "POST", path, auth("bob"), body)
    assert (denied.status, denied.code) == (403, "flags_change_forbidden")
    changed = call(gateway.url, "POST", path, auth("alice"), body)
    assert changed.status == 200, changed.body
    assert changed.json()["flags"] == ["private_only"]
    with pytest.raises(openai.PermissionDeniedError):
        gateway.client("bob").files.content(file_id)
    by_admin = call(gateway.url, "POST", path, auth("root"), json.dumps({"flags": []}).encode())
    assert by_admin.status == 200, by_admin.body
    assert gateway.client("bob").files.content(file_id).content == b"{}\n"
    retags = [e for e in sink.events if e["action"] == "retag"]
    assert [(e["decision"], e.get("old_flags"), e.get("new_flags")) for e in retags] == [
        ("deny", None, None),
        ("allow", [], ["private_only"]),
        ("allow", ["private_only"], []),
    ]
    bad = call(gateway.url, "POST", path, auth("alice"), json.dumps({"flags": ["x"]}).encode())
    assert (bad.status, bad.code) == (400, "invalid_access_flag")
    foreign = call(gateway.url, "POST", path, auth("carol"), body)
    assert (foreign.status, foreign.code) == (404, "file_not_found")


def test_sunset_api_is_refused_without_upstream_call(sqlite_gateway: Gateway) -> None:
    """After its sunset the Assistants API answers 410 api_sunset naming the replacement."""
    sqlite_gateway.sandbox.clear()
    reply = call(sqlite_gateway.url, "POST", "/v1/assistants", auth("alice"),
                 json.dumps({"model": "gpt-4o"}).encode())
    assert (reply.status, reply.code) == (410, "api_sunset")
    assert "responses" in reply.json()["error"]["message"]
    assert reply.headers["sunset"] == "Wed, 26 Aug 2026 00:00:00 GMT"
    assert reply.headers["deprecation"] == "@1756166400"
    assert reply.headers["link"].endswith('rel="deprecation"')
    assert sqlite_gateway.sandbox.requests() == []


def test_deprecated_api_and_purpose_headers(make_gateway: GatewayFactory) -> None:
    """Before the sunset, deprecated APIs and purposes answer with RFC 9745/8594 headers."""

    def deprecate(policy: dict[str, Any]) -> None:
        policy["apis"]["assistants"]["deprecated"]["enforce_sunset"] = False
        policy["purposes"]["vision"]["deprecated"] = {
            "since": "2026-01-01", "sunset": "2027-01-01", "replacement": "user_data",
            "guide": "https://example.test/vision"}

    gateway = make_gateway(deprecate)
    reply = call(gateway.url, "GET", "/v1/assistants", auth("alice"))
    assert reply.headers["deprecation"] == "@1756166400"
    image = upload(gateway, "alice", "vision")
    raw = gateway.client("alice").files.with_raw_response.retrieve(image)
    assert raw.headers["sunset"] == "Fri, 01 Jan 2027 00:00:00 GMT"
    assert raw.headers["link"] == '<https://example.test/vision>; rel="deprecation"'
    plain = gateway.client("alice").files.with_raw_response.retrieve(upload(gateway, "alice", "batch"))
    assert "deprecation" not in plain.headers
