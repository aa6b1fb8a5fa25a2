"""The sandbox's Containers API, driven as a user would: the official SDK against a real sandbox
server on 127.0.0.1. Containers and their files are created, listed page by page, and deleted;
what was deleted (and everything under a deleted container) then answers OpenAI's 404, and its
bytes are gone from the sandbox's data directory."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from openai import OpenAI

from gateway.sandbox.keys import STATE
from tests.conftest import Sandbox
from tests.test_sandbox_evals import client as client  # the fixture, shared
from tests.test_sandbox_evals import send
from tests.test_sandbox_stored import error, refusal


def container_dir(sandbox: Sandbox, container_id: str) -> Path:
    """Where the sandbox keeps a container's bytes, under its own data directory."""
    root: Path = sandbox.server.apps[0][STATE].root
    return root / "containers" / container_id


def page_fields(page: Any) -> tuple[Any, Any, Any]:
    """``first_id``, ``last_id`` and ``has_more`` of a page as the SDK parsed it (the first two
    are not declared by ``SyncCursorPage``, so they are kept as extra fields)."""
    extra = page.model_extra or {}
    return extra.get("first_id"), extra.get("last_id"), page.has_more


def gone_container(container_id: str) -> tuple[int, Any]:
    return 404, error(f"No such Container: {container_id}", param="id")


def gone_file(cfile_id: str) -> tuple[int, Any]:
    return 404, error(f"No such ContainerFile: {cfile_id}", param="id")


# Containers


def test_container_lifecycle(client: OpenAI) -> None:
    """Create, retrieve and list agree; delete answers 200 with ``container.deleted``, which the
    SDK casts to None; the id is then unknown to every route."""
    made = client.containers.create(name="analysis", memory_limit="4g")
    assert (made.object, made.name, made.status, made.memory_limit) == (
        "container", "analysis", "running", "4g")
    assert made.id.startswith("cntr_")
    assert client.containers.retrieve(made.id).to_dict() == made.to_dict()
    [listed] = client.containers.list()
    assert listed.to_dict() == made.to_dict()

    raw = client.containers.with_raw_response.delete(made.id)
    assert raw.status_code == 200
    assert raw.http_request.headers["accept"] == "*/*"
    assert raw.http_response.json() == {"id": made.id, "object": "container.deleted", "deleted": True}
    assert raw.parse() is None

    assert list(client.containers.list()) == []
    for gone in (
        lambda: client.containers.retrieve(made.id),
        lambda: client.containers.delete(made.id),
        lambda: client.containers.files.list(made.id),
        lambda: client.containers.files.create(made.id, file=("a.txt", b"x")),
    ):
        assert refusal(gone) == gone_container(made.id)


def test_sdk_delete_returns_none(client: OpenAI) -> None:
    """The plain SDK call, not the raw one, is what callers write."""
    made = client.containers.create(name="c")
    assert client.containers.delete(made.id) is None  # type: ignore[func-returns-value]
    assert refusal(lambda: client.containers.retrieve(made.id)) == gone_container(made.id)


def test_container_list_pages_orders_and_filters(client: OpenAI, sandbox: Sandbox) -> None:
    """Newest first by default; ``after``/``limit`` page with ``first_id``/``last_id``/
    ``has_more``; the SDK's auto-pagination follows ``after``; ``name`` filters exactly."""
    made = [client.containers.create(name="even" if n % 2 == 0 else "odd").id for n in range(5)]
    newest_first = made[::-1]

    first = client.containers.list(limit=2)
    assert [c.id for c in first.data] == newest_first[:2]
    assert page_fields(first) == (newest_first[0], newest_first[1], True)
    last = client.containers.list(limit=2, after=newest_first[3])
    assert page_fields(last) == (newest_first[4], newest_first[4], False)

    sandbox.clear()
    assert [c.id for c in client.containers.list(limit=2)] == newest_first
    afters = [r["query"].get("after") for r in sandbox.requests()]
    assert afters == [None, newest_first[1], newest_first[3]]

    assert [c.id for c in client.containers.list(order="asc", limit=100)] == made
    assert [c.id for c in client.containers.list(name="even")] == [made[4], made[2], made[0]]
    assert [c.id for c in client.containers.list(name="odd", order="asc")] == [made[1], made[3]]
    assert list(client.containers.list(name="ev")) == []
    empty = client.containers.list(after="cntr_unknown")
    assert (empty.data, page_fields(empty)) == ([], (None, None, False))


@pytest.mark.parametrize(
    ("query", "status", "message", "param"),
    [
        ("limit=0", 400, "Invalid 'limit': expected a value between 1 and 100, but got 0 instead.",
         "limit"),
        ("limit=101", 400,
         "Invalid 'limit': expected a value between 1 and 100, but got 101 instead.", "limit"),
        ("order=up", 400, "'up' is not one of ['asc', 'desc'] - 'order'", None),
    ],
)
def test_list_query_refusals(
    client: OpenAI, sandbox: Sandbox, query: str, status: int, message: str, param: str | None
) -> None:
    """Both lists validate ``limit`` and ``order`` as the sandbox's other lists do."""
    made = client.containers.create(name="c").id
    for path in ("/v1/containers", f"/v1/containers/{made}/files"):
        reply = send(sandbox, "GET", f"{path}?{query}")
        assert reply.status == status
        assert (reply.json()["error"]["message"], reply.json()["error"]["param"]) == (message, param)


# Container files


def test_container_file_list_pages(client: OpenAI) -> None:
    """Copied and uploaded files list newest first, page by ``after``/``limit`` and auto-paginate;
    each item parses as the SDK's ``FileListResponse``."""
    source = client.files.create(file=("seed.csv", b"a,b\n"), purpose="user_data")
    container = client.containers.create(name="c", file_ids=[source.id])
    copied = client.containers.files.list(container.id).data[0].id
    uploaded = [
        client.containers.files.create(container.id, file=(f"f{n}.txt", io.BytesIO(b"x" * n))).id
        for n in range(1, 4)
    ]
    oldest_first = [copied, *uploaded]
    newest_first = oldest_first[::-1]

    first = client.containers.files.list(container.id, limit=3)
    assert [f.id for f in first.data] == newest_first[:3]
    assert page_fields(first) == (newest_first[0], newest_first[2], True)
    assert [f.id for f in client.containers.files.list(container.id, limit=1)] == newest_first
    ascending = list(client.containers.files.list(container.id, order="asc", after=copied))
    assert [f.id for f in ascending] == uploaded
    assert [(f.object, f.container_id, f.source, f.bytes, f.path) for f in ascending] == [
        ("container.file", container.id, "user", n, f"/mnt/data/f{n}.txt") for n in range(1, 4)]
    seed = client.containers.files.retrieve(copied, container_id=container.id)
    assert (seed.bytes, seed.path) == (4, "/mnt/data/seed.csv")


def test_container_file_delete(client: OpenAI, sandbox: Sandbox) -> None:
    """Delete answers 200 with ``container.file.deleted`` (None to the SDK), removes the bytes
    and only that file; the source File is untouched."""
    source = client.files.create(file=("seed.csv", b"a,b\n"), purpose="user_data")
    container = client.containers.create(name="c")
    doomed = client.containers.files.create(container.id, file_id=source.id)
    kept = client.containers.files.create(container.id, file=("k.txt", b"keep"))
    doomed_bytes = container_dir(sandbox, container.id) / doomed.id
    assert doomed_bytes.read_bytes() == b"a,b\n"

    raw = client.containers.files.with_raw_response.delete(doomed.id, container_id=container.id)
    assert raw.status_code == 200
    assert raw.http_response.json() == {
        "id": doomed.id, "object": "container.file.deleted", "deleted": True}
    assert raw.parse() is None
    assert not doomed_bytes.exists()

    files = client.containers.files
    for gone in (
        lambda: files.retrieve(doomed.id, container_id=container.id),
        lambda: files.content.retrieve(doomed.id, container_id=container.id),
        lambda: files.delete(doomed.id, container_id=container.id),
    ):
        assert refusal(gone) == gone_file(doomed.id)
    assert [f.id for f in files.list(container.id)] == [kept.id]
    assert files.content.retrieve(kept.id, container_id=container.id).content == b"keep"
    assert client.files.retrieve(source.id).bytes == 4  # user_data Files are not downloadable


def test_file_of_another_container_is_not_found(client: OpenAI) -> None:
    """A ``cfile_`` id answers only under its own container."""
    one = client.containers.create(name="one")
    other = client.containers.create(name="other")
    held = client.containers.files.create(one.id, file=("a.txt", b"a"))
    for gone in (
        lambda: client.containers.files.retrieve(held.id, container_id=other.id),
        lambda: client.containers.files.delete(held.id, container_id=other.id),
    ):
        assert refusal(gone) == gone_file(held.id)
    assert client.containers.files.retrieve(held.id, container_id=one.id).id == held.id


def test_deleting_a_container_removes_its_files_and_bytes(client: OpenAI, sandbox: Sandbox) -> None:
    """Every file under a deleted container answers 404 and its folder is gone; other containers
    and the Files the copies came from stay."""
    source = client.files.create(file=("seed.csv", b"a,b\n"), purpose="user_data")
    doomed = client.containers.create(name="doomed", file_ids=[source.id])
    upload = client.containers.files.create(doomed.id, file=("u.txt", b"uploaded"))
    survivor = client.containers.create(name="survivor", file_ids=[source.id])
    folder = container_dir(sandbox, doomed.id)
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        f.id for f in client.containers.files.list(doomed.id))

    client.containers.delete(doomed.id)
    assert not folder.exists()
    files = client.containers.files
    for gone in (
        lambda: files.retrieve(upload.id, container_id=doomed.id),
        lambda: files.content.retrieve(upload.id, container_id=doomed.id),
        lambda: files.delete(upload.id, container_id=doomed.id),
        lambda: files.create(doomed.id, file_id=source.id),
    ):
        assert refusal(gone) == gone_container(doomed.id)

    assert [c.id for c in client.containers.list()] == [survivor.id]
    [copy] = files.list(survivor.id)
    assert files.content.retrieve(copy.id, container_id=survivor.id).content == b"a,b\n"
    assert client.files.retrieve(source.id).id == source.id


def test_unknown_ids_answer_the_sandbox_404(client: OpenAI) -> None:
    """Ids never made answer the same 404 bodies as deleted ones."""
    assert refusal(lambda: client.containers.delete("cntr_none")) == gone_container("cntr_none")
    made = client.containers.create(name="c")
    assert refusal(
        lambda: client.containers.files.delete("cfile_none", container_id=made.id)
    ) == gone_file("cfile_none")
