"""A compressed request body reaches the upstream framed by what is actually sent.

aiohttp hands the gateway a gzip, deflate, br or zstd body decoded. The gateway used to forward
it with the caller's `Content-Length`, the length of the coded body, so the upstream read that
many bytes and took the rest of the decoded body for a request of its own, on a pooled
connection: a request the gateway never saw, let alone checked (here, a download of another
org's private file), and a desynchronised connection for whoever used it next.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Callable

import pytest

from tests.conftest import Gateway
from tests.http import call
from tests.sdk import upload

ALICE = {"Authorization": "Bearer sk-alice"}


CODINGS: dict[str, Callable[[bytes], bytes]] = {"gzip": gzip.compress, "deflate": zlib.compress}


def smuggling(victim: str, coding: str) -> bytes:
    """A coded body exactly as long as the run of zeros its decoded form starts with, which is
    followed by a whole request for another org's private file: the upstream, told the coded
    length, would read the zeros as the body and the rest as a request of its own."""
    smuggled = (f"GET /v1/files/{victim}/content HTTP/1.1\r\nHost: upstream\r\n"
                "Authorization: Bearer sk-alice\r\n\r\n").encode()
    for zeros in range(16, 4096):
        coded = CODINGS[coding](b"\x00" * zeros + smuggled)
        if len(coded) == zeros:
            return coded
    raise AssertionError("no length where the coded body ends at the smuggled request")


@pytest.mark.parametrize("coding", sorted(CODINGS))
def test_a_compressed_body_is_one_request_upstream(gateway: Gateway, coding: str) -> None:
    victim = upload(gateway, "carol", "user_data", "private_only")
    gateway.sandbox.clear()
    # An API without rules, whose non-JSON body (audio) streams through unread.
    reply = call(gateway.url, "POST", "/v1/audio/transcriptions",
                 {**ALICE, "Content-Type": "application/octet-stream",
                  "Content-Encoding": coding}, smuggling(victim, coding))
    seen = [(r["method"], r["path"]) for r in gateway.sandbox.requests()]
    assert seen == [("POST", "/v1/audio/transcriptions")], seen
    assert victim.encode() not in reply.body
    # The connection it went up on answers the next caller with their own answer.
    listed = call(gateway.url, "GET", "/v1/files", ALICE)
    assert listed.status == 200 and listed.json()["object"] == "list", listed.body


def test_an_uploads_part_sent_compressed_is_stored_whole(gateway: Gateway) -> None:
    """A part streams through with the caller's framing headers; compressed, it must not."""
    client = gateway.client("alice")
    made = client.uploads.create(bytes=3000, filename="a.jsonl", mime_type="text/jsonl",
                                 purpose="batch")
    boundary = "partb0undary"
    data = b"{}\n" * 1000
    form = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"data\"; filename=\"p\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n").encode() + data + (
            f"\r\n--{boundary}--\r\n").encode()
    gateway.sandbox.clear()
    reply = call(gateway.url, "POST", f"/v1/uploads/{made.id}/parts",
                 {**ALICE, "Content-Type": f"multipart/form-data; boundary={boundary}",
                  "Content-Encoding": "gzip"}, gzip.compress(form))
    assert reply.status == 200, reply.body
    part = reply.json()["id"]
    done = client.uploads.complete(made.id, part_ids=[part])
    assert done.file is not None and done.file.bytes == len(data)


def test_a_body_the_gateway_does_not_send_is_not_announced(gateway: Gateway) -> None:
    """A download sent with a body: the gateway sends the GET alone, and used to keep the
    caller's `Content-Length`, so the upstream would wait for bytes never coming, or read the
    next request on the connection as them."""
    mine = upload(gateway, "alice", "batch", data=b"{}\n", filename="a.jsonl")
    gateway.sandbox.clear()
    reply = call(gateway.url, "GET", f"/v1/files/{mine}/content", ALICE, b"x" * 40)
    assert reply.status == 200 and reply.body == b"{}\n", reply.body
    [sent] = gateway.sandbox.requests()
    assert "content-length" not in sent["headers"], sent["headers"]
    assert call(gateway.url, "GET", f"/v1/files/{mine}", ALICE).status == 200
