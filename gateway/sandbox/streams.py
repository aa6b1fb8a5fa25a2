"""Event streams (``text/event-stream``) as OpenAI sends them, for ``stream: true``.

Chat Completions send bare ``data:`` lines of ``chat.completion.chunk`` ended by ``data: [DONE]``;
Responses name each event (``event: response.created``) and number it, with no ``[DONE]``.
Every chunk or event carries the id of the object being created, from the first one on.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from aiohttp import hdrs, web

from .store import JsonObject


async def send_events(
    request: web.Request, events: Iterable[JsonObject], *, named: bool, done: bool
) -> web.StreamResponse:
    """Write each event as one SSE message; ``named`` adds its ``type`` as the ``event:`` line."""
    response = web.StreamResponse(
        headers={
            hdrs.CONTENT_TYPE: "text/event-stream; charset=utf-8",
            hdrs.CACHE_CONTROL: "no-cache",
        }
    )
    await response.prepare(request)
    for event in events:
        head = f"event: {event['type']}\n" if named else ""
        data = json.dumps(event, separators=(",", ":"))
        await response.write(f"{head}data: {data}\n\n".encode())
    if done:
        await response.write(b"data: [DONE]\n\n")
    await response.write_eof()
    return response


def chat_chunks(completion: JsonObject, include_usage: bool) -> list[JsonObject]:
    """The chunks of a one-choice completion: the role, the text, then the finish reason.

    With ``stream_options.include_usage``, every chunk has ``usage: null`` and one more chunk,
    with no choices, carries the usage (OpenAI's documented shape).
    """
    head: JsonObject = {
        "id": completion["id"],
        "object": "chat.completion.chunk",
        "created": completion["created"],
        "model": completion["model"],
        "system_fingerprint": completion.get("system_fingerprint"),
    }
    text = completion["choices"][0]["message"]["content"]
    deltas: list[tuple[JsonObject, str | None]] = [
        ({"role": "assistant", "content": "", "refusal": None}, None),
        ({"content": text}, None),
        ({}, "stop"),
    ]
    chunks: list[JsonObject] = [
        {**head, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": why}]}
        for delta, why in deltas
    ]
    if include_usage:
        for chunk in chunks:
            chunk["usage"] = None
        chunks.append({**head, "choices": [], "usage": completion["usage"]})
    return chunks


def response_events(response: JsonObject) -> list[JsonObject]:
    """Every event of a response, numbered from 0: created and in_progress carry it unfinished,
    each output message is opened, its text sent as one delta and closed, then completed."""
    started = {**response, "status": "in_progress", "output": [], "completed_at": None, "usage": None}
    events: list[JsonObject] = [
        {"type": "response.created", "response": started},
        {"type": "response.in_progress", "response": started},
    ]
    for index, item in enumerate(response["output"]):
        events.extend(_item_events(index, item))
    events.append({"type": "response.completed", "response": response})
    # `type` then `sequence_number` lead every event, as OpenAI writes them.
    return [{"type": e.pop("type"), "sequence_number": n, **e} for n, e in enumerate(events)]


def _item_events(index: int, item: JsonObject) -> list[JsonObject]:
    events: list[JsonObject] = [
        {
            "type": "response.output_item.added",
            "output_index": index,
            "item": {**item, "status": "in_progress", "content": []},
        }
    ]
    for content_index, part in enumerate(item.get("content") or []):
        at = {"item_id": item["id"], "output_index": index, "content_index": content_index}
        text = part.get("text", "")
        events += [
            {"type": "response.content_part.added", **at, "part": {**part, "text": ""}},
            {"type": "response.output_text.delta", **at, "delta": text, "logprobs": []},
            {"type": "response.output_text.done", **at, "text": text, "logprobs": []},
            {"type": "response.content_part.done", **at, "part": part},
        ]
    events.append({"type": "response.output_item.done", "output_index": index, "item": item})
    return events
