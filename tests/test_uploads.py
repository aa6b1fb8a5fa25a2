"""Uploads stream through: any field order, either framing, size limits detected mid-stream."""

from __future__ import annotations

import hashlib
import http.client
import io
import json

import pytest

from tests.conftest import Gateway, GatewayFactory
from tests.http import call

ALICE = {"Authorization": "Bearer sk-alice"}
BOUNDARY = "testboundary42"


def form(parts: list[tuple[str, bytes, str | None]]) -> bytes:
    out = b""
    for name, value, filename in parts:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        out += f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()
        out += value + b"\r\n"
    return out + f"--{BOUNDARY}--\r\n".encode()


def post_form(gateway: Gateway, body: bytes, extra: dict[str, str] | None = None,
              chunked: bool = False) -> tuple[int, dict[str, object]]:
    headers = {**ALICE, "Content-Type": f"multipart/form-data; boundary={BOUNDARY}", **(extra or {})}
    port = int(gateway.url.rsplit(":", 1)[1])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    if chunked:
        pieces = [body[i : i + 7000] for i in range(0, len(body), 7000)]
        conn.request("POST", "/v1/files", body=iter(pieces), headers=headers, encode_chunked=True)
    else:
        conn.request("POST", "/v1/files", body=body, headers=headers)
    response = conn.getresponse()
    payload = json.loads(response.read())
    conn.close()
    return response.status, payload


@pytest.mark.parametrize("chunked", [False, True])
@pytest.mark.parametrize("file_first", [False, True])
def test_field_order_and_framing_do_not_matter(
    gateway: Gateway, file_first: bool, chunked: bool
) -> None:
    """`file` before or after `purpose`, Content-Length or chunked: same upload, same record."""
    data = bytes(range(256)) * 400
    parts = [("purpose", b"batch", None), ("access", b"private_only", None),
             ("file", data, "d.bin")]
    if file_first:
        parts.reverse()
    status, created = post_form(gateway, form(parts), chunked=chunked)
    assert status == 200, created
    assert created["bytes"] == len(data)
    assert created["gateway"] == {"access": ["private_only"], "downloadable": True,
                                  "owner_is_you": True}
    sent = gateway.sandbox.requests()[-1]
    assert sent["form"] == {"purpose": "batch"}
    assert sent["files"]["file"] == {"filename": "d.bin", "bytes": len(data)}
    assert gateway.client("alice").files.content(str(created["id"])).content == data


def test_file_first_with_bad_purpose_never_reaches_upstream(gateway: Gateway) -> None:
    """A spooled file whose purpose turns out refused is never sent upstream."""
    gateway.sandbox.clear()
    status, refused = post_form(gateway, form([("file", b"x" * 1000, "a"),
                                               ("purpose", b"batch_output", None)]))
    assert status == 400
    assert refused["error"]["code"] == "purpose_not_allowed"  # type: ignore[index]
    assert gateway.sandbox.requests() == []


@pytest.mark.parametrize("file_first", [False, True])
def test_a_form_cut_short_is_refused(gateway: Gateway, file_first: bool) -> None:
    """A form that ends before its closing boundary is 400 invalid_request, whether the file
    was already streaming upstream or spooled, and no file is left upstream."""
    parts = [("purpose", b"batch", None), ("file", b"q" * 50_000, "cut.bin")]
    if file_first:
        parts.reverse()
    body = form(parts)
    status, refused = post_form(gateway, body[: body.rindex(b"\r\n--")], chunked=True)
    assert status == 400
    assert refused["error"]["code"] == "invalid_request"  # type: ignore[index]
    assert "ended before its closing boundary" in refused["error"]["message"]  # type: ignore[index]
    listing = call(gateway.sandbox.url, "GET", "/v1/files", ALICE).json()
    assert listing["data"] == []


@pytest.mark.parametrize("file_first", [False, True])
def test_a_form_of_too_many_fields_is_refused(gateway: Gateway, file_first: bool) -> None:
    """More than 32 fields besides `file` is 400 invalid_request, and nothing is stored upstream."""
    fields: list[tuple[str, bytes, str | None]] = [("purpose", b"batch", None)]
    fields += [(f"x{n}", b"1", None) for n in range(32)]
    file_part: tuple[str, bytes, str | None] = ("file", b"abc", "a")
    status, refused = post_form(gateway, form([file_part, *fields] if file_first else [*fields, file_part]))
    assert status == 400
    assert refused["error"]["code"] == "invalid_request"  # type: ignore[index]
    assert "at most 32 fields" in refused["error"]["message"]  # type: ignore[index]
    listing = call(gateway.sandbox.url, "GET", "/v1/files", ALICE).json()
    assert listing["data"] == []


def test_late_bad_access_field_aborts_upload(gateway: Gateway) -> None:
    """A bad `access` after the streamed file aborts it: 400, and no file exists upstream."""
    status, refused = post_form(
        gateway, form([("purpose", b"batch", None), ("file", b"abc", "a"),
                       ("access", b"nonsense", None)])
    )
    assert status == 400
    assert refused["error"]["code"] == "invalid_access_flag"  # type: ignore[index]
    listing = call(gateway.sandbox.url, "GET", "/v1/files", ALICE).json()
    assert listing["data"] == []


def test_ephemeral_forwards_expires_after(gateway: Gateway) -> None:
    """`ephemeral` sends expires_after in OpenAI's form with the policy TTL, and records expiry."""
    created = gateway.client("alice").files.create(
        file=("e.jsonl", io.BytesIO(b"{}\n")), purpose="batch",
        extra_headers={"X-File-Access": "ephemeral"},
    )
    sent = gateway.sandbox.requests()[-1]["form"]
    ttl = gateway.settings.policy.ephemeral_ttl_seconds
    assert sent == {"purpose": "batch", "expires_after[anchor]": "created_at",
                    "expires_after[seconds]": str(ttl)}
    assert created.expires_at == created.created_at + ttl


def test_client_expires_after_is_kept(gateway: Gateway) -> None:
    """A client's own expires_after reaches the upstream unchanged, ephemeral or not."""
    created = gateway.client("alice").files.create(
        file=("e.jsonl", io.BytesIO(b"{}\n")), purpose="user_data",
        expires_after={"anchor": "created_at", "seconds": 7200},
        extra_headers={"X-File-Access": "ephemeral"},
    )
    sent = gateway.sandbox.requests()[-1]["form"]
    assert sent["expires_after[seconds]"] == "7200"
    assert created.expires_at == created.created_at + 7200


@pytest.fixture
def small_limit_gateway(make_gateway: GatewayFactory) -> Gateway:
    return make_gateway(**{"limits.max_upload_bytes": 64 * 1024})


@pytest.mark.parametrize("file_first", [False, True])
def test_too_large_is_detected_while_streaming(
    small_limit_gateway: Gateway, file_first: bool
) -> None:
    """Over the limit with chunked framing: 413 file_too_large, and nothing is stored upstream."""
    gateway = small_limit_gateway
    parts = [("purpose", b"batch", None), ("file", b"z" * (200 * 1024), "big")]
    if file_first:
        parts.reverse()
    status, refused = post_form(gateway, form(parts), chunked=True)
    assert status == 413
    assert refused["error"]["code"] == "file_too_large"  # type: ignore[index]
    listing = call(gateway.sandbox.url, "GET", "/v1/files", ALICE).json()
    assert listing["data"] == []


def test_too_large_by_content_length_is_refused_early(small_limit_gateway: Gateway) -> None:
    """A declared Content-Length far over the limit is refused before reading the body."""
    gateway = small_limit_gateway
    gateway.sandbox.clear()
    body = form([("purpose", b"batch", None), ("file", b"z" * (2 * 1024 * 1024), "big")])
    status, refused = post_form(gateway, body)
    assert status == 413
    assert refused["error"]["code"] == "file_too_large"  # type: ignore[index]
    assert gateway.sandbox.requests() == []


def test_large_file_round_trip_is_intact(gateway: Gateway) -> None:
    """A 24 MiB file goes up and comes back byte for byte."""
    data = hashlib.sha256(b"seed").digest() * (24 * 1024 * 1024 // 32)
    client = gateway.client("alice")
    created = client.files.create(file=("big.bin", io.BytesIO(data)), purpose="batch")
    assert created.bytes == len(data)
    back = client.files.content(created.id).content
    assert hashlib.sha256(back).hexdigest() == hashlib.sha256(data).hexdigest()
    assert gateway.metric("files_gateway_bytes_total", direction="upload") == len(data)
    assert gateway.metric("files_gateway_bytes_total", direction="download") == len(data)


def test_uploads_api_refuses_a_declared_size_over_the_limit(small_limit_gateway: Gateway) -> None:
    """An Upload declaring more bytes than the limit gets 413 at create, before the upstream."""
    gateway = small_limit_gateway
    gateway.sandbox.clear()
    reply = call(gateway.url, "POST", "/v1/uploads",
                 {**ALICE, "Content-Type": "application/json"},
                 json.dumps({"bytes": 65 * 1024, "filename": "big.jsonl",
                             "mime_type": "text/jsonl", "purpose": "batch"}).encode())
    assert (reply.status, reply.code) == (413, "file_too_large")
    assert gateway.sandbox.requests() == []
