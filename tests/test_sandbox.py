"""The sandbox upstream, driven as a user would: the official SDK and raw HTTP."""

from __future__ import annotations

import asyncio
import hashlib
import io
import re
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, cast

import httpx2
import openai
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from openai import OpenAI
from pytest_aiohttp import AiohttpClient

from gateway.sandbox import create_sandbox_app
from gateway.sandbox.keys import STATE
from gateway.sandbox.references import referenced_file_ids

KEY = {"Authorization": "Bearer sk-test"}
FILE_ID = re.compile(r"^file-[A-Za-z0-9]{24}$")
NO_KEY = (
    "You didn't provide an API key. You need to provide your API key in an Authorization "
    "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field "
    "(with blank username) if you're accessing the API from your browser and are prompted for "
    "a username and password. You can obtain an API key from "
    "https://platform.openai.com/account/api-keys."
)


def error(message: str, param: str | None = None, type_: str = "invalid_request_error") -> Any:
    return {"error": {"message": message, "type": type_, "param": param, "code": None}}


class ThreadedSandbox:
    """The sandbox on a free 127.0.0.1 port, served by its own event loop in a thread."""

    def __init__(self, data_dir: Path | None = None) -> None:
        self._app = create_sandbox_app(data_dir)
        self._loop = asyncio.new_event_loop()
        self._runner = web.AppRunner(self._app)
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.port = 0

    async def _start(self) -> None:
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = self._runner.addresses[0][1]

    def __enter__(self) -> ThreadedSandbox:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def control(self, method: str, path: str, body: Any = None) -> Any:
        """Call a ``/__sandbox`` endpoint and return its JSON (None for 204)."""
        url = f"http://127.0.0.1:{self.port}/__sandbox/{path}"
        answer = httpx2.request(method, url, json=body)
        answer.raise_for_status()
        return None if answer.status_code == 204 else answer.json()

    def requests(self) -> list[dict[str, Any]]:
        return cast(list[dict[str, Any]], self.control("GET", "requests"))


@pytest.fixture
def sandbox() -> Iterator[ThreadedSandbox]:
    with ThreadedSandbox() as running:
        yield running


@pytest.fixture
def client(sandbox: ThreadedSandbox) -> Iterator[OpenAI]:
    with OpenAI(api_key="sk-test", base_url=sandbox.base_url, max_retries=0) as sdk:
        yield sdk


@pytest.fixture
async def raw(aiohttp_client: AiohttpClient) -> TestClient[web.Request, web.Application]:
    return await aiohttp_client(create_sandbox_app())


def multipart(fields: list[tuple[str, str | tuple[str, bytes]]]) -> tuple[bytes, str]:
    """A multipart body with the fields in exactly the given order."""
    boundary = "sandboxboundary0123456789abcdef"
    out = io.BytesIO()
    for name, value in fields:
        out.write(f"--{boundary}\r\n".encode())
        if isinstance(value, tuple):
            out.write(
                f'Content-Disposition: form-data; name="{name}"; filename="{value[0]}"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n".encode()
            )
            out.write(value[1])
        else:
            out.write(f'Content-Disposition: form-data; name="{name}"\r\n\r\n{value}'.encode())
        out.write(b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    return out.getvalue(), f"multipart/form-data; boundary={boundary}"


async def chunks(body: bytes, size: int = 7) -> AsyncIterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


# --- Files ---------------------------------------------------------------------------------


def test_upload_returns_an_openai_file_object(client: OpenAI) -> None:
    """An SDK upload answers a complete File object with a file- id and no expiry."""
    created = client.files.create(file=("notes.txt", b"hello"), purpose="user_data")
    assert FILE_ID.match(created.id)
    assert created.model_dump() == {
        "id": created.id,
        "object": "file",
        "bytes": 5,
        "created_at": created.created_at,
        "expires_at": None,
        "filename": "notes.txt",
        "purpose": "user_data",
        "status": "processed",
        "status_details": None,
    }
    assert abs(created.created_at - time.time()) < 5


def test_batch_files_expire_after_30_days_by_default(client: OpenAI) -> None:
    """A purpose=batch upload gets expires_at = created_at + 30 days."""
    created = client.files.create(file=("in.jsonl", b"{}\n"), purpose="batch")
    assert created.expires_at == created.created_at + 30 * 24 * 3600


def test_expires_after_sets_expires_at(client: OpenAI) -> None:
    """expires_after[anchor]/[seconds] become expires_at, and both reach the log as form fields."""
    created = client.files.create(
        file=("a.txt", b"x"),
        purpose="vision",
        expires_after={"anchor": "created_at", "seconds": 3600},
    )
    assert created.expires_at == created.created_at + 3600


@pytest.mark.parametrize("seconds", [3599, 2592001])
def test_expires_after_out_of_range_is_rejected(client: OpenAI, seconds: int) -> None:
    """expires_after[seconds] outside 3600..2592000 is a 400."""
    with pytest.raises(openai.BadRequestError) as caught:
        client.files.create(
            file=("a.txt", b"x"),
            purpose="vision",
            expires_after={"anchor": "created_at", "seconds": seconds},
        )
    assert caught.value.param == "expires_after.seconds"


def test_unknown_purpose_is_rejected_like_openai(client: OpenAI) -> None:
    """An upload purpose outside the enum gets OpenAI's jsonschema enum message."""
    with pytest.raises(openai.BadRequestError) as caught:
        client.files.create(file=("a.txt", b"x"), purpose=cast(Any, "batch_output"))
    assert cast(dict[str, Any], caught.value.body)["message"] == (
        "'batch_output' is not one of ['assistants', 'batch', 'fine-tune', 'vision', "
        "'user_data', 'evals'] - 'purpose'"
    )


@pytest.mark.parametrize(
    ("file_first", "chunked"),
    [(False, False), (True, False), (False, True), (True, True)],
    ids=[
        "purpose-first/length",
        "file-first/length",
        "purpose-first/chunked",
        "file-first/chunked",
    ],
)
async def test_upload_accepts_any_field_order_and_framing(
    raw: TestClient[web.Request, web.Application], file_first: bool, chunked: bool
) -> None:
    """The form is read whole, so file-before-purpose and chunked framing both work."""
    payload = bytes(range(256)) * 40
    fields: list[tuple[str, str | tuple[str, bytes]]] = [
        ("purpose", "vision"),
        ("file", ("pic.bin", payload)),
    ]
    body, ctype = multipart(fields[::-1] if file_first else fields)
    data: Any = chunks(body) if chunked else body
    answer = await raw.post("/v1/files", data=data, headers={**KEY, "Content-Type": ctype})
    assert answer.status == 200, await answer.text()
    created = await answer.json()
    assert (created["bytes"], created["filename"], created["purpose"]) == (
        len(payload),
        "pic.bin",
        "vision",
    )
    content = await raw.get(f"/v1/files/{created['id']}/content", headers=KEY)
    assert await content.read() == payload


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["owner"], "Additional properties are not allowed ('owner' was unexpected)"),
        (
            ["expires_after", "x"],
            "Additional properties are not allowed ('expires_after', 'x' were unexpected)",
        ),
    ],
)
async def test_unknown_multipart_fields_are_rejected(
    raw: TestClient[web.Request, web.Application], extra: list[str], message: str
) -> None:
    """A field besides file, purpose and expires_after[...] is an additionalProperties 400."""
    fields: list[tuple[str, str | tuple[str, bytes]]] = [("purpose", "vision")]
    fields += [(name, "1") for name in extra] + [("file", ("a.txt", b"abc"))]
    body, ctype = multipart(fields)
    answer = await raw.post("/v1/files", data=body, headers={**KEY, "Content-Type": ctype})
    assert answer.status == 400
    assert await answer.json() == error(message)
    listed = await raw.get("/v1/files", headers=KEY)
    assert (await listed.json())["data"] == []


async def test_missing_file_part_is_rejected(raw: TestClient[web.Request, web.Application]) -> None:
    """A form without a file part is a 400 naming the missing parameter."""
    body, ctype = multipart([("purpose", "vision")])
    answer = await raw.post("/v1/files", data=body, headers={**KEY, "Content-Type": ctype})
    assert answer.status == 400
    assert (await answer.json())["error"]["param"] == "file"


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer "}, {"Authorization": "Basic abc"}],
    ids=["absent", "empty", "not-bearer"],
)
async def test_requests_without_a_bearer_key_get_401(
    raw: TestClient[web.Request, web.Application], headers: dict[str, str]
) -> None:
    """Every /v1 call without a non-empty bearer key is a 401 with OpenAI's message."""
    answer = await raw.get("/v1/files", headers=headers)
    assert answer.status == 401
    assert await answer.json() == error(NO_KEY)


def test_list_paginates_in_both_orders_and_filters_by_purpose(
    client: OpenAI, sandbox: ThreadedSandbox
) -> None:
    """Auto-pagination walks every page with after=<last id>, stable for equal created_at."""
    ids = [
        client.files.create(file=(f"{n}.txt", b"x"), purpose="vision" if n % 2 else "batch").id
        for n in range(5)
    ]
    sandbox.control("DELETE", "requests")
    assert [f.id for f in client.files.list(limit=2, order="asc")] == ids
    assert [f.id for f in client.files.list(limit=2)] == ids[::-1]
    assert [f.id for f in client.files.list(limit=1, purpose="vision", order="asc")] == ids[1::2]
    afters = [r["query"].get("after") for r in sandbox.requests()[:3]]
    assert afters == [None, ids[1], ids[3]]


def test_list_page_fields(client: OpenAI, sandbox: ThreadedSandbox) -> None:
    """A page carries first_id, last_id and has_more; an empty one has null ids."""
    ids = [client.files.create(file=("a.txt", b"x"), purpose="vision").id for _ in range(3)]
    url = f"{sandbox.base_url}/files"
    first = httpx2.get(url, params={"limit": 2, "order": "asc"}, headers=KEY).json()
    assert first["object"] == "list" and [f["id"] for f in first["data"]] == ids[:2]
    assert (first["first_id"], first["last_id"], first["has_more"]) == (ids[0], ids[1], True)
    empty = httpx2.get(url, params={"purpose": "evals"}, headers=KEY).json()
    assert empty == {
        "object": "list",
        "data": [],
        "first_id": None,
        "last_id": None,
        "has_more": False,
    }


def test_list_after_unknown_id_is_empty(client: OpenAI) -> None:
    """An after cursor the sandbox never issued yields an empty page."""
    client.files.create(file=("a.txt", b"x"), purpose="vision")
    assert client.files.list(after="file-unknown").data == []


def test_list_after_deleted_id_resumes_in_place(client: OpenAI) -> None:
    """A cursor naming a file deleted between pages still resumes behind it."""
    ids = [client.files.create(file=("a.txt", b"x"), purpose="vision").id for _ in range(3)]
    client.files.delete(ids[1])
    assert [f.id for f in client.files.list(after=ids[1], order="asc")] == [ids[2]]


@pytest.mark.parametrize("query", ["limit=0", "limit=10001", "limit=x", "order=up"])
async def test_bad_list_parameters_are_rejected(
    raw: TestClient[web.Request, web.Application], query: str
) -> None:
    """limit outside 1..10000 and order other than asc|desc are 400s."""
    answer = await raw.get(f"/v1/files?{query}", headers=KEY)
    assert answer.status == 400


def test_retrieve_and_delete(client: OpenAI) -> None:
    """Retrieve returns the File; delete answers deleted:true and the file is gone."""
    created = client.files.create(file=("a.txt", b"abc"), purpose="vision")
    assert client.files.retrieve(created.id) == created
    deleted = client.files.delete(created.id)
    assert deleted.model_dump() == {"id": created.id, "object": "file", "deleted": True}
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(created.id)


@pytest.mark.parametrize(
    ("method", "suffix"),
    [("GET", ""), ("DELETE", ""), ("GET", "/content")],
)
async def test_unknown_file_is_404_with_openai_body(
    raw: TestClient[web.Request, web.Application], method: str, suffix: str
) -> None:
    """Every files route answers 404 No such File object with param id."""
    answer = await raw.request(method, f"/v1/files/file-nope{suffix}", headers=KEY)
    assert answer.status == 404
    assert await answer.json() == error("No such File object: file-nope", "id")


async def test_content_is_raw_octet_stream(raw: TestClient[web.Request, web.Application]) -> None:
    """Content returns the exact bytes as application/octet-stream."""
    body, ctype = multipart([("purpose", "batch"), ("file", ("in.jsonl", b'{"a":1}\n'))])
    created = await (await raw.post("/v1/files", data=body, headers={**KEY, "Content-Type": ctype})).json()
    answer = await raw.get(f"/v1/files/{created['id']}/content", headers=KEY)
    assert answer.headers["Content-Type"] == "application/octet-stream"
    assert answer.headers["x-request-id"].startswith("req_")
    assert await answer.read() == b'{"a":1}\n'


@pytest.mark.parametrize("purpose", ["user_data", "assistants"])
def test_content_of_undownloadable_purposes_is_refused(
    client: OpenAI, sandbox: ThreadedSandbox, purpose: str
) -> None:
    """user_data and assistants content is a 400 with OpenAI's exact body."""
    created = client.files.create(file=("a.txt", b"secret"), purpose=cast(Any, purpose))
    answer = httpx2.get(f"{sandbox.base_url}/files/{created.id}/content", headers=KEY)
    assert answer.status_code == 400
    assert answer.json() == error(f"Not allowed to download files of purpose: {purpose}")
    with pytest.raises(openai.BadRequestError):
        client.files.content(created.id)


@pytest.mark.parametrize("purpose", ["batch_output", "fine-tune-results", "assistants_output", "vision"])
def test_seeded_files_take_any_purpose(client: OpenAI, sandbox: ThreadedSandbox, purpose: str) -> None:
    """/__sandbox/files seeds server-made purposes; their content downloads."""
    seeded = sandbox.control(
        "POST", "files", {"purpose": purpose, "filename": "out.jsonl", "content": "done\n"}
    )
    assert FILE_ID.match(seeded["id"]) and seeded["purpose"] == purpose
    assert client.files.content(seeded["id"]).content == b"done\n"


def test_expired_files_behave_as_deleted(client: OpenAI, sandbox: ThreadedSandbox) -> None:
    """Past expires_at a file is gone from retrieve, list and content."""
    created = client.files.create(file=("in.jsonl", b"{}\n"), purpose="batch")
    sandbox.control("POST", "clock", {"advance": 30 * 24 * 3600})
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(created.id)
    assert client.files.list().data == []


@pytest.mark.parametrize(("method", "path"), [("GET", "/v1/xyz"), ("PUT", "/v1/files")])
async def test_unknown_v1_route_is_404_invalid_url(
    raw: TestClient[web.Request, web.Application], method: str, path: str
) -> None:
    """An unknown /v1 route or method answers OpenAI's Invalid URL 404."""
    answer = await raw.request(method, path, headers=KEY)
    assert answer.status == 404
    assert await answer.json() == error(f"Invalid URL ({method} {path})")


async def test_metadata_survives_a_restart_with_a_data_dir(
    aiohttp_client: AiohttpClient, tmp_path: Path
) -> None:
    """With an explicit data_dir, files (metadata and bytes) outlive the app."""
    first = await aiohttp_client(create_sandbox_app(tmp_path))
    body, ctype = multipart([("purpose", "vision"), ("file", ("a.txt", b"kept"))])
    created = await (await first.post("/v1/files", data=body, headers={**KEY, "Content-Type": ctype})).json()
    await first.close()
    second = await aiohttp_client(create_sandbox_app(tmp_path))
    assert (await (await second.get(f"/v1/files/{created['id']}", headers=KEY)).json()) == created
    content = await second.get(f"/v1/files/{created['id']}/content", headers=KEY)
    assert await content.read() == b"kept"


async def test_default_data_dir_is_removed_on_cleanup(aiohttp_client: AiohttpClient) -> None:
    """Without data_dir, bytes live in a temporary directory that cleanup removes."""
    app = create_sandbox_app()
    test_client = await aiohttp_client(app)
    root = app[STATE].root
    assert root.is_dir()
    await test_client.close()
    assert not root.exists()


# --- Uploads -------------------------------------------------------------------------------


def test_upload_file_chunked_yields_a_file(client: OpenAI) -> None:
    """The SDK's chunked helper ends with a completed Upload holding the File."""
    data = b"0123456789" * 10
    upload = client.uploads.upload_file_chunked(
        file=data,
        filename="big.jsonl",
        bytes=len(data),
        mime_type="text/jsonl",
        purpose="batch",
        part_size=30,
    )
    assert upload.status == "completed" and upload.file is not None
    assert (upload.file.filename, upload.file.purpose, upload.file.bytes) == (
        "big.jsonl",
        "batch",
        100,
    )
    assert client.files.content(upload.file.id).content == data


def test_upload_parts_join_in_part_ids_order_and_check_md5(client: OpenAI) -> None:
    """complete joins parts in part_ids order; a wrong md5 or byte total is a 400."""
    upload = client.uploads.create(bytes=6, filename="a.txt", mime_type="text/plain", purpose="vision")
    second = client.uploads.parts.create(upload.id, data=b"def")
    first = client.uploads.parts.create(upload.id, data=b"abc")
    with pytest.raises(openai.BadRequestError):
        client.uploads.complete(upload.id, part_ids=[first.id])
    with pytest.raises(openai.BadRequestError):
        client.uploads.complete(upload.id, part_ids=[first.id, second.id], md5="0" * 32)
    md5 = hashlib.md5(b"abcdef").hexdigest()
    done = client.uploads.complete(upload.id, part_ids=[first.id, second.id], md5=md5)
    assert done.file is not None
    assert client.files.content(done.file.id).content == b"abcdef"


def test_cancelled_upload_takes_no_parts(client: OpenAI) -> None:
    """A cancelled Upload reports cancelled and refuses further parts."""
    upload = client.uploads.create(bytes=3, filename="a.txt", mime_type="text/plain", purpose="vision")
    assert client.uploads.cancel(upload.id).status == "cancelled"
    with pytest.raises(openai.BadRequestError):
        client.uploads.parts.create(upload.id, data=b"abc")


async def test_upload_errors(raw: TestClient[web.Request, web.Application]) -> None:
    """Unknown keys on create are a 400; an unknown upload is a 404 No such Upload."""
    body = {"bytes": 1, "filename": "a", "mime_type": "text/plain", "purpose": "batch", "x": 1}
    answer = await raw.post("/v1/uploads", json=body, headers=KEY)
    assert await answer.json() == error("Additional properties are not allowed ('x' was unexpected)")
    answer = await raw.post("/v1/uploads/upload_nope/cancel", headers=KEY)
    assert answer.status == 404
    assert await answer.json() == error("No such Upload: upload_nope", "id")


# --- Batches and fine-tuning ---------------------------------------------------------------


def test_batch_completes_with_a_batch_output_file(client: OpenAI) -> None:
    """A batch completes at once; its output file has purpose batch_output, one line per input."""
    lines = b"".join(
        b'{"custom_id":"r%d","method":"POST","url":"/v1/chat/completions",'
        b'"body":{"model":"gpt-4o-mini","messages":[]}}\n' % n
        for n in range(3)
    )
    source = client.files.create(file=("in.jsonl", lines), purpose="batch")
    batch = client.batches.create(
        input_file_id=source.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    assert (batch.status, batch.input_file_id, batch.error_file_id) == (
        "completed",
        source.id,
        None,
    )
    assert batch.request_counts is not None and batch.request_counts.completed == 3
    assert batch.output_file_id is not None
    output = client.files.retrieve(batch.output_file_id)
    assert output.purpose == "batch_output"
    text = client.files.content(output.id).text
    assert [line.count('"custom_id"') for line in text.splitlines()] == [1, 1, 1]
    assert client.batches.retrieve(batch.id) == batch
    assert [b.id for b in client.batches.list()] == [batch.id]
    with pytest.raises(openai.BadRequestError):
        client.batches.cancel(batch.id)


def test_batch_input_must_exist_and_have_purpose_batch(client: OpenAI) -> None:
    """An unknown input file is a 404; a non-batch one is a 400 on input_file_id."""
    with pytest.raises(openai.NotFoundError):
        client.batches.create(input_file_id="file-nope", endpoint="/v1/responses", completion_window="24h")
    other = client.files.create(file=("in.jsonl", b"{}\n"), purpose="fine-tune")
    with pytest.raises(openai.BadRequestError) as caught:
        client.batches.create(input_file_id=other.id, endpoint="/v1/responses", completion_window="24h")
    assert caught.value.param == "input_file_id"


def test_fine_tune_job_yields_results_file(client: OpenAI) -> None:
    """A job succeeds at once; its result file has purpose fine-tune-results and downloads."""
    train = client.files.create(file=("t.jsonl", b"{}\n"), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=train.id)
    assert (job.status, job.training_file, len(job.result_files)) == ("succeeded", train.id, 1)
    result = client.files.retrieve(job.result_files[0])
    assert result.purpose == "fine-tune-results"
    assert client.files.content(result.id).text.startswith("step,")
    assert client.fine_tuning.jobs.retrieve(job.id) == job
    assert [j.id for j in client.fine_tuning.jobs.list()] == [job.id]


def test_fine_tune_files_must_have_purpose_fine_tune(client: OpenAI) -> None:
    """training_file and validation_file of another purpose are 400s naming the parameter."""
    train = client.files.create(file=("t.jsonl", b"{}\n"), purpose="fine-tune")
    other = client.files.create(file=("v.jsonl", b"{}\n"), purpose="batch")
    with pytest.raises(openai.BadRequestError) as caught:
        client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=train.id, validation_file=other.id)
    assert caught.value.param == "validation_file"
    with pytest.raises(openai.NotFoundError):
        client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file="file-nope")


# --- APIs that reference files -------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"input": [{"content": [{"type": "input_file", "file_id": "file-a"}]}]}, ["file-a"]),
        ({"messages": [{"content": [{"type": "file", "file": {"file_id": "f1"}}]}]}, ["f1"]),
        ({"tools": [{"container": {"type": "auto", "file_ids": ["f1", "f2"]}}]}, ["f1", "f2"]),
        ({"data_source": {"source": {"type": "file_id", "id": "f9"}}}, ["f9"]),
        (
            {"training_file": "f1", "validation_file": "f2", "input_file_id": "f3"},
            ["f1", "f2", "f3"],
        ),
        ({"images": [{"file_id": "f1"}, {"image_url": "u"}], "mask": {"file_id": "f1"}}, ["f1"]),
        ({"input": "text only", "file_ids": "not-a-list"}, []),
    ],
)
def test_referenced_file_ids_walks_bodies(body: dict[str, Any], expected: list[str]) -> None:
    """Every file id key is found wherever it sits, once each, in document order."""
    assert referenced_file_ids(body) == expected


def test_responses_and_chat_return_well_formed_objects(client: OpenAI) -> None:
    """Responses and Chat Completions validate file ids and answer the right object types."""
    pdf = client.files.create(file=("a.pdf", b"%PDF"), purpose="user_data")
    response = client.responses.create(
        model="gpt-4o",
        input=[{"role": "user", "content": [{"type": "input_file", "file_id": pdf.id}]}],
    )
    assert (response.object, response.status) == ("response", "completed")
    assert pdf.id in response.output_text
    chat = client.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": [{"type": "file", "file": {"file_id": pdf.id}}]}],
    )
    assert chat.object == "chat.completion" and len(chat.choices) == 1
    assert chat.choices[0].message.content is not None


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/responses", {"model": "m", "input": [{"content": [{"file_id": "file-gone"}]}]}),
        ("/v1/chat/completions", {"messages": [{"content": [{"file": {"file_id": "file-gone"}}]}]}),
        (
            "/v1/evals/eval_1/runs",
            {"data_source": {"source": {"type": "file_id", "id": "file-gone"}}},
        ),
        ("/v1/images/edits", {"images": [{"image_url": "u"}], "mask": {"file_id": "file-gone"}}),
        ("/v1/vector_stores", {"file_ids": ["file-gone"]}),
        ("/v1/containers", {"name": "c", "file_ids": ["file-gone"]}),
    ],
)
async def test_unknown_referenced_file_is_404(
    raw: TestClient[web.Request, web.Application], path: str, body: dict[str, Any]
) -> None:
    """Every referencing API answers 404 No such File object for an unknown id."""
    answer = await raw.post(path, json=body, headers=KEY)
    assert answer.status == 404
    assert await answer.json() == error("No such File object: file-gone", "id")


def test_eval_run_and_image_edit(client: OpenAI) -> None:
    """An eval run over a file and a JSON image edit return eval.run and image data."""
    data = client.files.create(file=("d.jsonl", b"{}\n"), purpose="evals")
    made = client.evals.create(
        data_source_config={"type": "custom", "item_schema": {"type": "object"}}, testing_criteria=[]
    )
    run = client.evals.runs.create(
        made.id, data_source={"type": "jsonl", "source": {"type": "file_id", "id": data.id}}
    )
    assert (run.object, run.eval_id) == ("eval.run", made.id)
    image = client.files.create(file=("i.png", b"png"), purpose="vision")
    answer = client.post(
        "/images/edits",
        body={"prompt": "p", "images": [{"file_id": image.id}], "mask": {"file_id": image.id}},
        cast_to=cast(Any, object),
    )
    assert cast(dict[str, Any], answer)["data"][0]["b64_json"]


def test_vector_store_files_and_content(client: OpenAI) -> None:
    """Vector stores attach files, serve their text as a content page, and lose deleted files."""
    first = client.files.create(file=("a.txt", b"alpha"), purpose="assistants")
    second = client.files.create(file=("b.txt", b"beta"), purpose="assistants")
    store = client.vector_stores.create(name="docs", file_ids=[first.id])
    client.vector_stores.files.create(vector_store_id=store.id, file_id=second.id)
    assert sorted(f.id for f in client.vector_stores.files.list(store.id)) == sorted([first.id, second.id])
    pages = list(client.vector_stores.files.content(first.id, vector_store_id=store.id))
    assert [(p.type, p.text) for p in pages] == [("text", "alpha")]
    batch = client.vector_stores.file_batches.create(store.id, file_ids=[first.id, second.id])
    assert (batch.object, batch.status) == ("vector_store.files_batch", "completed")
    assert client.vector_stores.file_batches.retrieve(batch.id, vector_store_id=store.id).id == batch.id
    listed = client.vector_stores.file_batches.list_files(batch.id, vector_store_id=store.id, order="asc")
    assert [f.id for f in listed] == [first.id, second.id]
    assert not client.vector_stores.file_batches.list_files(
        batch.id, vector_store_id=store.id, filter="failed").data
    client.files.delete(first.id)
    assert [f.id for f in client.vector_stores.files.list(store.id)] == [second.id]
    assert [f.id for f in client.vector_stores.file_batches.list_files(
        batch.id, vector_store_id=store.id)] == [second.id]
    with pytest.raises(openai.NotFoundError):
        client.vector_stores.file_batches.retrieve("vsfb_none", vector_store_id=store.id)
    assert client.vector_stores.delete(store.id).deleted


def test_container_files_copy_bytes(client: OpenAI) -> None:
    """Container files copy File bytes under cfile_ ids and serve them."""
    source = client.files.create(file=("a.csv", b"a,b\n1,2\n"), purpose="user_data")
    container = client.containers.create(name="c", file_ids=[source.id])
    added = client.containers.files.create(container.id, file_id=source.id)
    assert added.id.startswith("cfile_") and added.bytes == 8
    content = client.containers.files.content.retrieve(added.id, container_id=container.id)
    assert content.content == b"a,b\n1,2\n"


# --- Introspection and faults --------------------------------------------------------------


def test_request_log_records_form_fields_and_byte_counts(client: OpenAI, sandbox: ThreadedSandbox) -> None:
    """The log shows method, path, headers, form fields and file byte counts, never bytes."""
    client.files.create(
        file=("a.txt", b"12345"),
        purpose="vision",
        expires_after={"anchor": "created_at", "seconds": 7200},
    )
    client.files.list(limit=3)
    first, second = sandbox.requests()
    assert (first["method"], first["path"], first["json"]) == ("POST", "/v1/files", None)
    assert first["headers"]["authorization"] == "Bearer sk-test"
    assert first["form"] == {
        "purpose": "vision",
        "expires_after[anchor]": "created_at",
        "expires_after[seconds]": "7200",
    }
    assert first["files"] == {"file": {"filename": "a.txt", "bytes": 5}}
    assert (second["method"], second["query"]) == ("GET", {"limit": "3"})
    sandbox.control("DELETE", "requests")
    assert sandbox.requests() == []


def test_request_log_records_json_bodies(client: OpenAI, sandbox: ThreadedSandbox) -> None:
    """JSON request bodies are recorded as decoded JSON."""
    client.uploads.create(bytes=1, filename="a", mime_type="text/plain", purpose="batch")
    (entry,) = sandbox.requests()
    assert entry["json"] == {
        "bytes": 1,
        "filename": "a",
        "mime_type": "text/plain",
        "purpose": "batch",
    }


def test_status_fault_answers_without_handling(sandbox: ThreadedSandbox) -> None:
    """A status fault answers an OpenAI 500 body; the SDK's retries show in the log."""
    sandbox.control("POST", "faults", {"status": {"POST /v1/files": 500}})
    with OpenAI(api_key="sk-test", base_url=sandbox.base_url, max_retries=1) as retrying:
        with pytest.raises(openai.InternalServerError) as caught:
            retrying.files.create(file=("a.txt", b"x"), purpose="vision")
        assert caught.value.type == "server_error"
        entries = sandbox.requests()
        assert [e["headers"]["x-stainless-retry-count"] for e in entries] == ["0", "1"]
        assert entries[0]["form"] == {"purpose": "vision"}
        sandbox.control("POST", "faults", {})
        assert retrying.files.list().data == []


def test_delay_fault_sleeps_before_handling(client: OpenAI, sandbox: ThreadedSandbox) -> None:
    """A delay fault holds matching requests (by method and path prefix) only."""
    sandbox.control("POST", "faults", {"delay": {"GET /v1/files": 0.3}})
    started = time.monotonic()
    client.files.list()
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    client.batches.list()
    assert time.monotonic() - started < 0.3


def test_drop_header_fault_strips_it_from_the_answer(sandbox: ThreadedSandbox) -> None:
    """As a proxy on the way that strips a header would: the call is made, its id unsaid."""
    sandbox.control("POST", "faults", {"drop_header": {"POST /v1/realtime/calls": "Location"}})
    with OpenAI(api_key="sk-test", base_url=sandbox.base_url, max_retries=0) as client:
        made = client.realtime.calls.with_raw_response.create(sdp="v=0\r\n")
        assert made.status_code == 201
        assert "location" not in made.headers
        sandbox.control("POST", "faults", {})
        made = client.realtime.calls.with_raw_response.create(sdp="v=0\r\n")
        assert made.headers["location"].startswith("/v1/realtime/calls/rtc_")


def test_idempotent_fault_replays_a_keys_first_answer_per_bearer_key(
    sandbox: ThreadedSandbox,
) -> None:
    """As some OpenAI-compatible upstreams do: the same key from the same bearer key gets the
    first object again; another bearer key, or no key, makes a new one."""
    sandbox.control("POST", "faults", {"idempotent": {"POST /v1/vector_stores": True}})
    key = {"Idempotency-Key": "k1"}
    with OpenAI(api_key="sk-a", base_url=sandbox.base_url, max_retries=0) as a, \
            OpenAI(api_key="sk-b", base_url=sandbox.base_url, max_retries=0) as b:
        first = a.vector_stores.create(name="x", extra_headers=key).id
        assert a.vector_stores.create(name="x", extra_headers=key).id == first
        assert b.vector_stores.create(name="x", extra_headers=key).id != first
        assert a.vector_stores.create(name="x").id != first
        sandbox.control("POST", "faults", {})
        assert a.vector_stores.create(name="x", extra_headers=key).id != first


async def test_bad_fault_sets_are_rejected(raw: TestClient[web.Request, web.Application]) -> None:
    """Every problem in a fault set is reported at once, and nothing is replaced."""
    bad = {"status": {"GET": 500, "POST /v1/files": 200}, "delay": {"GET /v1": -1},
           "drop_header": {"POST /v1/files": ""}, "idempotent": {"POST /v1/files": 1}}
    answer = await raw.post("/__sandbox/faults", json=bad)
    assert answer.status == 400
    assert (await answer.json())["error"]["message"].count(";") == 4
    assert await (await raw.get("/__sandbox/faults")).json() == {
        "delay": {}, "status": {}, "drop_header": {}, "idempotent": {}}
