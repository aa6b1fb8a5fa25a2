"""Property: whatever JSON (or multipart form) a caller sends to a route with rules, the gateway
answers with a refusal or the upstream's answer, never a 500 of its own.

Bodies are built from the keys the gateway reads (references, flags, types, sessions...) with
values of every JSON type where a string, list or object is expected. A tool `type` that was a
list once crashed the reference walk (a 500 internal_error). Official routes over real HTTP
against the sandbox.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import Gateway
from tests.http import call

KEYS = st.sampled_from([
    "file_id", "file_ids", "input_file_id", "training_file", "validation_file", "vector_store_ids",
    "skill_id", "container", "source", "model", "type", "id", "input", "tools", "metadata",
    "annotations", "user", "store", "purpose", "bytes", "endpoint", "completion_window",
    "data_source", "session", "environment", "agent", "workflow", "expires_after", "access", "name",
    "previous_response_id", "conversation", "items", "content", "messages", "stream", "url",
    "event_types", "file", "files", "attributes", "delegation", "responses", "transport", "sdp",
    "skills", "filename", "mime_type", "seconds", "anchor", "testing_criteria",
    "data_source_config", "prompt", "input_reference", "video", "include", "background",
])
VALUES = st.one_of(
    st.sampled_from(["file-abc", "vs_1", "ft:gpt-4o:acme::x", "cntr_1", "file_id", "code_interpreter",
                     "shell", "file_search", "input_file", "jsonl", "responses", "realtime",
                     "/v1/responses", "/v1/chat/completions", "24h", "batch", "user_data", "webrtc"]),
    st.text(max_size=4), st.integers(-2, 10**20), st.floats(allow_nan=False), st.booleans(),
    st.none(),
)
TREES = st.recursive(VALUES, lambda children: st.one_of(
    st.lists(children, max_size=3), st.dictionaries(KEYS, children, max_size=5)), max_leaves=20)
BODIES = st.dictionaries(KEYS, TREES, max_size=6)
CREATES = [
    "/v1/responses", "/v1/responses/input_tokens", "/v1/chat/completions", "/v1/conversations",
    "/v1/batches", "/v1/fine_tuning/jobs", "/v1/evals", "/v1/vector_stores", "/v1/containers",
    "/v1/uploads", "/v1/chatkit/sessions", "/v1/agents", "/v1/agents/sessions", "/v1/vaults",
    "/v1/live/sessions", "/v1/realtime/calls", "/v1/realtime/client_secrets", "/v1/videos",
    "/v1/webhook_endpoints", "/v1/embeddings",
]
HEADERS = {"Authorization": "Bearer sk-alice", "Content-Type": "application/json",
           "OpenAI-Beta": "chatkit_beta=v1"}
SHAPES = settings(max_examples=300, deadline=None,
                  suppress_health_check=[HealthCheck.function_scoped_fixture])


def not_the_gateways_failure(gateway: Gateway, method: str, route: str, body: Any) -> None:
    raw = json.dumps(body).encode() if method == "POST" else None
    reply = call(gateway.url, method, route, HEADERS, raw)
    assert reply.status != 500, (method, route, raw, reply.body)


@SHAPES
@given(route=st.sampled_from(CREATES), body=BODIES)
def test_any_json_to_a_create_is_answered(sqlite_gateway: Gateway, route: str, body: Any) -> None:
    not_the_gateways_failure(sqlite_gateway, "POST", route, body)


def owned_routes(gateway: Gateway) -> list[str]:
    """Routes below objects of alice's, made once per gateway."""
    client = gateway.client("alice")
    store = client.vector_stores.create(name="v").id
    conversation = client.conversations.create().id
    evaluation = client.evals.create(
        name="e", data_source_config={"type": "custom", "item_schema": {"type": "object"}},
        testing_criteria=[{"type": "string_check", "name": "s", "input": "x", "reference": "x",
                           "operation": "eq"}]).id
    container = client.containers.create(name="c").id
    response = client.responses.create(model="m", input="hi").id
    return [
        f"/v1/vector_stores/{store}", f"/v1/vector_stores/{store}/files",
        f"/v1/vector_stores/{store}/file_batches", f"/v1/vector_stores/{store}/search",
        f"/v1/conversations/{conversation}", f"/v1/conversations/{conversation}/items",
        f"/v1/evals/{evaluation}", f"/v1/evals/{evaluation}/runs", f"/v1/containers/{container}/files",
        f"/v1/responses/{response}", f"/v1/responses/{response}/cancel", "/v1/responses/compact",
    ]


MADE: dict[str, list[str]] = {}


@SHAPES
@given(pick=st.integers(0, 1000), body=BODIES, method=st.sampled_from(["POST", "GET", "DELETE"]))
def test_any_json_below_an_object_is_answered(
    sqlite_gateway: Gateway, pick: int, body: Any, method: str
) -> None:
    routes = MADE.setdefault(sqlite_gateway.url, [])
    if not routes:
        routes += owned_routes(sqlite_gateway)
    not_the_gateways_failure(sqlite_gateway, method, routes[pick % len(routes)], body)


FIELD_NAMES = st.sampled_from([
    "purpose", "file", "access", "session", "sdp", "prompt", "model", "video[id]",
    "input_reference[file_id]", "mask[file_id]", "images[0][file_id]", "file_ids[]", "file_id",
    "expires_after[seconds]", "expires_after[anchor]", "files[]", "x[", "[]", "a]b", "",
])
FIELD_VALUES = st.one_of(st.sampled_from([
    "file-abc", "batch", "user_data", "private_only", "v=0\r\n", "[1,", "{}", '{"type": []}',
    '{"tools": [{"type": "code_interpreter", "container": {"file_ids": ["file-abc"]}}]}',
    "no_download,ephemeral", "x" * 70,
]), st.text(max_size=8))
PARTS = st.lists(st.tuples(FIELD_NAMES, FIELD_VALUES, st.booleans(),
                           st.sampled_from([None, "application/json", "application/sdp"])),
                 max_size=6)
FORM_ROUTES = ["/v1/files", "/v1/videos", "/v1/images/edits", "/v1/realtime/calls", "/v1/skills",
               "/v1/audio/transcriptions", "/v1/realtime/client_secrets"]


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(route=st.sampled_from(FORM_ROUTES), parts=PARTS)
def test_any_form_is_answered(sqlite_gateway: Gateway, route: str, parts: Any) -> None:
    boundary = "shapeb0undary"
    body = b""
    for name, value, is_file, kind in parts:
        disposition = f'form-data; name="{name}"' + ('; filename="f.bin"' if is_file else "")
        head = (f"--{boundary}\r\nContent-Disposition: {disposition}\r\n"
                + (f"Content-Type: {kind}\r\n" if kind else "") + "\r\n")
        body += head.encode() + value.encode("utf-8", "surrogatepass") + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    reply = call(sqlite_gateway.url, "POST", route, {
        "Authorization": "Bearer sk-alice",
        "Content-Type": f"multipart/form-data; boundary={boundary}"}, body)
    assert reply.status != 500, (route, body[:300], reply.body)
