"""End to end through the official openai SDK, sync and async, on both stores."""

from __future__ import annotations

import io

import openai
import pytest

from tests.conftest import Gateway
from tests.http import call


def upload(gateway: Gateway, who: str = "alice", purpose: str = "batch", access: str | None = None,
           data: bytes = b'{"a": 1}\n', via: str = "header") -> str:
    client = gateway.client(who)
    kwargs: dict[str, object] = {}
    if access is not None and via == "header":
        kwargs["extra_headers"] = {"X-File-Access": access}
    if access is not None and via == "field":
        kwargs["extra_body"] = {"access": access}
    created = client.files.create(
        file=("input.jsonl", io.BytesIO(data)), purpose=purpose, **kwargs  # type: ignore[arg-type]
    )
    return created.id


def test_upload_records_owner_and_returns_gateway_view(gateway: Gateway) -> None:
    """An upload is recorded with its owner, purpose and flags, and says so in `gateway`."""
    client = gateway.client("alice")
    created = client.files.create(
        file=("x.jsonl", io.BytesIO(b"{}\n")), purpose="batch",
        extra_headers={"X-File-Access": "private_only"},
    )
    view = (created.model_extra or {})["gateway"]
    assert view == {"access": ["private_only"], "downloadable": True, "owner_is_you": True}
    sent = [r for r in gateway.sandbox.requests() if r["method"] == "POST"][-1]
    assert sent["form"] == {"purpose": "batch"}
    assert "x-file-access" not in sent["headers"]
    assert sent["files"]["file"]["bytes"] == 3


@pytest.mark.parametrize("via", ["header", "field"])
def test_flags_by_header_or_field_are_stripped_and_enforced(gateway: Gateway, via: str) -> None:
    """Flags from the header or the `access` field never reach upstream, and are enforced."""
    file_id = upload(gateway, access="private_only", via=via)
    sent = [r for r in gateway.sandbox.requests() if r["method"] == "POST"][-1]
    assert "access" not in sent["form"]
    assert "x-file-access" not in sent["headers"]
    assert gateway.client("alice").files.content(file_id).content == b'{"a": 1}\n'
    gateway.sandbox.clear()
    with pytest.raises(openai.PermissionDeniedError) as denied:
        gateway.client("bob").files.content(file_id)
    assert denied.value.code == "private_only_forbidden"
    assert denied.value.response.headers["x-gateway-reason"] == "private_only_forbidden"
    assert denied.value.response.headers["x-should-retry"] == "false"
    assert gateway.sandbox.requests() == []


@pytest.mark.parametrize("access", ["private_only,bogus", "public"])
def test_unknown_flag_is_refused_before_upstream(gateway: Gateway, access: str) -> None:
    """An unknown flag gets 400 invalid_access_flag and nothing reaches the upstream."""
    for via in ("header", "field"):
        gateway.sandbox.clear()
        with pytest.raises(openai.BadRequestError) as refused:
            upload(gateway, access=access, via=via)
        assert refused.value.code == "invalid_access_flag"
        assert gateway.sandbox.requests() == []


def test_contradictory_flag_sources_are_refused(gateway: Gateway) -> None:
    """Header and field that disagree are contradictory: 400 invalid_access_flag, no upstream."""
    gateway.sandbox.clear()
    with pytest.raises(openai.BadRequestError) as refused:
        gateway.client("alice").files.create(
            file=("x.jsonl", io.BytesIO(b"{}\n")), purpose="batch",
            extra_headers={"X-File-Access": "private_only"}, extra_body={"access": "no_download"},
        )
    assert refused.value.code == "invalid_access_flag"
    assert gateway.sandbox.requests() == []


def test_purpose_not_allowed(gateway: Gateway) -> None:
    """A server-output purpose cannot be uploaded: 400 purpose_not_allowed, no upstream call."""
    gateway.sandbox.clear()
    with pytest.raises(openai.BadRequestError) as refused:
        upload(gateway, purpose="batch_output")
    assert refused.value.code == "purpose_not_allowed"
    assert gateway.sandbox.requests() == []


@pytest.mark.parametrize("purpose", ["user_data", "assistants"])
def test_upstream_refusal_becomes_purpose_download_forbidden(gateway: Gateway, purpose: str) -> None:
    """OpenAI's 400 'Not allowed to download' comes back as 403 with source upstream."""
    file_id = upload(gateway, purpose=purpose, data=b"notes")
    with pytest.raises(openai.PermissionDeniedError) as denied:
        gateway.client("alice").files.content(file_id)
    assert denied.value.code == "purpose_download_forbidden"
    assert denied.value.body == {
        "message": f"Not allowed to download files of purpose: {purpose}",
        "type": "invalid_request_error", "param": None, "code": "purpose_download_forbidden",
        "source": "upstream",
    }
    assert gateway.metric(
        "files_gateway_decisions_total", action="download", decision="deny", purpose=purpose,
        reason="purpose_download_forbidden",
    ) == 1


def test_retrieve_delete_and_tombstone(gateway: Gateway) -> None:
    """Retrieve shows the file; after delete it is 404 file_not_found, not file_untracked."""
    client = gateway.client("alice")
    file_id = upload(gateway)
    assert client.files.retrieve(file_id).id == file_id
    deleted = client.files.delete(file_id)
    assert deleted.deleted is True
    with pytest.raises(openai.NotFoundError) as missing:
        client.files.retrieve(file_id)
    assert missing.value.code == "file_not_found"


def test_list_paginates_over_filtered_items(gateway: Gateway) -> None:
    """`limit` is honoured across hidden files, and no hidden id appears in any page."""
    mine = [upload(gateway, "alice") for _ in range(3)]
    hidden = [upload(gateway, "carol") for _ in range(4)]
    hidden += [upload(gateway, "bob", access="private_only") for _ in range(3)]
    hidden.append(gateway.sandbox.seed("batch"))
    mine += [upload(gateway, "bob") for _ in range(2)]
    client = gateway.client("alice")
    page = client.files.list(limit=2, order="asc")
    assert len(page.data) == 2
    assert page.has_more is True
    seen = [item.id for item in client.files.list(limit=2, order="asc")]
    assert sorted(seen) == sorted(mine)
    gateway.sandbox.clear()
    raw = client.files.with_raw_response.list(limit=4, order="desc").http_response.text
    for hidden_id in hidden:
        assert hidden_id not in raw
    last = client.files.list(limit=10, order="asc")
    assert last.has_more is False
    assert [f.id for f in last.data] == sorted(mine, key=seen.index)
    assert last.first_id == last.data[0].id  # type: ignore[attr-defined]
    assert last.last_id == last.data[-1].id  # type: ignore[attr-defined]


def test_list_cursor_of_invisible_file_is_refused(gateway: Gateway) -> None:
    """A list cursor naming another org's file is refused like a retrieve of it."""
    foreign = upload(gateway, "carol")
    gateway.sandbox.clear()
    with pytest.raises(openai.NotFoundError):
        gateway.client("alice").files.list(after=foreign)
    assert gateway.sandbox.requests() == []


async def test_async_client_flow(gateway: Gateway) -> None:
    """The async SDK uploads, downloads, lists and is refused exactly like the sync one."""
    client = gateway.async_client("alice")
    created = await client.files.create(
        file=("a.jsonl", io.BytesIO(b"async\n")), purpose="batch",
        extra_headers={"X-File-Access": "no_download"},
    )
    retrieved = await client.files.retrieve(created.id)
    assert (retrieved.model_extra or {})["gateway"]["downloadable"] is False
    with pytest.raises(openai.PermissionDeniedError) as denied:
        await client.files.content(created.id)
    assert denied.value.code == "download_disabled"
    ids = [item.id async for item in client.files.list(limit=1)]
    assert created.id in ids
    peer = gateway.async_client("carol")
    with pytest.raises(openai.NotFoundError):
        await peer.files.retrieve(created.id)
    await client.close()
    await peer.close()


def test_user_agent_goes_up_as_sent_and_none_is_added(gateway: Gateway) -> None:
    """The SDK's User-Agent reaches the upstream unchanged; without one, none is made up."""
    file_id = upload(gateway)
    gateway.client("alice").files.content(file_id)
    sent = [r for r in gateway.sandbox.requests() if r["path"].endswith("/content")][-1]
    assert sent["headers"]["user-agent"].startswith("OpenAI/Python ")
    gateway.sandbox.clear()
    reply = call(gateway.url, "GET", f"/v1/files/{file_id}/content", {"Authorization": "Bearer sk-alice"})
    assert reply.status == 200, reply.body
    assert "user-agent" not in {name.lower() for name in gateway.sandbox.requests()[-1]["headers"]}


def test_bodies_the_gateway_edits_are_asked_for_uncompressed(gateway: Gateway) -> None:
    """A retrieve goes up with `Accept-Encoding: identity`, since the gateway parses the answer;
    a download keeps the caller's Accept-Encoding; no Accept is made up."""
    file_id = upload(gateway)
    gateway.sandbox.clear()
    client = gateway.client("alice")
    client.files.retrieve(file_id)
    client.files.content(file_id)
    retrieve, content = gateway.sandbox.requests()
    assert retrieve["headers"]["accept-encoding"] == "identity"
    assert content["headers"]["accept-encoding"] == "gzip, deflate"
    gateway.sandbox.clear()
    reply = call(gateway.url, "GET", f"/v1/files/{file_id}/content", {"Authorization": "Bearer sk-alice"})
    assert reply.status == 200, reply.body
    assert "accept" not in {name.lower() for name in gateway.sandbox.requests()[-1]["headers"]}
