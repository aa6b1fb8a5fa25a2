"""Paths, methods and query strings an upstream could read otherwise than the gateway does, found
by probing: each let one org's caller (bob, acme) reach another org's (carol, globex) file or
object, or the upstream, without the check a careful user would expect, until fixed (stop 22),
or held already and stays as a regression test.

alice and bob share org acme; carol is in globex.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

import pytest
from aiohttp import ClientSession, web
from aiohttp.typedefs import Handler
from openai.types.beta.chatkit import ChatSessionWorkflowParam
from prometheus_client.parser import text_string_to_metric_families

from gateway.sandbox import create_sandbox_app
from tests.conftest import Gateway, GatewayFactory, Sandbox, make_settings, start_gateway
from tests.http import call
from tests.sdk import upload
from tests.servers import ServerThread

BOB = {"Authorization": "Bearer sk-bob"}
WORKFLOW: ChatSessionWorkflowParam = {"id": "wf_support"}


@pytest.fixture
def gateway(make_gateway: GatewayFactory) -> Gateway:
    """One SQLite-backed gateway: routing does not depend on the store, so each probe runs once."""
    return make_gateway()


def carol_file(gateway: Gateway, purpose: str = "batch") -> str:
    return upload(gateway, "carol", purpose, data=b'{"secret": "carol"}\n', filename="c.jsonl")


def bob_store(gateway: Gateway) -> str:
    return gateway.client("bob").vector_stores.create(name="bob's").id


# --- the path guard and the /v1/ prefix ------------------------------------------------------


@pytest.mark.parametrize("prefix", ["/%761", "/v%31", "/%76%31"])
@pytest.mark.parametrize("tail", [
    "/vector_stores/{vs}/../../files/{file}/content",
    "/vector_stores/{vs}/..%2F..%2Ffiles%2F{file}%2Fcontent",
    "/vector_stores/{vs}/%2e%2e/%2e%2e/files/{file}/content",
    "/vector_stores/{vs}//files",
    "/vector_stores/{vs}/files;x=1",
])
def test_an_encoded_v1_prefix_does_not_switch_off_the_path_guard(
    gateway: Gateway, prefix: str, tail: str
) -> None:
    """README: "encoded slashes, dot segments, `;` parameters ... anywhere under `/v1/` → 400
    invalid_file_id, with no store lookup and no upstream call". The router matches the decoded
    path (`/%761/` is `/v1/`), so a careful user expects the same refusal however the prefix is
    spelt: otherwise a path the gateway decided as a read of bob's own vector store reaches the
    upstream with dot segments (or encoded slashes) that lead to carol's file."""
    vs, file = bob_store(gateway), carol_file(gateway)
    gateway.sandbox.clear()
    reply = call(gateway.url, "GET", prefix + tail.format(vs=vs, file=file), BOB)
    assert (reply.status, reply.code) == (400, "invalid_file_id"), (reply.status, reply.body)
    assert gateway.sandbox.requests() == []


def test_unencoded_prefix_guard_still_holds(gateway: Gateway) -> None:
    """Regression: the same traversal under a plain `/v1/` is refused without an upstream call."""
    vs, file = bob_store(gateway), carol_file(gateway)
    gateway.sandbox.clear()
    reply = call(gateway.url, "GET", f"/v1/vector_stores/{vs}/../../files/{file}/content", BOB)
    assert (reply.status, reply.code) == (400, "invalid_file_id")
    assert gateway.sandbox.requests() == []


# --- case variants: routes with rules, spelt so that only the passthrough matches ---------------


@pytest.mark.parametrize("path", [
    "/v1/Files/{file}/content",
    "/v1/FILES/{file}",
    "/v1/Files",
    "/v1/Batches",
    "/v1/files%3Flimit=100",
    "/v1/files%3F/{file}/content",
    "/v1/%46iles/{file}/content",
])
def test_a_variant_spelling_of_a_governed_collection_is_not_forwarded_unchecked(
    gateway: Gateway, path: str
) -> None:
    """A careful user expects `/v1/Files/{id}/content` either refused or decided like
    `/v1/files/{id}/content`: an upstream whose router ignores case (Express and Fiber by
    default, ASP.NET Core) would serve carol's bytes or an unfiltered list. Likewise an encoded
    `?` (`/v1/files%3Flimit=100`: the router sees no /v1/files route, so the passthrough
    forwards it) is the files list to an upstream that decodes the target before splitting off
    the query. Only matters for such a non-OpenAI upstream; OpenAI's router is not known to do
    either. (A format suffix, `/v1/files.json`, still goes up: see the stop 22 note.)"""
    file = carol_file(gateway)
    gateway.sandbox.clear()
    reply = call(gateway.url, "GET", path.format(file=file), BOB)
    assert (reply.status, reply.code) in ((400, "invalid_request"), (400, "invalid_file_id")), (
        reply.status, reply.body)
    assert gateway.sandbox.requests() == []


def test_a_lowercase_route_without_rules_still_passes_through(gateway: Gateway) -> None:
    """The case check refuses only what a route with rules matches in other case: an API
    without rules, ids with capitals in them, goes up."""
    reply = call(gateway.url, "GET", "/v1/organization/projects/proj_AbC/users", BOB)
    assert reply.headers.get("x-gateway-reason") is None, reply.body
    assert [r["path"] for r in gateway.sandbox.requests()][-1:] == [
        "/v1/organization/projects/proj_AbC/users"]


# --- ChatKit: a query parameter that is decided, then forwarded as sent ------------------------


def _recording(raw: list[str]) -> web.Application:
    """The sandbox, with every raw request target it receives kept in `raw`."""

    @web.middleware
    async def keep(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith("/__sandbox"):
            raw.append(request.raw_path)
        return await handler(request)

    app = create_sandbox_app()
    app.middlewares.append(keep)
    return app


@pytest.fixture
def recorded(tmp_path: Path) -> Iterator[tuple[Gateway, list[str]]]:
    raw: list[str] = []
    server = ServerThread(lambda: _recording(raw)).start()
    sandbox = Sandbox(server)
    settings = make_settings(sandbox.url, f"sqlite:///{tmp_path / 'records.db'}")
    running = Gateway(start_gateway(sandbox, settings), sandbox, settings)
    yield running, raw
    running.close()
    server.stop()


@pytest.mark.parametrize("query", ["user=bob-customer&user=carol-customer",
                                   "user=bob-customer&%75ser=carol-customer"])
def test_a_repeated_chatkit_user_is_not_forwarded_beside_the_one_decided(
    recorded: tuple[Gateway, list[str]], query: str
) -> None:
    """`GET /v1/chatkit/threads?user=X` is decided on end user X (the first `user`), and the
    query then goes upstream as sent. With a second `user=` naming carol's end user, an upstream
    that reads the last value of a repeated key (Starlette/FastAPI, and many others) lists
    carol's end user's threads. A careful user expects the gateway to refuse a repeated `user`
    or to forward only the one it decided."""
    gateway, raw = recorded
    bob = gateway.client("bob").beta.chatkit.sessions
    carol = gateway.client("carol").beta.chatkit.sessions
    bob.create(user="bob-customer", workflow=WORKFLOW)
    carol.create(user="carol-customer", workflow=WORKFLOW)
    gateway.sandbox.chatkit_thread("carol-customer", "carol's customer's secret")
    raw.clear()
    reply = call(gateway.url, "GET", f"/v1/chatkit/threads?{query}", BOB)
    forwarded = [target for target in raw if target.startswith("/v1/chatkit/threads")]
    assert not any("carol-customer" in target for target in forwarded), (
        reply.status, forwarded)


def test_chatkit_user_of_another_org_is_refused(recorded: tuple[Gateway, list[str]]) -> None:
    """Regression: a single `user` naming carol's end user is 404 with no upstream call."""
    gateway, raw = recorded
    gateway.client("carol").beta.chatkit.sessions.create(user="carol-customer", workflow=WORKFLOW)
    raw.clear()
    reply = call(gateway.url, "GET", "/v1/chatkit/threads?user=carol-customer", BOB)
    assert (reply.status, reply.code) == (404, "file_not_found")
    assert raw == []


# --- the same traversal, end to end, against an upstream that resolves dot segments -----------


def _normalising(target: str) -> web.Application:
    """An upstream front that resolves dot segments after decoding (RFC 3986 §5.2.4, as nginx
    does before it proxies), in front of the sandbox."""

    async def forward(request: web.Request) -> web.StreamResponse:
        path, _, query = request.raw_path.partition("?")
        path = posixpath.normpath(unquote(path))
        headers = {k: v for k, v in request.headers.items()
                   if k.lower() in ("authorization", "accept", "content-type")}
        async with ClientSession() as session, session.request(
            request.method, target + path + ("?" + query if query else ""), headers=headers,
            data=await request.read(),
        ) as answer:
            return web.Response(status=answer.status, body=await answer.read(),
                                content_type=answer.content_type)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", forward)
    return app


@pytest.fixture
def normalised(sandbox: Sandbox, tmp_path: Path) -> Iterator[Gateway]:
    front = ServerThread(lambda: _normalising(sandbox.url)).start()
    settings = make_settings(front.url(), f"sqlite:///{tmp_path / 'records.db'}")
    running = Gateway(start_gateway(sandbox, settings), sandbox, settings)
    yield running
    running.close()
    front.stop()


@pytest.mark.parametrize("via", ["/%761/vector_stores/{vs}/../..", "/%761/embeddings/.."])
def test_bob_cannot_download_carols_file_through_an_encoded_prefix(
    normalised: Gateway, via: str
) -> None:
    """End to end: bob asks for `/%761/vector_stores/<his store>/../../files/<carol's file>/content`.
    The gateway decides a read of bob's own vector store and forwards the path as sent; an upstream
    (or a front of it) that resolves dot segments serves carol's bytes. Through a route without
    rules (`/%761/embeddings/../files/...`) not even bob's store is needed: the passthrough
    decides nothing. A careful user expects 400 invalid_file_id and carol's bytes never in
    bob's hands."""
    gateway = normalised
    vs, file = bob_store(gateway), carol_file(gateway)
    direct = call(gateway.url, "GET", f"/v1/files/{file}/content", BOB)
    assert (direct.status, direct.code) == (404, "file_not_found")
    reply = call(gateway.url, "GET", via.format(vs=vs) + f"/files/{file}/content", BOB)
    assert b"carol" not in reply.body, (reply.status, reply.body)


# --- methods -----------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["HEAD", "OPTIONS", "PATCH", "PUT", "POST", "DELETE", "PROPFIND",
                                    "QUERY", "get"])
def test_every_method_on_carols_vector_store_is_decided(gateway: Gateway, method: str) -> None:
    """Any method on another org's object, or below it, is refused before the upstream."""
    vs = gateway.client("carol").vector_stores.create(name="carol's").id
    for path in (f"/v1/vector_stores/{vs}", f"/v1/vector_stores/{vs}/files",
                 f"/v1/vector_stores/{vs}/search", f"/v1/vector_stores/{vs}/files/file-x/content"):
        gateway.sandbox.clear()
        reply = call(gateway.url, method, path, BOB)
        # 405: a method no route with rules has here (before stop 22: the passthrough's).
        assert reply.status in (400, 404, 405), (method, path, reply.status, reply.body)
        assert gateway.sandbox.requests() == [], (method, path)


@pytest.mark.parametrize("method", ["PUT", "QUERY"])
@pytest.mark.parametrize("path", ["/v1/files", "/v1/batches",
                                  "/v1/models/ft:gpt-4o-mini:globex::abc123",
                                  "/v1/safety/alerts/alert_abc"])
def test_an_unlisted_method_on_a_filtered_list_is_not_forwarded_unchecked(
    gateway: Gateway, method: str, path: str
) -> None:
    """A governed collection answers its own methods (GET list, POST create), a fine-tuned model
    GET and DELETE, a safety alert GET; any other method falls to the passthrough and reaches
    the upstream with no decision. OpenAI answers such a
    request with an error, so this matters only for an upstream that serves an unknown method
    (QUERY is GET with a body in draft-ietf-httpbis-safe-method-w-body) as a read: it would
    return the unfiltered list. A careful user expects the gateway to refuse it."""
    gateway.sandbox.clear()
    reply = call(gateway.url, method, path, BOB)
    assert (reply.status, reply.code) == (405, "invalid_request"), reply.body[:200]
    assert "GET" in reply.headers["allow"]
    assert gateway.sandbox.requests() == []


@pytest.mark.parametrize("method", ["get", "Get"])
def test_a_lowercase_get_of_a_list_never_reaches_the_upstream(gateway: Gateway, method: str) -> None:
    """Regression: a lowercase method is not a GET to the router (it would fall to the
    passthrough); the HTTP parser refuses it before that."""
    gateway.sandbox.clear()
    call(gateway.url, method, "/v1/files", BOB)
    assert gateway.sandbox.requests() == []


# --- regressions: what held ----------------------------------------------------------------


def test_percent_encoded_ids_of_carols_objects_are_decided_as_themselves(gateway: Gateway) -> None:
    """An id spelt partly or wholly percent-encoded is decided as the id it decodes to."""
    file = carol_file(gateway)
    vs = gateway.client("carol").vector_stores.create(name="carol's").id
    encoded_file = "".join(f"%{ord(c):02X}" for c in file)
    for path in (f"/v1/files/%66{file[1:]}/content", f"/v1/files/{encoded_file}",
                 f"/v1/vector_stores/%76{vs[1:]}/files", f"/v1/vector_stores/{vs}/search",
                 f"/v1/vector_stores/{vs}/file_batches/vsfb_x/files",
                 f"/v1/vector_stores/{vs}/file_batches/vsfb_x/cancel"):
        gateway.sandbox.clear()
        reply = call(gateway.url, "POST" if path.endswith(("search", "cancel")) else "GET",
                     path, BOB)
        assert (reply.status, reply.code) == (404, "file_not_found"), (path, reply.body)
        assert gateway.sandbox.requests() == [], path


def test_carols_file_through_bobs_holders_is_refused(gateway: Gateway) -> None:
    """Side channels and members: bob's own vector store or container does not make carol's
    file his to read."""
    file = carol_file(gateway)
    vs = bob_store(gateway)
    container = gateway.client("bob").containers.create(name="bob's").id
    for method, path in (("GET", f"/v1/vector_stores/{vs}/files/{file}/content"),
                         ("GET", f"/v1/vector_stores/{vs}/files/{file}"),
                         ("GET", f"/v1/containers/{container}/files/{file}/content"),
                         ("GET", f"/v1/containers/{container}/files/{file}")):
        gateway.sandbox.clear()
        reply = call(gateway.url, method, path, BOB)
        assert (reply.status, reply.code) == (404, "file_not_found"), (path, reply.body)
        assert gateway.sandbox.requests() == [], path


def test_a_list_cursor_of_carols_is_refused_however_repeated(gateway: Gateway) -> None:
    """`after` naming carol's file is 404; repeated, the one decided is the one used upstream."""
    mine, theirs = upload(gateway, "bob", "batch"), carol_file(gateway)
    gateway.sandbox.clear()
    reply = call(gateway.url, "GET", f"/v1/files?after={theirs}&after={mine}", BOB)
    assert (reply.status, reply.code) == (404, "file_not_found")
    assert gateway.sandbox.requests() == []
    reply = call(gateway.url, "GET", f"/v1/files?after={mine}&after={theirs}", BOB)
    assert reply.status == 200, reply.body
    assert all(entry["query"].get("after") == mine for entry in gateway.sandbox.requests())


# --- vector store search: the side channel the holder's flags were lent for ---------------------


def test_search_of_a_store_holding_a_no_download_file_is_refused(gateway: Gateway) -> None:
    """holders/references: a holder takes over `no_download` "so that a vector store search ...
    cannot become a way around a file's own flags", and `/files/{id}/content` of such a file is
    403 download_disabled. `POST /v1/vector_stores/{id}/search` answers chunks of the same text
    but is decided as a retrieve of the store, which never looks at `no_download`: a careful
    user expects 403 download_disabled before the upstream is called. (Same org: alice's file,
    bob's read; `no_download` binds the owner too.)"""
    locked = upload(gateway, "alice", "assistants", "no_download", data=b"secret plans")
    store = gateway.client("alice").vector_stores.create(name="s", file_ids=[locked])
    content = call(gateway.url, "GET", f"/v1/vector_stores/{store.id}/files/{locked}/content", BOB)
    assert (content.status, content.code) == (403, "download_disabled")
    gateway.sandbox.clear()
    reply = call(gateway.url, "POST", f"/v1/vector_stores/{store.id}/search",
                 {**BOB, "Content-Type": "application/json"}, b'{"query": "secret"}')
    assert (reply.status, reply.code) == (403, "download_disabled"), (reply.status, reply.body)
    assert gateway.sandbox.requests() == []


def test_a_search_goes_up_with_its_query_and_answers_what_the_files_say(gateway: Gateway) -> None:
    """The owner's search reaches the upstream with its body, and is audited as a download of
    the store. Before stop 22 it went up as a bodiless POST, decided as a retrieve."""
    plans = upload(gateway, "alice", "assistants", data=b"secret plans", filename="p.txt")
    store = gateway.client("alice").vector_stores.create(name="s", file_ids=[plans])
    gateway.sandbox.clear()
    downloads = downloads_allowed(gateway)
    found = gateway.client("alice").vector_stores.search(store.id, query="plans")
    assert [hit.file_id for hit in found] == [plans]
    sent = [r for r in gateway.sandbox.requests() if r["path"].endswith("/search")]
    assert [r["json"] for r in sent] == [{"query": "plans"}]
    assert downloads_allowed(gateway) == downloads + 1


def downloads_allowed(gateway: Gateway) -> float:
    return sum(sample.value for family in text_string_to_metric_families(gateway.metrics())
               for sample in family.samples
               if sample.name == "files_gateway_decisions_total"
               and sample.labels.get("action") == "download"
               and sample.labels.get("decision") == "allow")
