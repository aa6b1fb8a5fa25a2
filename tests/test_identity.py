"""Identity in api_key, header and static modes, and upstream credentials."""

from __future__ import annotations

import io

import openai

from tests.conftest import Gateway, GatewayFactory
from tests.http import call


def test_unknown_key_gets_fingerprint_principal(make_gateway: GatewayFactory) -> None:
    """An unknown key becomes principal key:<12 hex> in the default org, and owns its uploads."""
    gateway = make_gateway()
    stranger = gateway.client("sk-stranger")
    created = stranger.files.create(file=("a.jsonl", io.BytesIO(b"{}\n")), purpose="batch")
    assert (created.model_extra or {})["gateway"]["owner_is_you"] is True
    other = gateway.client("sk-another-stranger")
    view = other.files.retrieve(created.id).model_extra or {}
    # Same default org, different principal.
    assert view["gateway"]["owner_is_you"] is False


def test_unknown_key_rejected_when_configured(make_gateway: GatewayFactory) -> None:
    """With unknown_keys: reject, an unknown key gets 401 invalid_api_key and no upstream call."""
    gateway = make_gateway(**{"identity.unknown_keys": "reject"})
    gateway.sandbox.clear()
    reply = call(gateway.url, "GET", "/v1/files", {"Authorization": "Bearer sk-who"})
    assert (reply.status, reply.code) == (401, "invalid_api_key")
    assert reply.headers["x-should-retry"] == "false"
    assert gateway.sandbox.requests() == []
    assert call(gateway.url, "GET", "/v1/files", {"Authorization": "Bearer sk-alice"}).status == 200


def test_identity_header_in_api_key_mode_is_refused(make_gateway: GatewayFactory) -> None:
    """An identity header outside header mode gets 401 untrusted_identity_header."""
    gateway = make_gateway()
    gateway.sandbox.clear()
    reply = call(gateway.url, "GET", "/v1/files",
                 {"Authorization": "Bearer sk-alice", "X-Forwarded-User": "bob"})
    assert (reply.status, reply.code) == (401, "untrusted_identity_header")
    assert gateway.sandbox.requests() == []


def test_header_mode_from_trusted_proxy(make_gateway: GatewayFactory) -> None:
    """In header mode a trusted peer's headers set the principal; they never go upstream."""
    gateway = make_gateway(**{"identity.mode": "header"})
    as_dave = {"Authorization": "Bearer sk-x", "X-Forwarded-User": "dave",
               "X-Forwarded-Org": "initech"}
    boundary = "xyz"
    body = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n"
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\"\r\n\r\n"
        f"data\r\n--{boundary}--\r\n"
    ).encode()
    created = call(gateway.url, "POST", "/v1/files",
                   {**as_dave, "Content-Type": f"multipart/form-data; boundary={boundary}"}, body)
    assert created.status == 200
    file_id = created.json()["id"]
    for sent in gateway.sandbox.requests():
        assert "x-forwarded-user" not in sent["headers"]
        assert "x-forwarded-org" not in sent["headers"]
    as_erin = {**as_dave, "X-Forwarded-User": "erin", "X-Forwarded-Org": "other"}
    assert call(gateway.url, "GET", f"/v1/files/{file_id}", as_dave).status == 200
    assert call(gateway.url, "GET", f"/v1/files/{file_id}", as_erin).status == 404
    missing = call(gateway.url, "GET", "/v1/files", {"Authorization": "Bearer sk-x"})
    assert (missing.status, missing.code) == (401, "missing_api_key")


def test_header_mode_from_untrusted_peer(make_gateway: GatewayFactory) -> None:
    """Identity headers from a peer outside trusted_proxies get 401 untrusted_identity_header."""
    gateway = make_gateway(**{"identity.mode": "header",
                              "identity.header.trusted_proxies": ["10.0.0.0/8"]})
    reply = call(gateway.url, "GET", "/v1/files",
                 {"Authorization": "Bearer sk-x", "X-Forwarded-User": "dave"})
    assert (reply.status, reply.code) == (401, "untrusted_identity_header")


def test_static_mode(make_gateway: GatewayFactory) -> None:
    """In static mode every request is the configured workload, whatever key it carries."""
    gateway = make_gateway(**{"identity.mode": "static", "identity.static.principal": "svc",
                              "identity.static.org": "acme"})
    created = gateway.client("sk-one").files.create(
        file=("a.jsonl", io.BytesIO(b"{}\n")), purpose="batch",
        extra_headers={"X-File-Access": "private_only"},
    )
    assert gateway.client("sk-two").files.retrieve(created.id).id == created.id


def test_upstream_key_substitution(make_gateway: GatewayFactory) -> None:
    """With upstream.api_key set, the client's key never leaves the gateway."""
    gateway = make_gateway(**{"upstream.api_key": "sk-upstream-secret"})
    gateway.sandbox.clear()
    gateway.client("alice").files.list()
    sent = gateway.sandbox.requests()
    assert sent
    assert {r["headers"]["authorization"] for r in sent} == {"Bearer sk-upstream-secret"}


def test_pass_through_credentials(make_gateway: GatewayFactory) -> None:
    """Without upstream.api_key, the client's own key is forwarded."""
    gateway = make_gateway()
    gateway.sandbox.clear()
    gateway.client("alice").files.list()
    assert {r["headers"]["authorization"] for r in gateway.sandbox.requests()} == {
        "Bearer sk-alice"
    }


def scoped_client(gateway: Gateway) -> openai.OpenAI:
    """Alice's SDK client naming an organization and a project of its own choosing."""
    return openai.OpenAI(api_key="sk-alice", base_url=gateway.url + "/v1", max_retries=0,
                         organization="org-callers-pick", project="proj_callers_pick")


def scope_sent(gateway: Gateway) -> set[tuple[str | None, str | None]]:
    return {(r["headers"].get("openai-organization"), r["headers"].get("openai-project"))
            for r in gateway.sandbox.requests()}


def test_the_gateways_key_goes_with_its_own_project(make_gateway: GatewayFactory) -> None:
    """With upstream.api_key set, the organization and project are the gateway's: a caller
    naming others would bill them, and keep what it makes there, with the gateway's key."""
    gateway = make_gateway(**{"upstream.api_key": "sk-upstream-secret",
                              "upstream.project": "proj_gateway"})
    gateway.sandbox.clear()
    client = scoped_client(gateway)
    client.files.create(file=("a.jsonl", io.BytesIO(b"{}\n")), purpose="batch")
    client.files.list()
    assert scope_sent(gateway) == {(None, "proj_gateway")}

    unpinned = make_gateway(**{"upstream.api_key": "sk-upstream-secret"})
    unpinned.sandbox.clear()
    scoped_client(unpinned).files.list()
    assert scope_sent(unpinned) == {(None, None)}


def test_a_callers_own_key_goes_with_its_own_project(make_gateway: GatewayFactory) -> None:
    """Without upstream.api_key, the caller's key goes up with the scope the caller chose."""
    gateway = make_gateway()
    gateway.sandbox.clear()
    scoped_client(gateway).files.list()
    assert scope_sent(gateway) == {("org-callers-pick", "proj_callers_pick")}


def test_the_upstream_refusing_the_gateways_own_key_is_a_502(make_gateway: GatewayFactory) -> None:
    """Behind the gateway's own key, an upstream 401 is the gateway's misconfiguration, which no
    caller can mend, and its answer may quote the key: the caller gets 502 upstream_unavailable
    with the gateway's own body. A caller's own key's 401 is the caller's, relayed as it came."""
    gateway = make_gateway(**{"upstream.api_key": "sk-upstream-secret"})
    gateway.sandbox.faults({"status": {"GET /v1/files": 401}})
    reply = call(gateway.url, "GET", "/v1/files", {"Authorization": "Bearer sk-alice"})
    assert (reply.status, reply.code) == (502, "upstream_unavailable"), reply.body
    assert b"sk-upstr" not in reply.body

    own_keys = make_gateway()
    own_keys.sandbox.faults({"status": {"GET /v1/files": 401}})
    relayed = call(own_keys.url, "GET", "/v1/files", {"Authorization": "Bearer sk-alice"})
    assert relayed.status == 401
    assert b"Incorrect API key provided" in relayed.body
