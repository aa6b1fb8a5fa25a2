"""Finding the id of a streamed exchange in its first events, however the bytes are cut."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from gateway.routes.stored import SNIFF_LIMIT, chat_chunk_id, first_id, response_event_id

CHAT = (b'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","choices":[]}\n\n'
        b'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","choices":[]}\n\n'
        b"data: [DONE]\n\n")
RESPONSES = (b"event: response.created\n"
             b'data: {"type":"response.created","sequence_number":0,'
             b'"response":{"id":"resp_1","status":"in_progress"}}\n\n'
             b"event: response.completed\n"
             b'data: {"type":"response.completed","response":{"id":"resp_1"}}\n\n')


async def pieces(body: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start:start + size]


@pytest.mark.parametrize("size", [1, 7, 64, 10_000])
async def test_the_first_id_is_found_however_the_stream_is_cut(size: int) -> None:
    chunks = pieces(CHAT, size)
    head, found = await first_id(chunks, chat_chunk_id)
    assert found == "chatcmpl-1"
    assert CHAT.startswith(head)
    assert head + b"".join([chunk async for chunk in chunks]) == CHAT  # nothing lost

    head, found = await first_id(pieces(RESPONSES.replace(b"\n", b"\r\n"), size),
                                 response_event_id)
    assert found == "resp_1"


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"data: [DONE]\n\n", "no event names an object"),
        (b'event: error\ndata: {"type":"error","message":"x"}\n\n', "an error event"),
        (b'data: {"id": 5}\n\n', "an id that is not a string"),
        (b"data: {not json\n\n", "a broken event"),
        (b'data: {"id":"chatcmpl-1"}', "an event never finished"),
    ],
)
async def test_no_id_is_no_record(body: bytes, why: str) -> None:
    head, found = await first_id(pieces(body, 5), chat_chunk_id)
    assert (head, found) == (body, None), why


async def test_sniffing_stops_at_its_limit() -> None:
    filler = b": keep-alive\n\n" * (SNIFF_LIMIT // 14 + 10)
    chunks = pieces(filler + CHAT, 4096)
    head, found = await first_id(chunks, chat_chunk_id)
    assert found is None
    assert SNIFF_LIMIT <= len(head) < SNIFF_LIMIT + 4096
