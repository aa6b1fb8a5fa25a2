"""The sandbox's Skills API, driven as a user would: the official SDK and raw HTTP against a real
sandbox server. Skills, their versions and bundles, and the bodies that reference skills by id."""

from __future__ import annotations

import io
import zipfile
from typing import Any

import pytest
from openai import OpenAI

from tests.conftest import Sandbox
from tests.http import call
from tests.test_sandbox_evals import client as client  # the fixture, shared
from tests.test_sandbox_evals import send
from tests.test_sandbox_stored import error, refusal

SKILL_MD = b"---\nname: tidy\ndescription: Tidies tables\n---\nSort the columns first.\n"
SCRIPT = b"print('tidy')\n"
FOLDER: Any = [("tidy/SKILL.md", SKILL_MD), ("tidy/scripts/run.py", SCRIPT)]


def zipped(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        for name, data in files.items():
            bundle.writestr(name, data)
    return buffer.getvalue()


def unzipped(raw: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(raw)) as bundle:
        return {name: bundle.read(name) for name in bundle.namelist()}


def skill_md(name: str) -> bytes:
    return SKILL_MD.replace(b"name: tidy", f"name: {name}".encode())


# Skills


def test_skill_lifecycle(client: OpenAI) -> None:
    """A directory upload becomes version 1, named by its SKILL.md, whose content is a zip of the
    files; delete answers ``skill.deleted`` and the id is then unknown everywhere."""
    made = client.skills.create(files=FOLDER)
    assert (made.object, made.name, made.description) == ("skill", "tidy", "Tidies tables")
    assert (made.default_version, made.latest_version) == ("1", "1")
    assert made.id.startswith("skill_") and made.created_at > 0
    assert client.skills.retrieve(made.id).to_dict() == made.to_dict()
    assert unzipped(client.skills.content.retrieve(made.id).read()) == dict(FOLDER)
    assert [s.id for s in client.skills.list()] == [made.id]

    deleted = client.skills.delete(made.id)
    assert (deleted.id, deleted.object, deleted.deleted) == (made.id, "skill.deleted", True)
    missing = error(f"Skill with id '{made.id}' not found.")
    for gone in (
        lambda: client.skills.retrieve(made.id),
        lambda: client.skills.content.retrieve(made.id),
        lambda: client.skills.update(made.id, default_version="1"),
        lambda: client.skills.delete(made.id),
        lambda: client.skills.versions.list(made.id),
        lambda: client.skills.versions.retrieve("1", skill_id=made.id),
        lambda: client.skills.versions.content.retrieve("1", skill_id=made.id),
        lambda: client.skills.versions.create(made.id, files=FOLDER),
    ):
        assert refusal(gone) == (404, missing)


def test_a_single_zip_is_kept_as_sent(client: OpenAI, sandbox: Sandbox) -> None:
    """One uploaded .zip is the bundle byte for byte, named by the SKILL.md inside it; its
    content answers as application/zip."""
    raw = zipped({"report/SKILL.md": skill_md("report"), "report/template.txt": b"T"})
    made = client.skills.create(files=("report.zip", raw))
    assert (made.name, made.description) == ("report", "Tidies tables")
    assert client.skills.content.retrieve(made.id).read() == raw
    reply = send(sandbox, "GET", f"/v1/skills/{made.id}/content")
    assert (reply.status, reply.headers["content-type"], reply.body) == (200, "application/zip", raw)


@pytest.mark.parametrize(
    ("files", "name", "description"),
    [
        ([("notes/a.txt", b"a"), ("notes/b/c.txt", b"c")], "notes", ""),
        ([("readme.txt", b"a"), ("other/b.txt", b"b")], "readme", ""),
        ([("x/SKILL.md", b"No front matter here.\n")], "x", ""),
        ([("x/SKILL.md", b"---\ndescription: only this\n---\n")], "x", "only this"),
        ([("x/SKILL.md", b"---\nname: [unclosed\n---\n")], "x", ""),
        ([("a/SKILL.md", skill_md("outer")), ("a/ex/SKILL.md", skill_md("inner"))], "outer",
         "Tidies tables"),
    ],
    ids=["one folder names it", "else the first file's stem", "a manifest without front matter",
         "a manifest without a name", "front matter that is not YAML", "the shallowest manifest"],
)
def test_names_without_a_manifest_name(
    client: OpenAI, files: Any, name: str, description: str
) -> None:
    """Without a SKILL.md name the skill is named by its one top-level folder, else by the first
    file; the description is then its front matter's or empty."""
    made = client.skills.create(files=files)
    assert (made.name, made.description) == (name, description)


def test_skills_list_newest_first_and_pages(client: OpenAI) -> None:
    """Skills list newest first unless ``order=asc``, paged by ``after`` and ``limit``."""
    made = [client.skills.create(files=[(f"s{i}/SKILL.md", skill_md(f"s{i}"))]).id for i in range(3)]
    assert [s.id for s in client.skills.list()] == made[::-1]
    assert [s.id for s in client.skills.list(order="asc")] == made
    first = client.skills.list(limit=2)
    assert ([s.id for s in first.data], first.has_more) == (made[:0:-1], True)
    assert [s.id for s in client.skills.list(after=made[1])] == made[:1]


@pytest.mark.parametrize(
    ("parts", "message", "param"),
    [
        ([], "Missing required parameter: 'files'.", "files"),
        ([("files[]", "a.txt", b"a"), ("purpose", None, b"x")],
         "Additional properties are not allowed ('purpose' was unexpected)", None),
        ([("files", "bad.zip", b"not a zip")], "Invalid zip file: 'bad.zip'.", "files"),
        ([("files[]", "a/x.txt", b"1"), ("files[]", "a/./x.txt", b"2")],
         "Duplicate file path in 'files': 'a/x.txt'.", "files"),
        ([("files[]", "..", b"1")], "Invalid file name in 'files': '..'.", "files"),
    ],
    ids=["no files", "an unknown field", "a zip that is not one", "one path twice", "no path"],
)
def test_bad_uploads_are_400(
    sandbox: Sandbox, parts: list[tuple[str, str | None, bytes]], message: str, param: str | None
) -> None:
    """An upload without files, with other fields, with a broken zip or with clashing or empty
    paths is refused, and nothing is created."""
    reply = call(sandbox.url, "POST", "/v1/skills", *multipart(parts))
    assert reply.status == 400
    assert reply.json()["error"]["message"] == message
    assert reply.json()["error"]["param"] == param
    assert send(sandbox, "GET", "/v1/skills").json()["data"] == []


def multipart(parts: list[tuple[str, str | None, bytes]]) -> tuple[dict[str, str], bytes]:
    boundary = "skill-boundary"
    body = b""
    for name, filename, data in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        body += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + data + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    headers = {"Authorization": "Bearer sk-test", "Content-Type": f"multipart/form-data; boundary={boundary}"}
    return headers, body


def test_the_sdk_sends_files_as_files_brackets(client: OpenAI, sandbox: Sandbox) -> None:
    """The SDK names every part of a list ``files[]`` and a lone file ``files``; a version's
    ``default`` is a form field."""
    made = client.skills.create(files=FOLDER)
    client.skills.create(files=("one.zip", zipped({"SKILL.md": SKILL_MD})))
    client.skills.versions.create(made.id, files=FOLDER, default=True)
    logged = [(r["path"], sorted(r["files"]), r["form"]) for r in sandbox.requests()]
    assert logged == [
        ("/v1/skills", ["files[]"], {}),
        ("/v1/skills", ["files"], {}),
        (f"/v1/skills/{made.id}/versions", ["files[]"], {"default": "true"}),
    ]


# Versions


def test_versions_and_the_default(client: OpenAI) -> None:
    """A new version is the latest, and the default (whose name, description and content the
    skill answers) only when asked; ``update`` moves the default back."""
    skill = client.skills.create(files=FOLDER)
    versions = client.skills.versions
    second = versions.create(skill.id, files=[("tidy/SKILL.md", skill_md("tidier"))])
    assert (second.object, second.skill_id, second.version, second.name) == (
        "skill.version", skill.id, "2", "tidier")
    assert second.id.startswith("skillver_")
    after_second = client.skills.retrieve(skill.id)
    assert (after_second.default_version, after_second.latest_version, after_second.name) == (
        "1", "2", "tidy")
    assert unzipped(client.skills.content.retrieve(skill.id).read()) == dict(FOLDER)
    assert unzipped(versions.content.retrieve("2", skill_id=skill.id).read()) == {
        "tidy/SKILL.md": skill_md("tidier")}

    third = versions.create(skill.id, files=[("t/SKILL.md", skill_md("tidiest"))], default=True)
    current = client.skills.retrieve(skill.id)
    assert (current.default_version, current.latest_version, current.name) == ("3", "3", "tidiest")
    assert versions.retrieve("3", skill_id=skill.id).to_dict() == third.to_dict()

    moved = client.skills.update(skill.id, default_version="1")
    assert (moved.default_version, moved.latest_version, moved.name) == ("1", "3", "tidy")
    assert unzipped(client.skills.content.retrieve(skill.id).read()) == dict(FOLDER)


def test_versions_list_oldest_first_and_pages(client: OpenAI) -> None:
    """Versions list oldest first unless ``order=desc``, paged by version id."""
    skill = client.skills.create(files=FOLDER)
    for _ in range(2):
        client.skills.versions.create(skill.id, files=FOLDER)
    listed = client.skills.versions.list(skill.id)
    assert [v.version for v in listed] == ["1", "2", "3"]
    assert [v.version for v in client.skills.versions.list(skill.id, order="desc")] == ["3", "2", "1"]
    page = client.skills.versions.list(skill.id, limit=1, after=listed.data[0].id)
    assert ([v.version for v in page.data], page.has_more) == (["2"], True)


def test_deleting_versions(client: OpenAI) -> None:
    """A deleted version is gone and its number never reused; ``latest_version`` falls back; the
    default version cannot be deleted."""
    skill = client.skills.create(files=FOLDER)
    versions = client.skills.versions
    second = versions.create(skill.id, files=FOLDER)
    deleted = versions.delete("2", skill_id=skill.id)
    assert (deleted.id, deleted.object, deleted.deleted, deleted.version) == (
        second.id, "skill.version.deleted", True, "2")
    assert client.skills.retrieve(skill.id).latest_version == "1"
    missing = error(f"Version '2' of skill with id '{skill.id}' not found.")
    for gone in (lambda: versions.retrieve("2", skill_id=skill.id),
                 lambda: versions.content.retrieve("2", skill_id=skill.id),
                 lambda: versions.delete("2", skill_id=skill.id)):
        assert refusal(gone) == (404, missing)
    assert refusal(lambda: client.skills.update(skill.id, default_version="2")) == (
        404, error(missing["message"], "default_version"))
    assert versions.create(skill.id, files=FOLDER).version == "3"

    assert refusal(lambda: versions.delete("1", skill_id=skill.id)) == (400, error(
        f"Cannot delete version '1': it is the default version of skill with id '{skill.id}'. "
        "Make another version the default first.", "version"))


def test_a_version_default_must_be_a_boolean(sandbox: Sandbox, client: OpenAI) -> None:
    """A ``default`` other than true or false is refused and makes no version."""
    skill = client.skills.create(files=FOLDER)
    parts = [("default", None, b"maybe"), ("files[]", "a/SKILL.md", SKILL_MD)]
    reply = call(sandbox.url, "POST", f"/v1/skills/{skill.id}/versions", *multipart(parts))
    assert (reply.status, reply.json()["error"]["param"]) == (400, "default")
    assert [v.version for v in client.skills.versions.list(skill.id)] == ["1"]


# References by id


def shell(skill: dict[str, Any]) -> dict[str, Any]:
    return {"model": "m", "input": "hi", "tools": [
        {"type": "shell", "environment": {"type": "container_auto", "skills": [skill]}}]}


REFERRERS = [
    ("/v1/containers", lambda skill: {"name": "c", "skills": [skill]}, "skills[0]"),
    ("/v1/responses", shell, "tools[0].environment.skills[0]"),
    ("/v1/responses", lambda skill: {"model": "m", "input": "hi", "tools": [
        {"type": "code_interpreter", "container": {"type": "container_auto", "skills": [skill]}}]},
     "tools[0].container.skills[0]"),
]


@pytest.mark.parametrize(("path", "body", "at"), REFERRERS, ids=["container", "shell", "code"])
def test_references_name_known_skills(
    client: OpenAI, sandbox: Sandbox, path: str, body: Any, at: str
) -> None:
    """A known skill (default, numbered or latest version) is accepted; an unknown skill or
    version is a 404 whose param points at it."""
    skill_id = client.skills.create(files=FOLDER).id
    for version in ({}, {"version": "1"}, {"version": "latest"}):
        reference = {"type": "skill_reference", "skill_id": skill_id, **version}
        assert send(sandbox, "POST", path, body(reference)).status == 200
    inline = {"type": "inline", "name": "n", "description": "d",
              "source": {"type": "base64", "media_type": "application/zip", "data": "UEs="}}
    assert send(sandbox, "POST", path, body(inline)).status == 200

    unknown = send(sandbox, "POST", path, body({"type": "skill_reference", "skill_id": "skill_gone"}))
    assert (unknown.status, unknown.json()["error"]) == (
        404, error("Skill with id 'skill_gone' not found.", f"{at}.skill_id"))
    wrong = send(sandbox, "POST", path, body({"type": "skill_reference", "skill_id": skill_id,
                                              "version": "9"}))
    assert (wrong.status, wrong.json()["error"]) == (
        404, error(f"Version '9' of skill with id '{skill_id}' not found.", f"{at}.version"))
