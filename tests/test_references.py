"""Same rules wherever a file id appears: every API that references files, through real HTTP.

For each row: an allowed use reaches the upstream; a peer's private file, another org's file
and a purpose the API does not accept are refused with nothing sent upstream.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import pytest

from tests import sdk
from tests.conftest import Gateway, GatewayFactory
from tests.http import Reply, call

Body = Callable[[str], dict[str, Any]]


def auth(who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer sk-{who}", "Content-Type": "application/json"}


@dataclass(frozen=True)
class Row:
    name: str
    path: str
    body: Body
    purpose: str
    wrong_purpose: str
    param: str
    holder: str | None = None  # what alice creates first: a vector_store, container, conversation…


def _input(part: dict[str, Any]) -> dict[str, Any]:
    return {"model": "gpt-4o", "input": [{"role": "user", "content": [part]}]}


ROWS = [
    Row("responses input_file", "/v1/responses",
        lambda f: _input({"type": "input_file", "file_id": f}), "user_data", "batch",
        "input[0].content[0].file_id"),
    Row("responses input_image", "/v1/responses",
        lambda f: _input({"type": "input_image", "file_id": f}), "vision", "fine-tune",
        "input[0].content[0].file_id"),
    Row("responses function_call_output", "/v1/responses",
        lambda f: {"model": "gpt-4o", "input": [{"type": "function_call_output", "call_id": "c1",
                                                  "output": [{"type": "input_file", "file_id": f}]}]},
        "user_data", "batch", "input[0].output[0].file_id"),
    Row("responses custom_tool_call_output", "/v1/responses",
        lambda f: {"model": "gpt-4o", "input": [{"type": "custom_tool_call_output", "call_id": "c",
                                                  "output": [{"type": "input_image", "file_id": f}]}]},
        "vision", "batch", "input[0].output[0].file_id"),
    Row("responses computer_call_output", "/v1/responses",
        lambda f: {"model": "gpt-4o", "input": [{"type": "computer_call_output", "call_id": "c",
                                                  "output": {"type": "computer_screenshot",
                                                             "file_id": f}}]},
        "vision", "evals", "input[0].output.file_id"),
    Row("responses prompt variables", "/v1/responses",
        lambda f: {"model": "gpt-4o", "prompt": {"id": "pmpt_1", "variables": {
            "doc": {"type": "input_file", "file_id": f}}}},
        "user_data", "batch", "prompt.variables.doc.file_id"),
    Row("responses code_interpreter container", "/v1/responses",
        lambda f: {"model": "gpt-4o", "input": "hi", "tools": [
            {"type": "code_interpreter", "container": {"type": "auto", "file_ids": [f]}}]},
        "user_data", "vision", "tools[0].container.file_ids[0]"),
    Row("responses shell environment", "/v1/responses",
        lambda f: {"model": "gpt-4o", "input": "hi", "tools": [
            {"type": "shell", "environment": {"type": "container_auto", "file_ids": [f]}}]},
        "assistants", "vision", "tools[0].environment.file_ids[0]"),
    Row("responses image_generation mask", "/v1/responses",
        lambda f: {"model": "gpt-4o", "input": "hi", "tools": [
            {"type": "image_generation", "input_image_mask": {"file_id": f}}]},
        "vision", "batch", "tools[0].input_image_mask.file_id"),
    Row("conversations items", "/v1/conversations/{holder}/items",
        lambda f: {"items": [{"type": "message", "role": "user",
                              "content": [{"type": "input_file", "file_id": f}]}]},
        "user_data", "batch", "items[0].content[0].file_id", "conversation"),
    Row("chat file part (user)", "/v1/chat/completions",
        lambda f: {"model": "gpt-4o", "messages": [
            {"role": "user", "content": [{"type": "file", "file": {"file_id": f}}]}]},
        "user_data", "vision", "messages[0].content[0].file.file_id"),
    Row("chat file part (system role)", "/v1/chat/completions",
        lambda f: {"model": "gpt-4o", "messages": [
            {"role": "system", "content": [{"type": "file", "file": {"file_id": f}}]}]},
        "user_data", "vision", "messages[0].content[0].file.file_id"),
    Row("batches input_file_id", "/v1/batches",
        lambda f: {"input_file_id": f, "endpoint": "/v1/chat/completions",
                   "completion_window": "24h"},
        "batch", "user_data", "input_file_id"),
    Row("fine-tuning training_file", "/v1/fine_tuning/jobs",
        lambda f: {"model": "gpt-4o-mini", "training_file": f}, "fine-tune", "batch",
        "training_file"),
    Row("fine-tuning validation_file", "/v1/fine_tuning/jobs",
        lambda f: {"model": "gpt-4o-mini", "training_file": None, "validation_file": f},
        "fine-tune", "batch", "validation_file"),
    Row("evals run source", "/v1/evals/{holder}/runs",
        lambda f: {"data_source": {"type": "jsonl", "source": {"type": "file_id", "id": f}}},
        "evals", "batch", "data_source.source.id", "eval"),
    Row("vector store create", "/v1/vector_stores", lambda f: {"file_ids": [f]},
        "assistants", "batch", "file_ids[0]"),
    Row("vector store file", "/v1/vector_stores/{holder}/files", lambda f: {"file_id": f},
        "assistants", "vision", "file_id", "vector_store"),
    Row("vector store file batch ids", "/v1/vector_stores/{holder}/file_batches",
        lambda f: {"file_ids": [f]}, "assistants", "batch", "file_ids[0]", "vector_store"),
    Row("vector store file batch files", "/v1/vector_stores/{holder}/file_batches",
        lambda f: {"files": [{"file_id": f}]}, "assistants", "batch", "files[0].file_id",
        "vector_store"),
    Row("container create", "/v1/containers", lambda f: {"name": "c", "file_ids": [f]},
        "user_data", "batch", "file_ids[0]"),
    Row("container file", "/v1/containers/{holder}/files", lambda f: {"file_id": f},
        "user_data", "vision", "file_id", "container"),
    Row("image edit images", "/v1/images/edits",
        lambda f: {"model": "gpt-image-1", "prompt": "p", "images": [{"file_id": f}]},
        "vision", "user_data", "images[0].file_id"),
    Row("image edit mask", "/v1/images/edits",
        lambda f: {"model": "gpt-image-1", "prompt": "p", "images": [{"image_url": "https://x"}],
                   "mask": {"file_id": f}},
        "vision", "user_data", "mask.file_id"),
    Row("assistants code_interpreter", "/v1/assistants",
        lambda f: {"model": "gpt-4o", "tool_resources": {"code_interpreter": {"file_ids": [f]}}},
        "assistants", "batch", "tool_resources.code_interpreter.file_ids[0]"),
    Row("assistants file_search vector_stores", "/v1/threads",
        lambda f: {"tool_resources": {"file_search": {"vector_stores": [{"file_ids": [f]}]}}},
        "assistants", "batch", "tool_resources.file_search.vector_stores[0].file_ids[0]"),
    Row("thread message attachment", "/v1/threads/thread_1/messages",
        lambda f: {"role": "user", "content": "x", "attachments": [{"file_id": f}]},
        "assistants", "batch", "attachments[0].file_id"),
    Row("thread message image_file", "/v1/threads/thread_1/messages",
        lambda f: {"role": "user", "content": [{"type": "image_file", "image_file": {"file_id": f}}]},
        "vision", "batch", "content[0].image_file.file_id"),
]


@pytest.fixture
def sqlite_gateway(make_gateway: GatewayFactory) -> Gateway:
    """The Assistants API is past its sunset; these tests keep it reachable to check its bodies."""

    def keep_assistants(policy: dict[str, Any]) -> None:
        policy["apis"]["assistants"]["deprecated"]["enforce_sunset"] = False

    return make_gateway(keep_assistants)


upload = partial(sdk.upload, data=b'{"x": 1}\n', filename="d.jsonl")


def make_holder(gateway: Gateway, kind: str | None) -> str:
    if kind is None:
        return ""
    path, body = {"vector_store": ("/v1/vector_stores", {"name": "h"}),
                  "container": ("/v1/containers", {"name": "h"}),
                  "conversation": ("/v1/conversations", {"metadata": {"name": "h"}}),
                  "eval": ("/v1/evals", {"name": "h", "testing_criteria": [],
                                         "data_source_config": {"type": "custom",
                                                                "item_schema": {}}})}[kind]
    reply = call(gateway.url, "POST", path, auth("alice"), json.dumps(body).encode())
    assert reply.status == 200, reply.body
    return str(reply.json()["id"])


def post(gateway: Gateway, row: Row, holder: str, file_id: str) -> Reply:
    gateway.sandbox.clear()
    return call(gateway.url, "POST", row.path.format(holder=holder), auth("alice"),
                json.dumps(row.body(file_id)).encode())


def upstream_ids(gateway: Gateway) -> str:
    return json.dumps(gateway.sandbox.requests())


@pytest.mark.parametrize("row", ROWS, ids=[row.name for row in ROWS])
def test_reference_rules(sqlite_gateway: Gateway, row: Row) -> None:
    """Allowed use passes; peer's private, other org's and wrong-purpose files never go up."""
    gateway = sqlite_gateway
    holder = make_holder(gateway, row.holder)
    mine = upload(gateway, "alice", row.purpose)
    allowed = post(gateway, row, holder, mine)
    assert allowed.code not in ("private_only_forbidden", "file_not_found",
                                "purpose_api_mismatch"), allowed.body
    assert mine in upstream_ids(gateway)

    private = upload(gateway, "bob", row.purpose, "private_only")
    refused = post(gateway, row, holder, private)
    assert (refused.status, refused.code) == (403, "private_only_forbidden"), refused.body
    assert refused.json()["error"]["param"] == row.param
    assert gateway.sandbox.requests() == []

    foreign = upload(gateway, "carol", row.purpose)
    hidden = post(gateway, row, holder, foreign)
    assert (hidden.status, hidden.code) == (404, "file_not_found"), hidden.body
    assert gateway.sandbox.requests() == []

    wrong = upload(gateway, "alice", row.wrong_purpose)
    mismatch = post(gateway, row, holder, wrong)
    assert (mismatch.status, mismatch.code) == (400, "purpose_api_mismatch"), mismatch.body
    assert mismatch.json()["error"]["param"] == row.param
    assert gateway.sandbox.requests() == []

    untracked = gateway.sandbox.seed(row.purpose)
    unknown = post(gateway, row, holder, untracked)
    assert (unknown.status, unknown.code) == (403, "file_untracked"), unknown.body
    assert gateway.sandbox.requests() == []


@pytest.mark.parametrize(
    "raw",
    [
        b'{"model": "m", "input": [{"role": "user", "content": [{"type": "input_file", '
        b'"file_id": "FILE"}]}], "model": "m2"}',
        b'{"model": "m", "input": [{"role": "user", "content": [{"type": "input_file", '
        b'"file_id": "FILE", "file_id": "file-other"}]}]}',
        b"[" * 200 + b"]" * 200,
        b'{"model": ',
    ],
    ids=["duplicate top key", "duplicate file_id", "too deep", "truncated"],
)
def test_malformed_bodies_are_refused(sqlite_gateway: Gateway, raw: bytes) -> None:
    """Duplicate keys, excessive nesting and broken JSON are refused before the upstream."""
    gateway = sqlite_gateway
    mine = upload(gateway, "alice", "user_data")
    gateway.sandbox.clear()
    reply = call(gateway.url, "POST", "/v1/responses", auth("alice"),
                 raw.replace(b"FILE", mine.encode()))
    assert reply.status == 400, reply.body
    assert gateway.sandbox.requests() == []


def test_escaped_ids_are_normalised_before_checking(sqlite_gateway: Gateway) -> None:
    """`file\\u002d…` is the same id as `file-…` and is checked as such."""
    gateway = sqlite_gateway
    private = upload(gateway, "bob", "user_data", "private_only")
    escaped = private.replace("-", "\\u002d", 1)
    raw = ('{"model": "m", "input": [{"role": "user", "content": [{"type": "input_file", '
           f'"file_id": "{escaped}"}}]}}]}}').encode()
    gateway.sandbox.clear()
    reply = call(gateway.url, "POST", "/v1/responses", auth("alice"), raw)
    assert (reply.status, reply.code) == (403, "private_only_forbidden")
    assert gateway.sandbox.requests() == []


def test_non_string_and_malformed_ids_are_refused(sqlite_gateway: Gateway) -> None:
    """A file id that is not a plain string id gets 400 invalid_file_id, nothing goes up."""
    gateway = sqlite_gateway
    for value in (123, ["file-a"], "file-a/../b", "x" * 100):
        gateway.sandbox.clear()
        body = {"model": "m", "messages": [
            {"role": "user", "content": [{"type": "file", "file": {"file_id": value}}]}]}
        reply = call(gateway.url, "POST", "/v1/chat/completions", auth("alice"),
                     json.dumps(body).encode())
        assert (reply.status, reply.code) == (400, "invalid_file_id"), (value, reply.body)
        assert gateway.sandbox.requests() == []


def test_inline_files_pass_unless_denied(sqlite_gateway: Gateway) -> None:
    """Inline file_data / file_url parts are not ids and pass under the default policy."""
    gateway = sqlite_gateway
    body = _input({"type": "input_file", "file_data": "data:application/pdf;base64,AAAA",
                   "filename": "a.pdf"})
    reply = call(gateway.url, "POST", "/v1/responses", auth("alice"), json.dumps(body).encode())
    assert reply.status == 200, reply.body


def test_inline_files_refused_when_the_policy_says_so(make_gateway: GatewayFactory) -> None:
    """With `inline_files: deny`, a file_data part is refused and names its path."""

    def deny_inline(policy: dict[str, Any]) -> None:
        policy["inline_files"] = "deny"

    gateway = make_gateway(deny_inline)
    body = _input({"type": "input_file", "file_data": "data:application/pdf;base64,AAAA",
                   "filename": "a.pdf"})
    gateway.sandbox.clear()
    reply = call(gateway.url, "POST", "/v1/responses", auth("alice"), json.dumps(body).encode())
    assert (reply.status, reply.code) == (400, "purpose_api_mismatch")
    assert reply.json()["error"]["param"] == "input[0].content[0].file_data"
    assert gateway.sandbox.requests() == []


def test_inline_files_in_a_forms_json_refused_when_the_policy_says_so(
    make_gateway: GatewayFactory,
) -> None:
    """A Realtime call's `session`, sent as a form's JSON part, is held to the same policy."""

    def deny_inline(policy: dict[str, Any]) -> None:
        policy["inline_files"] = "deny"

    gateway = make_gateway(deny_inline)
    session = {"type": "realtime", "tools": [{"type": "code_interpreter", "container": {
        "type": "auto", "files": [{"file_data": "data:text/csv;base64,AAAA"}]}}]}
    content_type, body = multipart([("sdp", "v=0"), ("session", json.dumps(session))], [])
    gateway.sandbox.clear()
    reply = call(gateway.url, "POST", "/v1/realtime/calls",
                 {**auth("alice"), "Content-Type": content_type}, body)
    assert (reply.status, reply.code) == (400, "purpose_api_mismatch"), reply.body
    assert reply.json()["error"]["param"] == "session.tools[0].container.files[0].file_data"
    assert gateway.sandbox.requests() == []


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          "application/octet-stream"])
@pytest.mark.parametrize("path", ["/v1/responses", "/v1/chat/completions",
                                  "/v1/containers/{holder}/files"])
def test_a_json_body_under_another_content_type_is_still_checked(
    sqlite_gateway: Gateway, content_type: str, path: str
) -> None:
    """The upstream may read a body as JSON whatever its Content-Type says, so the gateway does
    too: only a multipart form is treated as an upload."""
    gateway = sqlite_gateway
    holder = make_holder(gateway, "container") if "{holder}" in path else ""
    private = upload(gateway, "bob", "user_data", "private_only")
    body = {"file_id": private} if holder else {"model": "m", "messages": [], "input": [
        {"role": "user", "content": [{"type": "input_file", "file_id": private}]}]}
    gateway.sandbox.clear()
    reply = call(gateway.url, "POST", path.format(holder=holder),
                 {**auth("alice"), "Content-Type": content_type}, json.dumps(body).encode())
    assert (reply.status, reply.code) == (403, "private_only_forbidden"), reply.body
    assert gateway.sandbox.requests() == []


def multipart(fields: list[tuple[str, str]], files: list[tuple[str, str, bytes]]) -> tuple[str, bytes]:
    boundary = "f0rmb0undary"
    body = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields
    ) + b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
        f"Content-Type: image/png\r\n\r\n".encode() + data + b"\r\n"
        for name, filename, data in files
    ) + f"--{boundary}--\r\n".encode()
    return f"multipart/form-data; boundary={boundary}", body


@pytest.mark.parametrize(("field", "param"), [("mask[file_id]", "mask.file_id"),
                                              ("images[0][file_id]", "images[0].file_id")])
def test_file_ids_in_form_fields_are_checked(
    sqlite_gateway: Gateway, field: str, param: str
) -> None:
    """A multipart image edit streams its uploads through, but a field naming a file by id is
    a reference like any other."""
    gateway = sqlite_gateway
    private = upload(gateway, "bob", "vision", "private_only")
    image = ("image[]", "i.png", b"\x89PNG" + b"p" * 20000)
    content_type, body = multipart([("prompt", "p"), (field, private)], [image])
    gateway.sandbox.clear()
    reply = call(gateway.url, "POST", "/v1/images/edits",
                 {"Authorization": "Bearer sk-alice", "Content-Type": content_type}, body)
    assert (reply.status, reply.code) == (403, "private_only_forbidden"), reply.body
    assert reply.json()["error"]["param"] == param
    assert gateway.sandbox.requests() == []

    mine = upload(gateway, "alice", "vision")
    content_type, body = multipart([("prompt", "p"), (field, mine)], [image])
    reply = call(gateway.url, "POST", "/v1/images/edits",
                 {"Authorization": "Bearer sk-alice", "Content-Type": content_type}, body)
    assert reply.status == 200, reply.body
    sent = gateway.sandbox.requests()[-1]
    assert (sent["path"], sent["form"][field]) == ("/v1/images/edits", mine)
    assert sent["files"]["image[]"]["bytes"] == len(image[2])


def test_metadata_labels_name_nothing(make_gateway: GatewayFactory) -> None:
    """`metadata` is the caller's flat map of labels, which the upstream never resolves: a
    label called `file_id` or `file_url` is no reference and no inline file, even under
    `inline_files: deny`. Anything nested there is still walked."""

    def deny_inline(policy: dict[str, Any]) -> None:
        policy["inline_files"] = "deny"

    gateway = make_gateway(deny_inline)
    theirs = upload(gateway, "carol", "user_data")
    labels = {"file_id": theirs, "file_url": "https://example.com/a.pdf", "source": "crm"}
    for path, body in (("/v1/responses", {"model": "m", "input": "hi", "metadata": labels}),
                       ("/v1/batches", {"input_file_id": upload(gateway, "alice", "batch", data=(
                           b'{"custom_id": "1", "method": "POST", "url": "/v1/responses", '
                           b'"body": {"model": "m", "input": "hi"}}\n')),
                                        "endpoint": "/v1/responses", "completion_window": "24h",
                                        "metadata": labels})):
        gateway.sandbox.clear()
        reply = call(gateway.url, "POST", path, auth("alice"), json.dumps(body).encode())
        assert reply.status == 200, reply.body
        assert gateway.sandbox.requests()[-1]["json"]["metadata"] == labels

    nested = {"model": "m", "input": "hi", "metadata": {"x": {"file_id": theirs}}}
    gateway.sandbox.clear()
    reply = call(gateway.url, "POST", "/v1/responses", auth("alice"), json.dumps(nested).encode())
    assert (reply.status, reply.code) == (404, "file_not_found"), reply.body
    assert reply.json()["error"]["param"] == "metadata.x.file_id"
    assert gateway.sandbox.requests() == []


def test_a_type_that_is_not_a_string_is_not_a_crash(sqlite_gateway: Gateway) -> None:
    """Any JSON may stand where a tool's `type` should; the walk compared it against a set,
    which raised for a list (a 500 internal_error). It names nothing, so it goes upstream."""
    gateway = sqlite_gateway
    gateway.sandbox.clear()
    raw = b'{"model": "m", "input": "hi", "tools": [{"type": ["code_interpreter"]}, {"type": {}}]}'
    reply = call(gateway.url, "POST", "/v1/responses", auth("alice"), raw)
    assert reply.status != 500 and reply.code != "internal_error", reply.body
    assert [r["path"] for r in gateway.sandbox.requests()] == ["/v1/responses"]
