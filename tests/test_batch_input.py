"""A batch's requests are checked like requests: every file id its input file's lines name is
a reference of the batch's creator, judged by the API each line calls."""

from __future__ import annotations

import json
from functools import partial
from typing import Any

import openai
import pytest

from gateway.routes.batch_input import MAX_LINE
from tests.conftest import Gateway
from tests.sdk import refusal, upload


def line(custom_id: str, url: str, body: dict[str, Any]) -> bytes:
    return json.dumps({"custom_id": custom_id, "method": "POST", "url": url,
                       "body": body}).encode() + b"\n"


def reading(file_id: str) -> dict[str, Any]:
    return {"model": "gpt-4o", "input": [
        {"role": "user", "content": [{"type": "input_file", "file_id": file_id}]}]}


def batch_of(gateway: Gateway, who: str, *lines: bytes) -> Any:
    return gateway.client(who).batches.create(
        input_file_id=upload(gateway, who, "batch", data=b"".join(lines), filename="f.jsonl"),
        endpoint="/v1/responses", completion_window="24h",
    )


PARAM = "input_file_id.lines[2].body.input[0].content[0].file_id"


def test_files_named_inside_a_batch_input_are_references(gateway: Gateway) -> None:
    harmless = line("1", "/v1/responses", {"model": "gpt-4o", "input": "hi"})
    cases = [
        (upload(gateway, "bob", "user_data", "private_only"), (403, "private_only_forbidden")),
        (upload(gateway, "carol", "user_data"), (404, "file_not_found")),
        (upload(gateway, "alice", "batch"), (400, "purpose_api_mismatch")),
        (gateway.sandbox.seed("user_data"), (403, "file_untracked")),
    ]
    for file_id, expected in cases:
        gateway.sandbox.clear()
        made = line("2", "/v1/responses", reading(file_id))
        assert refusal(partial(batch_of, gateway, "alice", harmless, made)) == (*expected, PARAM)
        assert [r["path"] for r in gateway.sandbox.requests() if r["method"] == "POST"] == [
            "/v1/files"]


def test_a_batch_of_a_private_file_is_private(gateway: Gateway) -> None:
    mine = upload(gateway, "alice", "user_data", "private_only")
    batch = batch_of(gateway, "alice", line("1", "/v1/responses", reading(mine)),
                     line("2", "/v1/responses", {"model": "m", "input": "hi"}))
    assert gateway.client("alice").batches.retrieve(batch.id).id == batch.id
    with pytest.raises(openai.PermissionDeniedError):
        gateway.client("bob").batches.retrieve(batch.id)


def test_lines_the_gateway_cannot_read_are_refused(gateway: Gateway) -> None:
    """A line that is not one JSON object may be read otherwise by a lenient batch runner (two
    objects, an array of requests); OpenAI refuses such an input itself. Blank lines pass."""
    harmless = line("1", "/v1/responses", {"model": "gpt-4o", "input": "hi"})
    for unreadable in (b"not json\n", b"[1, 2]\n"):
        assert refusal(partial(batch_of, gateway, "alice", unreadable, harmless)) == (
            400, "invalid_request", "input_file_id")
    assert batch_of(gateway, "alice", b"\n", harmless, b"\n").id


@pytest.mark.parametrize("extra", ['"temperature": NaN', '"instructions": "\\ud800"'])
def test_a_line_only_a_lenient_parser_reads_is_checked_all_the_same(
    gateway: Gateway, extra: str
) -> None:
    """The lines were read with orjson, which refuses NaN and a lone surrogate's escape, and a
    line it could not read named nothing; an upstream built on Python's json runs it, with
    another org's file."""
    carols = upload(gateway, "carol", "user_data")
    made = line("2", "/v1/responses", reading(carols)).replace(b'"model"', f"{extra}, \"model\"".encode())
    harmless = line("1", "/v1/responses", {"model": "gpt-4o", "input": "hi"})
    assert refusal(partial(batch_of, gateway, "alice", harmless, made)) == (
        404, "file_not_found", PARAM)


def test_a_line_with_a_key_twice_is_refused(gateway: Gateway) -> None:
    mine, carols = upload(gateway, "alice", "user_data"), upload(gateway, "carol", "user_data")
    made = line("1", "/v1/responses", reading(mine)).replace(
        f'"file_id": "{mine}"'.encode(), f'"file_id": "{mine}", "file_id": "{carols}"'.encode())
    gateway.sandbox.clear()
    assert refusal(partial(batch_of, gateway, "alice", made)) == (
        400, "invalid_request", "input_file_id")
    assert [r["path"] for r in gateway.sandbox.requests() if r["method"] == "POST"] == ["/v1/files"]


def test_lines_are_numbered_across_chunks_and_a_line_too_long_is_refused(gateway: Gateway) -> None:
    """A line many chunks long is read whole (its bytes copied once) and the lines after it keep
    their numbers; one longer than the limit is refused before the batch is made."""
    carols = upload(gateway, "carol", "user_data")
    long = line("1", "/v1/responses", {"model": "gpt-4o", "input": "x" * 3_000_000})
    harmless = line("2", "/v1/responses", {"model": "gpt-4o", "input": "hi"})
    made = line("3", "/v1/responses", reading(carols))
    assert refusal(partial(batch_of, gateway, "alice", long, harmless, made)) == (
        404, "file_not_found", PARAM.replace("lines[2]", "lines[3]"))

    gateway.sandbox.clear()
    endless = b'{"custom_id": "1", "body": {"input": "' + b"y" * (MAX_LINE + 1) + b'"}}\n'
    status, code, param = refusal(partial(batch_of, gateway, "alice", harmless, endless))
    assert (status, code, param) == (400, "invalid_request", "input_file_id")
    assert [r["path"] for r in gateway.sandbox.requests() if r["method"] == "POST"] == ["/v1/files"]
