"""Request bodies an upstream could read otherwise than the gateway does, found by probing: each
either made the upstream use another org's file or object unchecked, or recorded wrong flags,
until fixed (stop 22), or held already and stays as a regression test. Carol is in org globex;
alice and bob are in acme. `/v1/probe/things` is a route without rules, which the sandbox
answers 404 itself: what matters there is whether the request reached it."""

from __future__ import annotations

import json
from functools import partial
from typing import Any

import pytest

from tests.conftest import Gateway, GatewayFactory
from tests.http import call
from tests.sdk import refusal, upload

OFFER = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
REFUSED = {403, 404}


def auth(who: str, content_type: str | None = "application/json") -> dict[str, str]:
    headers = {"Authorization": f"Bearer sk-{who}"}
    if content_type is not None:
        headers["Content-Type"] = content_type
    return headers


def line(custom_id: str, url: str, body: dict[str, Any]) -> bytes:
    return json.dumps({"custom_id": custom_id, "method": "POST", "url": url,
                       "body": body}).encode()


def reading(file_id: str) -> dict[str, Any]:
    return {"model": "gpt-4o", "input": [
        {"role": "user", "content": [{"type": "input_file", "file_id": file_id}]}]}


def batch_of(gateway: Gateway, who: str, data: bytes) -> Any:
    return gateway.client(who).batches.create(
        input_file_id=upload(gateway, who, "batch", data=data, filename="f.jsonl"),
        endpoint="/v1/responses", completion_window="24h",
    )


def posts(gateway: Gateway) -> list[dict[str, Any]]:
    return [r for r in gateway.sandbox.requests() if r["method"] == "POST"]


# --- Batches: what a line names beyond file ids ---------------------------------------------


def test_batch_line_previous_response_id_of_another_org_is_checked(
    sqlite_gateway: Gateway,
) -> None:
    """A direct POST /v1/responses naming carol's response in `previous_response_id` is refused
    (stored._continued). A careful user expects the same request inside alice's batch input to
    be refused too: the batch runs it upstream, continuing carol's conversation."""
    gateway = sqlite_gateway
    carols = gateway.client("carol").responses.create(model="gpt-4o", input="secret").id
    # The direct call is refused:
    direct = call(gateway.url, "POST", "/v1/responses", auth("alice"),
                  json.dumps({"model": "gpt-4o", "input": "hi",
                              "previous_response_id": carols}).encode())
    assert direct.status == 404, direct.body
    data = line("1", "/v1/responses", {"model": "gpt-4o", "input": "repeat what I said",
                                       "previous_response_id": carols}) + b"\n"
    status, code, _ = refusal(partial(batch_of, gateway, "alice", data))
    assert status in REFUSED, code


def test_batch_line_conversation_of_another_org_is_checked(sqlite_gateway: Gateway) -> None:
    """Same as above with `conversation`: a batch line adding to (and reading) carol's
    conversation must be refused as the direct call is."""
    gateway = sqlite_gateway
    conv = gateway.client("carol").conversations.create().id
    data = line("1", "/v1/responses", {"model": "gpt-4o", "input": "hi",
                                       "conversation": conv}) + b"\n"
    status, code, _ = refusal(partial(batch_of, gateway, "alice", data))
    assert status in REFUSED, code


def test_batch_line_with_two_json_values_is_not_skipped(sqlite_gateway: Gateway) -> None:
    """A line holding two JSON objects (`{..}{..}`) is not JSON to Python's json.loads, so the
    gateway skips it as 'naming nothing'. A streaming JSONL reader (Go's json.Decoder, Node's
    ndjson/stream-json, Python's raw_decode loop) runs both requests, the second with carol's
    file. A careful user expects a line that may name a file and cannot be read to be refused,
    not skipped."""
    gateway = sqlite_gateway
    carols = upload(gateway, "carol", "user_data")
    harmless = line("1", "/v1/responses", {"model": "gpt-4o", "input": "hi"})
    data = harmless + line("2", "/v1/responses", reading(carols)) + b"\n"
    status, code, _ = refusal(partial(batch_of, gateway, "alice", data))
    assert status in REFUSED or status == 400, code


def test_batch_lines_split_by_a_bare_cr_are_checked(sqlite_gateway: Gateway) -> None:
    """Lines separated by a bare CR: Python's text-mode file iteration and str.splitlines()
    (universal newlines) read two lines; the gateway splits on LF only, sees one line that
    is not JSON and skips it. The second request names carol's file."""
    gateway = sqlite_gateway
    carols = upload(gateway, "carol", "user_data")
    harmless = line("1", "/v1/responses", {"model": "gpt-4o", "input": "hi"})
    data = harmless + b"\r" + line("2", "/v1/responses", reading(carols)) + b"\n"
    status, code, _ = refusal(partial(batch_of, gateway, "alice", data))
    assert status in REFUSED or status == 400, code


@pytest.mark.parametrize("url", ["/v1/responses?x=1", "/v1/Responses", "/v1/responses/"])
def test_batch_line_with_odd_url_is_refused(sqlite_gateway: Gateway, url: str) -> None:
    """A line whose url is not exactly the batch's endpoint is refused, as OpenAI refuses it."""
    gateway = sqlite_gateway
    carols = upload(gateway, "carol", "user_data")
    data = line("1", url, reading(carols)) + b"\n"
    status, code, _ = refusal(partial(batch_of, gateway, "alice", data))
    assert (status, code) == (400, "invalid_request")


# --- Charsets -------------------------------------------------------------------------------


def test_passthrough_json_declared_utf7_is_checked_as_the_upstream_reads_it(
    sqlite_gateway: Gateway,
) -> None:
    """`Content-Type: application/json; charset=utf-7`. The gateway parses the bytes as UTF-8
    and sees a key `+AGY-ile_id`; Express's body-parser (which accepts any `utf-*` charset and
    decodes it with iconv-lite) reads the key `file_id`. On passthrough routes the gateway
    forwards the Content-Type as sent. A careful user expects a body in a charset the gateway
    does not read the way the upstream does to be refused, not forwarded unchecked."""
    gateway = sqlite_gateway
    carols = upload(gateway, "carol", "user_data")
    gateway.sandbox.clear()
    raw = ('{"input": [{"type": "input_file", "+AGY-ile_id": "' + carols + '"}]}').encode()
    assert json.loads(raw.decode("utf-7"))["input"][0]["file_id"] == carols
    reply = call(gateway.url, "POST", "/v1/probe/things",
                 auth("alice", "application/json; charset=utf-7"), raw)
    reached = [r for r in gateway.sandbox.requests() if r["path"] == "/v1/probe/things"]
    assert reached == [], (reply.status, reached)


def test_form_field_json_in_a_declared_charset_is_checked(sqlite_gateway: Gateway) -> None:
    """A Realtime call's `session` part sent as `Content-Type: application/json;
    charset=utf-16le` with UTF-16LE bytes (no BOM). The gateway decodes every field as UTF-8,
    sees `{\\x00"\\x00...`, which is not JSON, so no reference; it re-sends the part with the
    same Content-Type and the same bytes (NUL is valid UTF-8). The sandbox (aiohttp's
    get_charset) and busboy decode the part by its charset and read carol's file."""
    gateway = sqlite_gateway
    carols = upload(gateway, "carol", "user_data")
    gateway.sandbox.clear()
    session = {"type": "realtime", "model": "gpt-realtime", "tools": [
        {"type": "code_interpreter", "container": {"type": "auto", "file_ids": [carols]}}]}
    boundary = "probeboundary"
    body = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"sdp\"\r\n\r\n{OFFER}\r\n"
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"session\"\r\n"
        "Content-Type: application/json; charset=utf-16le\r\n\r\n"
    ).encode() + json.dumps(session).encode("utf-16-le") + f"\r\n--{boundary}--\r\n".encode()
    reply = call(gateway.url, "POST", "/v1/realtime/calls",
                 auth("alice", f"multipart/form-data; boundary={boundary}"), body)
    reached = [r for r in gateway.sandbox.requests() if r["path"] == "/v1/realtime/calls"]
    assert reached == [], (reply.status, [r.get("form") for r in reached])


# --- urlencoded -----------------------------------------------------------------------------


def test_urlencoded_dotted_keys_are_checked(sqlite_gateway: Gateway) -> None:
    """`input.0.file_id=<id>`: qs with `allowDots` (and PHP, which turns `.` into `_` in
    names: `file.id` -> `file_id`) reads a file reference; the gateway's bracket parser sees
    one opaque key. Expected: refused like `input[0][file_id]=` is."""
    gateway = sqlite_gateway
    carols = upload(gateway, "carol", "user_data")
    results = {}
    for body in (f"input[0][file_id]={carols}", f"input.0.file_id={carols}",
                 f"file.id={carols}"):
        gateway.sandbox.clear()
        reply = call(gateway.url, "POST", "/v1/probe/things",
                     auth("alice", "application/x-www-form-urlencoded"), body.encode())
        # (the sandbox answers 404 to this unknown route: look at what reached it)
        results[body.split("=")[0]] = (reply.headers.get("x-gateway-reason"),
                                       len(gateway.sandbox.requests()))
    assert all(reached == 0 for _, reached in results.values()), results


@pytest.mark.parametrize("key", ["file_ids[]", "file_ids[0]", "tools[0][file_ids][0]",
                                 "tools[0][container][file_ids][]", "file%5Fid", "[file_id]"])
def test_urlencoded_bracket_keys_are_checked(sqlite_gateway: Gateway, key: str) -> None:
    """Held: the bracket notations qs, Rails and PHP read are checked."""
    gateway = sqlite_gateway
    carols = upload(gateway, "carol", "user_data")
    gateway.sandbox.clear()
    reply = call(gateway.url, "POST", "/v1/probe/things",
                 auth("alice", "application/x-www-form-urlencoded; charset=utf-8"),
                 f"{key}={carols}".encode())
    assert reply.status == 404, reply.body
    assert gateway.sandbox.requests() == []


# --- JSON sniffing, content types -----------------------------------------------------------


@pytest.mark.parametrize("content_type", [
    "text/plain", "application/x-ndjson", "APPLICATION/JSON; charset=UTF-8", None,
    "application/json; charset=utf-16",
])
@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16-le", "utf-16", "utf-32-be"])
def test_passthrough_json_in_any_utf_is_checked(
    sqlite_gateway: Gateway, content_type: str | None, encoding: str
) -> None:
    """JSON is sniffed whatever the Content-Type, BOM or UTF encoding, and checked; one in
    another encoding than the charset it declares is refused before that."""
    gateway = sqlite_gateway
    carols = upload(gateway, "carol", "user_data")
    gateway.sandbox.clear()
    raw = json.dumps({"x": [{"file_id": carols}]}).encode(encoding)
    reply = call(gateway.url, "POST", "/v1/probe/things", auth("alice", content_type), raw)
    declared = (content_type or "").lower().partition("charset=")[2]
    mislabelled = bool(declared) and declared[:6].rstrip("-") != encoding[:6].rstrip("-")
    assert (reply.status, reply.code) == ((400, "invalid_request") if mislabelled
                                          else (404, "file_not_found")), reply.body
    assert gateway.sandbox.requests() == []


@pytest.mark.parametrize("method", ["GET", "DELETE", "PUT", "PATCH"])
def test_passthrough_body_on_any_method_is_checked(sqlite_gateway: Gateway, method: str) -> None:
    """Held: a body sent with GET or DELETE is read like a POST's."""
    gateway = sqlite_gateway
    carols = upload(gateway, "carol", "user_data")
    gateway.sandbox.clear()
    reply = call(gateway.url, method, "/v1/probe/things", auth("alice"),
                 json.dumps({"file_id": carols}).encode())
    assert reply.status == 404, reply.body
    assert gateway.sandbox.requests() == []


@pytest.mark.parametrize("value", ["1", "null", "true", '["x"]', '{"id": "x"}'])
def test_non_string_ids_are_refused_not_skipped(sqlite_gateway: Gateway, value: str) -> None:
    """Held: a `file_id` that is a number, list or object is refused (null names nothing)."""
    gateway = sqlite_gateway
    gateway.sandbox.clear()
    raw = ('{"model": "gpt-4o", "input": [{"role": "user", "content": '
           '[{"type": "input_file", "file_id": ' + value + '}]}]}').encode()
    reply = call(gateway.url, "POST", "/v1/responses", auth("alice"), raw)
    if value == "null":
        assert reply.status == 200, reply.body  # names nothing
        return
    assert reply.status == 400, reply.body
    assert posts(gateway) == []


def test_chunked_body_with_trailer_is_checked(sqlite_gateway: Gateway) -> None:
    """Held: a chunked JSON body (with a trailer) is read whole and checked."""
    import socket
    from urllib.parse import urlsplit

    gateway = sqlite_gateway
    carols = upload(gateway, "carol", "user_data")
    gateway.sandbox.clear()
    payload = json.dumps(reading(carols)).encode()
    half = len(payload) // 2
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in (payload[:half], payload[half:]))
    parts = urlsplit(gateway.url)
    request = (b"POST /v1/responses HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk-alice\r\n"
               b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
               b"Connection: close\r\n\r\n" + chunks + b"0\r\nX-Trailer: 1\r\n\r\n")
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        while data := sock.recv(65536):
            answer += data
    assert answer.split(b" ", 2)[1] == b"404", answer[:300]
    assert posts(gateway) == []


# --- Multipart ------------------------------------------------------------------------------


def _form(boundary: str, *parts: tuple[str, bytes]) -> bytes:
    out = b""
    for head, value in parts:
        out += f"--{boundary}\r\n{head}\r\n\r\n".encode() + value + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


@pytest.mark.parametrize("head", [
    'Content-Disposition: form-data; name="mask[file_id]"\r\nContent-Transfer-Encoding: base64',
    'Content-Disposition: form-data; name="x"; name="mask[file_id]"',
    "Content-Disposition: form-data; name=mask[file_id]",
    'content-disposition: FORM-DATA; NAME="mask[file_id]"',
    'Content-Disposition: form-data; name="mask[file_id]"\r\nContent-Type: text/plain; charset=utf-16le',
])
def test_image_edit_form_fields_are_checked(sqlite_gateway: Gateway, head: str) -> None:
    """Multipart tricks on a scanned route: what the upstream receives is what the gateway
    checked (it re-serialises the form), or the id is refused."""
    gateway = sqlite_gateway
    carols = upload(gateway, "carol", "vision")
    gateway.sandbox.clear()
    value = carols.encode()
    if "base64" in head:
        import base64
        value = base64.b64encode(value)
    if "utf-16le" in head:
        value = carols.encode("utf-16-le")
    boundary = "bnd"
    body = _form(boundary, ('Content-Disposition: form-data; name="prompt"', b"p"),
                 ('Content-Disposition: form-data; name="model"', b"gpt-image-1"), (head, value))
    reply = call(gateway.url, "POST", "/v1/images/edits",
                 auth("alice", f"multipart/form-data; boundary={boundary}"), body)
    reached = [r for r in gateway.sandbox.requests() if r["path"] == "/v1/images/edits"]
    forms = [r.get("form") for r in reached]
    # Either refused, or what reached the upstream does not name carol's file.
    assert reply.status in REFUSED | {400} or all(
        carols not in json.dumps(form) for form in forms), (reply.status, forms)


def test_upload_access_field_sent_twice(sqlite_gateway: Gateway) -> None:
    """An `access` field sent twice (private_only, then empty) is refused, as `purpose` twice
    is: the last one silently won, and the file was recorded with no flags."""
    gateway = sqlite_gateway
    boundary = "bnd"
    body = _form(boundary,
                 ('Content-Disposition: form-data; name="purpose"', b"user_data"),
                 ('Content-Disposition: form-data; name="access"', b"private_only"),
                 ('Content-Disposition: form-data; name="access"', b""),
                 ('Content-Disposition: form-data; name="file"; filename="a.pdf"', b"%PDF-1.4"))
    reply = call(gateway.url, "POST", "/v1/files",
                 auth("alice", f"multipart/form-data; boundary={boundary}"), body)
    assert (reply.status, reply.code) == (400, "invalid_request"), reply.body


# --- Holder ids the walk does not know ------------------------------------------------------


def test_shell_tool_container_reference_of_another_org_is_checked(sqlite_gateway: Gateway) -> None:
    """The Responses shell tool runs in an existing container with `environment:
    {"type": "container_reference", "container_id": "cntr_..."}` (OpenAI's hosted shell;
    the sibling of code_interpreter's `container: "cntr_..."`, which the gateway checks).
    A careful user expects naming carol's container there to be refused as the
    code_interpreter form is: it lets alice run commands over carol's container files."""
    gateway = sqlite_gateway
    carols = gateway.client("carol").containers.create(name="c").id
    gateway.sandbox.clear()
    held = call(gateway.url, "POST", "/v1/responses", auth("alice"), json.dumps({
        "model": "gpt-5", "input": "ls /mnt/data",
        "tools": [{"type": "code_interpreter", "container": carols}]}).encode())
    assert held.status == 404, held.body
    reply = call(gateway.url, "POST", "/v1/responses", auth("alice"), json.dumps({
        "model": "gpt-5", "input": "cat /mnt/data/*",
        "tools": [{"type": "shell", "environment": {"type": "container_reference",
                                                    "container_id": carols}}]}).encode())
    reached = [r["json"] for r in posts(gateway) if r["path"] == "/v1/responses"]
    assert reached == [], (reply.status, reached)


@pytest.mark.parametrize("method, url", [
    ("GET", "/v1/files/{id}/content"),
    ("POST", "/v1/vector_stores/{id}/search"),
])
def test_batch_line_url_naming_an_object_is_checked(
    sqlite_gateway: Gateway, method: str, url: str
) -> None:
    """Only a line's `body` is read; its `url` is not. OpenAI requires POST to the batch's
    endpoint, but an OpenAI-compatible batch runner that dispatches each line by its own
    method and url would GET carol's file or search her vector store. A careful user expects
    a line whose url names an object (or is not the batch's endpoint) to be refused."""
    gateway = sqlite_gateway
    carols = (upload(gateway, "carol", "batch") if "files" in url
              else gateway.client("carol").vector_stores.create(name="v").id)
    data = json.dumps({"custom_id": "1", "method": method, "url": url.format(id=carols),
                       "body": {"query": "q"} if method == "POST" else None}).encode() + b"\n"
    status, code, _ = refusal(partial(batch_of, gateway, "alice", data))
    assert status in REFUSED or status == 400, code


def test_form_field_json_with_a_bom_is_checked(sqlite_gateway: Gateway) -> None:
    """A `session` part whose bytes are a UTF-8 BOM then JSON: the gateway's text check sees
    `\\ufeff{`, not `{`, and names nothing; Python's json.loads on the part's bytes (as the
    gateway itself reads a body) strips the BOM and reads carol's file."""
    gateway = sqlite_gateway
    carols = upload(gateway, "carol", "user_data")
    gateway.sandbox.clear()
    session = {"type": "realtime", "model": "gpt-realtime", "tools": [
        {"type": "code_interpreter", "container": {"type": "auto", "file_ids": [carols]}}]}
    value = b"\xef\xbb\xbf" + json.dumps(session).encode()
    assert json.loads(value)["tools"][0]["container"]["file_ids"] == [carols]
    boundary = "probeboundary"
    body = _form(boundary, ('Content-Disposition: form-data; name="sdp"', OFFER.encode()),
                 ('Content-Disposition: form-data; name="session"\r\n'
                  'Content-Type: application/json', value))
    reply = call(gateway.url, "POST", "/v1/realtime/calls",
                 auth("alice", f"multipart/form-data; boundary={boundary}"), body)
    reached = [r for r in gateway.sandbox.requests() if r["path"] == "/v1/realtime/calls"]
    assert reached == [], (reply.status, [r.get("form") for r in reached])


def test_upload_access_header_sent_twice(sqlite_gateway: Gateway) -> None:
    """Two `X-File-Access` header lines (an empty one, then `private_only`, as a front proxy
    appending its own would send) are one list (RFC 9110 §5.3): the first line alone was read,
    and the file recorded with no flags."""
    import http.client
    from urllib.parse import urlsplit

    gateway = sqlite_gateway
    boundary = "bnd"
    body = _form(boundary,
                 ('Content-Disposition: form-data; name="purpose"', b"user_data"),
                 ('Content-Disposition: form-data; name="file"; filename="a.pdf"', b"%PDF-1.4"))
    parts = urlsplit(gateway.url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
    conn.putrequest("POST", "/v1/files")
    for name, value in (("Authorization", "Bearer sk-alice"),
                        ("Content-Type", f"multipart/form-data; boundary={boundary}"),
                        ("Content-Length", str(len(body))),
                        ("X-File-Access", ""), ("X-File-Access", "private_only")):
        conn.putheader(name, value)
    conn.endheaders(body)
    response = conn.getresponse()
    answer = json.loads(response.read())
    conn.close()
    assert response.status == 200, answer
    assert answer["gateway"]["access"] == ["private_only"], answer


@pytest.mark.parametrize("prefix", [b"/* c */", b"// c\n", b"\xc2\xa0", b"\x0c"])
def test_passthrough_json_a_lenient_parser_reads_is_checked(
    sqlite_gateway: Gateway, prefix: bytes
) -> None:
    """`Content-Type: application/json` with a leading comment or a leading non-JSON blank
    (NBSP, form feed): Python's json cannot read it, so the passthrough sniff says 'not JSON'
    and streams it unread. Json.NET (Newtonsoft, ASP.NET MVC's classic formatter) skips
    comments and any char.IsWhiteSpace by default, and reads carol's file. A careful user
    expects a body declared JSON that the gateway cannot read to be refused, not forwarded
    unread."""
    gateway = sqlite_gateway
    carols = upload(gateway, "carol", "user_data")
    gateway.sandbox.clear()
    raw = prefix + json.dumps({"x": [{"file_id": carols}]}).encode()
    reply = call(gateway.url, "POST", "/v1/probe/things", auth("alice"), raw)
    reached = [r for r in gateway.sandbox.requests() if r["path"] == "/v1/probe/things"]
    assert reached == [], (reply.status, reply.headers.get("x-gateway-reason"))


def test_checked_routes_forward_json_without_the_callers_charset(sqlite_gateway: Gateway) -> None:
    """Held: on routes with rules (Responses here) the gateway re-labels the forwarded body
    `application/json`, so a charset the caller declared cannot change how the upstream
    decodes what the gateway checked."""
    gateway = sqlite_gateway
    gateway.sandbox.clear()
    raw = b'{"model": "gpt-4o", "input": [{"role": "user", "content": [{"type": "input_text", ' \
          b'"text": "+AGY-ile_id"}]}]}'
    reply = call(gateway.url, "POST", "/v1/responses",
                 auth("alice", "application/json; charset=utf-7"), raw)
    assert reply.status == 200, reply.body
    sent = [r["headers"]["content-type"] for r in posts(gateway) if r["path"] == "/v1/responses"]
    assert sent == ["application/json"]


def test_a_function_tool_may_take_a_file_id_parameter(sqlite_gateway: Gateway) -> None:
    """A JSON Schema's property names name nothing: a function tool with a `file_id` parameter,
    or a structured output with a `file_url` field, was refused as a file id that is not a
    string (400), and under `inline_files: deny` as an inline file. Values in the schemas are
    still walked: a default naming carol's file is refused."""
    gateway = sqlite_gateway
    schema = {"type": "object", "properties": {
        "file_id": {"type": "string"},
        "pages": {"type": "array", "items": {"type": "object",
                                             "properties": {"file_url": {"type": "string"}}}}},
        "required": ["file_id", "pages"], "additionalProperties": False}
    client = gateway.client("alice")
    made = client.responses.create(
        model="gpt-4o", input="which file?",
        tools=[{"type": "function", "name": "open_file", "parameters": schema, "strict": True}],
        text={"format": {"type": "json_schema", "name": "answer", "schema": schema}})
    assert made.id.startswith("resp")
    chat = client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "which file?"}],
        tools=[{"type": "function", "function": {"name": "open_file", "parameters": schema}}])
    assert chat.id
    carols = upload(gateway, "carol", "user_data")
    hidden = {**schema, "properties": {"file_id": {"type": "string", "default": {"file_id": carols}}}}
    status, code, _ = refusal(partial(
        client.responses.create, model="gpt-4o", input="x",
        tools=[{"type": "function", "name": "open_file", "parameters": hidden}]))
    assert (status, code) == (404, "file_not_found")


def test_a_schema_property_named_like_an_inline_file_is_not_one(make_gateway: GatewayFactory) -> None:
    """Under `inline_files: deny`, a property named `file_data` in a schema is not an inline
    file; a real `file_data` input still is."""
    def deny_inline(policy: dict[str, Any]) -> None:
        policy["inline_files"] = "deny"

    gateway = make_gateway(deny_inline)
    client = gateway.client("alice")
    schema: dict[str, Any] = {"type": "object", "properties": {"file_data": {"type": "string"}}}
    made = client.responses.create(
        model="gpt-4o", input="x",
        tools=[{"type": "function", "name": "f", "parameters": schema, "strict": False}])
    assert made.id.startswith("resp")
    status, code, _ = refusal(partial(
        client.responses.create, model="gpt-4o",
        input=[{"role": "user", "content": [{"type": "input_file", "filename": "a.pdf",
                                              "file_data": "data:application/pdf;base64,JVBERg=="}]}]))
    assert (status, code) == (400, "purpose_api_mismatch")


@pytest.mark.parametrize("make_line", [
    lambda batch: {"custom_id": "1", "method": "POST", "url": f"/v1/batches/{batch}/cancel",
                   "body": {}},
    lambda batch: {"custom_id": "1", "method": "DELETE", "url": "/v1/responses", "body": {}},
    lambda batch: {"custom_id": "1", "method": "POST", "url": "/v1/responses",
                   "body": {"input": "hi", "note": {"url": f"/v1/batches/{batch}/cancel"}}},
])
def test_a_line_with_nothing_to_name_must_still_post_to_the_endpoint(
    sqlite_gateway: Gateway, make_line: Any
) -> None:
    """A line with no file, holder or continued exchange in it still calls something: one that
    cancels carol's batch, or deletes, is refused though nothing in it could name a file. A
    `url` key deeper in the body is read as the line's own would be (parsed, and allowed)."""
    gateway = sqlite_gateway
    carols = gateway.client("carol").batches.create(
        input_file_id=upload(gateway, "carol", "batch", data=line("1", "/v1/responses", {
            "model": "gpt-4o", "input": "hi"}) + b"\n", filename="c.jsonl"),
        endpoint="/v1/responses", completion_window="24h").id
    data = json.dumps(make_line(carols)).encode() + b"\n"
    if "note" in data.decode():
        assert batch_of(gateway, "alice", data).id.startswith("batch")
        return
    status, code, _ = refusal(partial(batch_of, gateway, "alice", data))
    assert (status, code) == (400, "invalid_request")
