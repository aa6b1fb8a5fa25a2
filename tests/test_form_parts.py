"""The multipart reader, as a table: what each form parses to, however its bytes arrive."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from aiohttp import StreamReader
from aiohttp.base_protocol import BaseProtocol

from gateway.errors import GatewayError
from gateway.form_parts import MAX_HEAD_BYTES, FormParts, form_boundary

BOUNDARY = "b0undary42"
DELIMITER = b"\r\n--" + BOUNDARY.encode()
Parsed = list[tuple[str, str | None, str | None, bytes]]


def part(name: str, value: bytes, filename: str | None = None, content_type: str | None = None) -> bytes:
    disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
    head = f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n"
    if content_type:
        head += f"Content-Type: {content_type}\r\n"
    return head.encode() + b"\r\n" + value + b"\r\n"


def body(*parts: bytes, preamble: bytes = b"", epilogue: bytes = b"") -> bytes:
    return preamble + b"".join(parts) + f"--{BOUNDARY}--\r\n".encode() + epilogue


def form_parts(pieces: Sequence[bytes]) -> FormParts:
    """A reader of a request body that arrives in `pieces`, one socket read each."""
    loop = asyncio.get_running_loop()
    content = StreamReader(BaseProtocol(loop), 2**16, loop=loop)
    for piece in pieces:
        content.feed_data(piece)
    content.feed_eof()
    return FormParts(content, BOUNDARY)


async def parse(pieces: Sequence[bytes]) -> Parsed:
    """Every part of a form whose bytes arrive in `pieces`, as (name, filename, type, bytes)."""
    parts = form_parts(pieces)
    parsed: Parsed = []
    while (head := await parts.next_part()) is not None:
        data = b"".join([chunk async for chunk in parts.chunks()])
        parsed.append((head.name, head.filename, head.content_type, data))
    return parsed


def splits(data: bytes) -> list[list[bytes]]:
    """The bytes whole, one by one, and cut in two at every position."""
    return [[data], [data[i : i + 1] for i in range(len(data))],
            *([data[:cut], data[cut:]] for cut in range(1, len(data)))]


LINES = b"line 1\r\nline 2\r\n"
PADDED = f"--{BOUNDARY}  \t\r\n".encode()
TRAPS = b"\r" + DELIMITER[:-1] + b"x\r\n-" + DELIMITER[:5] + b"\r\n--\r"
FORMS: dict[str, tuple[bytes, Parsed]] = {
    "a field and a file, as the SDK sends them": (
        body(part("purpose", b"batch"), part("file", LINES, "d.jsonl", "application/jsonl")),
        [("purpose", None, None, b"batch"), ("file", "d.jsonl", "application/jsonl", LINES)],
    ),
    "file bytes that begin a delimiter, and end like one": (
        body(part("file", TRAPS, "t.bin"), part("purpose", b"batch")),
        [("file", "t.bin", None, TRAPS), ("purpose", None, None, b"batch")],
    ),
    "an empty file and an empty field": (
        body(part("file", b"", "e.bin"), part("purpose", b"")),
        [("file", "e.bin", None, b""), ("purpose", None, None, b"")],
    ),
    "a preamble and an epilogue are not parts (RFC 2046 5.1.1)": (
        body(part("purpose", b"batch"), preamble=b"ignore me\r\n", epilogue=b"and me\r\n"),
        [("purpose", None, None, b"batch")],
    ),
    "transport padding after a delimiter is allowed": (
        body(part("purpose", b"batch")).replace(f"--{BOUNDARY}\r\n".encode(), PADDED),
        [("purpose", None, None, b"batch")],
    ),
    "an RFC 5987 filename is decoded": (
        body(f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; "
             "filename*=UTF-8''%E2%82%AC%20rates.csv\r\n\r\nx\r\n".encode()),
        [("file", "€ rates.csv", None, b"x")],
    ),
    "header names are case-insensitive": (
        body(f"--{BOUNDARY}\r\ncontent-disposition: form-data; name=\"file\"; filename=\"a\"\r\n"
             "CONTENT-TYPE: text/plain\r\n\r\nx\r\n".encode()),
        [("file", "a", "text/plain", b"x")],
    ),
}


@pytest.mark.parametrize("case", FORMS)
async def test_a_form_parses_the_same_however_it_is_split(case: str) -> None:
    """Every form gives the same parts whether its bytes arrive whole, byte by byte or in two."""
    data, expected = FORMS[case]
    for pieces in splits(data):
        assert await parse(pieces) == expected, (case, [len(piece) for piece in pieces])


async def test_file_bytes_pass_through_without_a_copy() -> None:
    """A chunk that cannot hold a delimiter is handed on as the very object the socket gave."""
    middle = bytes(range(256)).replace(b"\r", b"") * 64
    parts = form_parts([part("file", b"", "f.bin")[:-2], middle, f"\r\n--{BOUNDARY}--\r\n".encode()])
    assert await parts.next_part() is not None
    chunks = [chunk async for chunk in parts.chunks()]
    assert any(chunk is middle for chunk in chunks)
    assert await parts.next_part() is None


def part_head(disposition: str, extra: str = "") -> bytes:
    return f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n{extra}\r\nx\r\n".encode()


NAMED = 'form-data; name="a"'
REFUSED: dict[str, tuple[bytes, str]] = {
    "the body ends before the closing delimiter": (part("file", b"abc", "a")[:-2], "ended before"),
    "no delimiter at all": (b"just some bytes", "ended before"),
    "a part without Content-Disposition": (f"--{BOUNDARY}\r\nContent-Type: text/plain\r\n\r\nx\r\n".encode(),
                                           "form-data with a name"),
    "a part without a name": (part_head("form-data"), "form-data with a name"),
    "a part that is not form-data": (part_head('attachment; name="file"'), "form-data with a name"),
    "a malformed Content-Disposition": (part_head('form-data; name="a"; name="b"'), "form-data with a name"),
    "a header line without a colon": (part_head(NAMED, "Broken\r\n"), "Malformed multipart part header"),
    "a nested multipart body": (part_head(NAMED, "Content-Type: multipart/mixed; boundary=x\r\n"),
                                "Nested multipart"),
    "text after the delimiter on its line": (part_head(NAMED).replace(b"\r\n", b"junk\r\n", 1),
                                             "Malformed multipart delimiter line"),
    "part headers beyond the limit": (part_head(NAMED, "X-Pad: " + "p" * MAX_HEAD_BYTES + "\r\n"),
                                      "headers are too large"),
}


@pytest.mark.parametrize("case", REFUSED)
async def test_a_malformed_form_is_a_400(case: str) -> None:
    """Each malformed form is refused with 400 invalid_request and a message naming the fault."""
    data, message = REFUSED[case]
    with pytest.raises(GatewayError) as refused:
        await parse([data])
    assert (refused.value.status, refused.value.code) == (400, "invalid_request")
    assert message in refused.value.message


@pytest.mark.parametrize(("header", "boundary"), [
    (f"multipart/form-data; boundary={BOUNDARY}", BOUNDARY),
    ('multipart/form-data; boundary="with space:and;colon"', "with space:and;colon"),
    ("multipart/form-data; charset=utf-8; BOUNDARY=Upper", "Upper"),
    ("multipart/form-data", None),
    ("multipart/form-data; boundary=", None),
    ("multipart/form-data; boundary=" + "x" * 71, None),
])
def test_the_boundary_comes_from_the_content_type(header: str, boundary: str | None) -> None:
    """The boundary parameter is read quoted or not; a missing, empty or over-long one is a 400."""
    if boundary is not None:
        assert form_boundary(header) == boundary
        return
    with pytest.raises(GatewayError) as refused:
        form_boundary(header)
    assert refused.value.status == 400
