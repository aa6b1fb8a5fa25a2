"""Skills belong to their uploader: seen, listed, changed and referenced by the file rules, and
their bundles downloaded by visibility and `no_download`. Official SDK over real HTTP against
the sandbox.

alice and bob share org acme; carol is in globex.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from typing import Any

import openai
import pytest

from tests.conftest import Gateway
from tests.http import call
from tests.sdk import refused

SKILL_MD = b"---\nname: tidy\ndescription: Tidies tables\n---\nSecret instructions.\n"


def make_skill(gateway: Gateway, who: str, access: str | None = None) -> str:
    return gateway.client(who).skills.create(
        files=[("tidy/SKILL.md", io.BytesIO(SKILL_MD))],
        extra_headers={"X-File-Access": access} if access else {},
    ).id


def bundle_text(raw: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(raw)) as bundle:
        return "".join(bundle.read(name).decode() for name in bundle.namelist())


NOT_FOUND = (404, "file_not_found")


def test_skills_are_their_org_s(gateway: Gateway) -> None:
    skill_id = make_skill(gateway, "alice")
    alice, bob, carol = (gateway.client(who).skills for who in ("alice", "bob", "carol"))

    assert "Secret instructions" in bundle_text(bob.content.retrieve(skill_id).read())
    assert [s.id for s in bob.list()] == [skill_id]
    version = alice.versions.create(skill_id, files=[("tidy/SKILL.md", io.BytesIO(SKILL_MD))])
    assert [v.version for v in bob.versions.list(skill_id)][-1] == version.version

    gateway.sandbox.clear()
    assert refused(lambda: carol.retrieve(skill_id)) == NOT_FOUND
    assert refused(lambda: carol.content.retrieve(skill_id)) == NOT_FOUND
    assert refused(lambda: carol.update(skill_id, default_version=version.version)) == NOT_FOUND
    assert refused(lambda: carol.versions.list(skill_id)) == NOT_FOUND
    assert refused(lambda: carol.versions.content.retrieve(version.version,
                                                           skill_id=skill_id)) == NOT_FOUND
    assert refused(lambda: carol.versions.create(
        skill_id, files=[("x/SKILL.md", io.BytesIO(SKILL_MD))])) == NOT_FOUND
    assert refused(lambda: carol.versions.delete(version.version, skill_id=skill_id)) == NOT_FOUND
    assert refused(lambda: carol.delete(skill_id)) == NOT_FOUND
    assert gateway.sandbox.requests() == []
    assert [s.id for s in carol.list()] == []

    assert alice.delete(skill_id).deleted
    assert refused(lambda: alice.retrieve(skill_id)) == NOT_FOUND


def test_a_skill_s_flags_guard_its_bundle(gateway: Gateway) -> None:
    private = make_skill(gateway, "alice", "private_only")
    sealed = make_skill(gateway, "alice", "no_download")
    alice, bob = gateway.client("alice").skills, gateway.client("bob").skills

    assert "Secret" in bundle_text(alice.content.retrieve(private).read())
    assert refused(lambda: bob.retrieve(private)) == (403, "private_only_forbidden")
    assert refused(lambda: bob.content.retrieve(private)) == (403, "private_only_forbidden")
    assert [s.id for s in bob.list()] == [sealed]

    assert alice.retrieve(sealed).id == sealed  # usable, not downloadable
    version = alice.retrieve(sealed).default_version
    gateway.sandbox.clear()
    assert refused(lambda: alice.content.retrieve(sealed)) == (403, "download_disabled")
    assert refused(lambda: alice.versions.content.retrieve(version, skill_id=sealed)) == (
        403, "download_disabled")
    assert gateway.sandbox.requests() == []
    assert gateway.metric("files_gateway_decisions_total", action="download", decision="deny",
                          reason="download_disabled", purpose="unknown") == 2

    with pytest.raises(openai.BadRequestError):
        make_skill(gateway, "alice", "private_only,bogus")


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/containers", lambda s: {"name": "c", "skills": [
            {"type": "skill_reference", "skill_id": s}]}),
        ("/v1/responses", lambda s: {"model": "m", "input": "hi", "tools": [
            {"type": "shell", "environment": {"type": "container_auto", "skills": [
                {"type": "skill_reference", "skill_id": s}]}}]}),
    ],
    ids=["container", "responses shell tool"],
)
def test_skills_referenced_by_id_follow_their_rules(
    gateway: Gateway, path: str, body: Callable[[str], dict[str, Any]]
) -> None:
    mine, private = make_skill(gateway, "alice"), make_skill(gateway, "alice", "private_only")
    for who, skill_id, expected in (("carol", mine, NOT_FOUND),
                                    ("bob", private, (403, "private_only_forbidden"))):
        gateway.sandbox.clear()
        reply = call(gateway.url, "POST", path,
                     {"Authorization": f"Bearer sk-{who}", "Content-Type": "application/json"},
                     json.dumps(body(skill_id)).encode())
        assert (reply.status, reply.code) == expected, reply.body
        assert reply.json()["error"]["param"].endswith("skills[0].skill_id")
        assert gateway.sandbox.requests() == []
    allowed = call(gateway.url, "POST", path,
                   {"Authorization": "Bearer sk-bob", "Content-Type": "application/json"},
                   json.dumps(body(mine)).encode())
    assert allowed.status == 200, allowed.body
