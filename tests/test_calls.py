"""Live sessions, Realtime calls and safety alerts through the gateway: a session or call is its
starter's (one that arrived by phone, its first answerer's), a stored session's recording
downloads by the session's rules, and an alert is read by the rules of the response it is about.
Official SDK over real HTTP against the sandbox.

alice and bob share org acme; carol is in globex.
"""

from __future__ import annotations

from typing import Any

import pytest
import redis

from gateway.routes.calls import call_id_of
from tests.conftest import Gateway, GatewayFactory, MemorySink
from tests.http import Reply, call
from tests.sdk import refusal, refused, upload
from tests.servers import RedisServer

NOT_FOUND = (404, "file_not_found")
UNTRACKED = (403, "file_untracked")
OFFER = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
WEBRTC: Any = {"type": "webrtc", "sdp": OFFER}
ACCEPT: Any = {"type": "live", "model": "gpt-live-1"}


def live_config(*file_ids: str, store: bool = True) -> Any:
    """A Live session whose delegated Responses model may run code over these files."""
    config: dict[str, Any] = {"model": "gpt-live-1", "store": store}
    if file_ids:
        config["delegation"] = {"type": "responses", "responses": {"model": "gpt-5", "tools": [
            {"type": "code_interpreter", "container": {"type": "auto", "file_ids": list(file_ids)}}]}}
    return config


def start_live(gateway: Gateway, who: str, *file_ids: str) -> str:
    return gateway.client(who).live.create(session=live_config(*file_ids), transport=WEBRTC).session.id


def upstream_calls(gateway: Gateway) -> list[tuple[str, str]]:
    return [(entry["method"], entry["path"]) for entry in gateway.sandbox.requests()]


def test_a_live_session_is_its_starters(gateway: Gateway) -> None:
    session = start_live(gateway, "alice")
    bob, carol = (gateway.client(who).live.sessions for who in ("bob", "carol"))
    recording = bob.download_recording(session).read()
    assert recording

    gateway.sandbox.clear()
    assert refused(lambda: carol.download_recording(session)) == NOT_FOUND
    assert refused(lambda: carol.fork(session, transport=WEBRTC)) == NOT_FOUND
    assert refused(lambda: carol.refer(session, target_uri="tel:+15550100")) == NOT_FOUND
    assert refused(lambda: carol.hangup(session)) == NOT_FOUND
    assert refused(lambda: carol.accept(session, session=ACCEPT)) == NOT_FOUND
    assert gateway.sandbox.requests() == []

    forked = gateway.client("alice").live.sessions.fork(session, transport=WEBRTC).session.id
    assert bob.download_recording(forked).read()
    assert refused(lambda: carol.download_recording(forked)) == NOT_FOUND
    bob.refer(session, target_uri="tel:+15550100")
    bob.hangup(session)


def test_a_live_session_takes_over_its_files_restrictions(gateway: Gateway) -> None:
    """A session that could read a private file is its starter's alone; one that read a
    `no_download` file has a recording nobody downloads; a fork keeps both."""
    private, sealed = upload(gateway, "alice", access="private_only"), upload(
        gateway, "alice", access="no_download")
    alice, bob = (gateway.client(who).live.sessions for who in ("alice", "bob"))

    secret = start_live(gateway, "alice", private)
    assert alice.download_recording(secret).read()
    assert refused(lambda: bob.download_recording(secret)) == (403, "private_only_forbidden")
    assert refused(lambda: bob.hangup(secret)) == (403, "private_only_forbidden")
    forked = alice.fork(secret, transport=WEBRTC).session.id
    assert refused(lambda: bob.download_recording(forked)) == (403, "private_only_forbidden")

    kept = start_live(gateway, "alice", sealed)
    assert refused(lambda: alice.download_recording(kept)) == (403, "download_disabled")
    assert refused(lambda: bob.download_recording(
        alice.fork(kept, transport=WEBRTC).session.id)) == (403, "download_disabled")


def test_a_live_session_cannot_take_another_orgs_file(gateway: Gateway) -> None:
    carols = upload(gateway, "carol")
    gateway.sandbox.clear()
    live = gateway.client("alice").live
    assert refusal(lambda: live.create(session=live_config(carols), transport=WEBRTC)) == (
        404, "file_not_found",
        "session.delegation.responses.tools[0].container.file_ids[0]")
    assert gateway.sandbox.requests() == []


def test_an_incoming_call_belongs_to_whoever_answers_it_first(gateway: Gateway) -> None:
    """The upstream announces a phone call by webhook only: nobody owns it until an org accepts
    or rejects it, and from then on it is that org's, like one it started."""
    incoming, declined = gateway.sandbox.live_incoming(store=True), gateway.sandbox.live_incoming()
    alice, bob, carol = (gateway.client(who).live.sessions for who in ("alice", "bob", "carol"))
    assert refused(lambda: carol.hangup(incoming)) == UNTRACKED
    assert refused(lambda: carol.download_recording(incoming)) == UNTRACKED

    alice.accept(incoming, session=ACCEPT)
    gateway.sandbox.clear()
    assert refused(lambda: carol.accept(incoming, session=ACCEPT)) == NOT_FOUND
    assert refused(lambda: carol.reject(incoming, status_code=486)) == NOT_FOUND
    assert refused(lambda: carol.download_recording(incoming)) == NOT_FOUND
    assert gateway.sandbox.requests() == []
    assert bob.download_recording(incoming).read()
    bob.hangup(incoming)

    # An answer the upstream refuses claims nothing (one phone call has an id in each API, and
    # the upstream takes the first answer through either).
    assert refused(lambda: carol.reject(declined, status_code=200))[0] == 400
    no_model: Any = {"type": "live"}
    assert refused(lambda: alice.accept(declined, session=no_model))[0] == 400
    carol.reject(declined, status_code=486)
    assert refused(lambda: alice.accept(declined, session=ACCEPT)) == NOT_FOUND

    call_id = gateway.sandbox.realtime_incoming()
    calls = gateway.client("carol").realtime.calls
    calls.accept(call_id, type="realtime", model="gpt-realtime")
    gateway.sandbox.clear()
    assert refused(lambda: gateway.client("alice").realtime.calls.hangup(call_id)) == NOT_FOUND
    assert gateway.sandbox.requests() == []
    calls.hangup(call_id)


def test_a_realtime_call_is_its_starters_and_keeps_its_location(gateway: Gateway) -> None:
    """The call id comes back only in `Location`, which the gateway used to drop."""
    made = gateway.client("alice").realtime.calls.with_raw_response.create(
        sdp=OFFER, session={"type": "realtime", "model": "gpt-realtime"})
    assert made.status_code == 201
    assert made.http_response.text.startswith("v=0")
    location = made.headers["Location"]
    assert location.startswith("/v1/realtime/calls/rtc_")
    call_id = location.rpartition("/")[2]

    # A browser's offer, sent as it is: recorded all the same.
    raw = call(gateway.url, "POST", "/v1/realtime/calls",
               {"Authorization": "Bearer sk-carol", "Content-Type": "application/sdp"},
               OFFER.encode())
    assert raw.status == 201, raw.body
    carols = raw.headers["location"].rpartition("/")[2]

    alice, carol = gateway.client("alice").realtime.calls, gateway.client("carol").realtime.calls
    gateway.sandbox.clear()
    assert refused(lambda: carol.refer(call_id, target_uri="tel:+15550100")) == NOT_FOUND
    assert refused(lambda: carol.hangup(call_id)) == NOT_FOUND
    assert refused(lambda: alice.hangup(carols)) == NOT_FOUND
    assert gateway.sandbox.requests() == []
    gateway.client("bob").realtime.calls.refer(call_id, target_uri="tel:+15550100")
    alice.hangup(call_id)
    carol.hangup(carols)


def test_a_realtime_call_cannot_take_another_orgs_file(gateway: Gateway) -> None:
    carols = upload(gateway, "carol")
    gateway.sandbox.clear()
    calls = gateway.client("alice").realtime.calls
    session: Any = {"type": "realtime", "model": "gpt-realtime", "tools": [
        {"type": "code_interpreter", "container": {"type": "auto", "file_ids": [carols]}}]}
    # The SDK sends `session` as a JSON part of a form.
    assert refusal(lambda: calls.create(sdp=OFFER, session=session)) == (
        404, "file_not_found", "session.tools[0].container.file_ids[0]")
    assert gateway.sandbox.requests() == []


def test_a_safety_alert_is_read_by_its_responses_rules(gateway: Gateway) -> None:
    response = gateway.client("alice").responses.create(model="gpt-5", input="hello").id
    alert = gateway.sandbox.safety_alert(response)["id"]
    unknown = gateway.sandbox.safety_alert("resp_never_through_the_gateway")["id"]
    safety = gateway.client("bob").safety.alerts

    assert safety.retrieve(alert).response_id == response
    gateway.sandbox.clear()
    assert refused(lambda: gateway.client("carol").safety.alerts.retrieve(alert)) == NOT_FOUND
    assert refused(lambda: safety.retrieve(unknown)) == UNTRACKED
    # Each was read for the response it names, which is all the upstream saw.
    assert upstream_calls(gateway) == [("GET", f"/v1/safety/alerts/{alert}"),
                                       ("GET", f"/v1/safety/alerts/{unknown}")]


@pytest.mark.parametrize("path", ["/v1/safety/alerts/alert!1", "/v1/chatkit/threads/" + "t" * 65,
                                  "/v1/chatkit/threads?after=cthr!1"])
def test_a_malformed_id_read_before_deciding_is_refused_and_audited(
    make_gateway: GatewayFactory, path: str
) -> None:
    """Safety alerts and ChatKit threads are read upstream before they are decided; a malformed
    id is refused before that read, and audited as a refusal like any other."""
    sink = MemorySink()
    gateway = make_gateway(sinks=[sink])
    gateway.sandbox.clear()
    reply = call(gateway.url, "GET", path, {"Authorization": "Bearer sk-alice",
                                            "OpenAI-Beta": "chatkit_beta=v1"})
    assert (reply.status, reply.code) == (400, "invalid_file_id"), reply.body
    assert [(event["decision"], event["reason"]) for event in sink.events] == [
        ("deny", "invalid_file_id")]
    assert gateway.sandbox.requests() == []


@pytest.mark.parametrize(("location", "expected"), [
    ("/v1/realtime/calls/rtc_abc", "rtc_abc"),
    ("https://api.openai.com/v1/realtime/calls/rtc_abc", "rtc_abc"),
    ("/openai/v1/realtime/calls/rtc_abc/", "rtc_abc"),  # below an upstream's own prefix
    ("", None),
    ("/v1/realtime/calls/", None),
    ("/v1/files/file-abc", None),
])
def test_a_call_id_is_read_from_its_location(location: str, expected: str | None) -> None:
    assert call_id_of(location) == expected


def test_a_claim_the_store_cannot_keep_is_a_503_that_claims_nothing(
    make_gateway: GatewayFactory, own_redis: RedisServer
) -> None:
    """The upstream took the answer, then the store refused the write: the caller hears 503
    (not the success that would leave a call nobody may control), the one audit event says so,
    and the call stays unclaimed. A Redis that refuses writes and still answers reads (as one
    that lost its replicas does) makes the store fail just there."""
    sink = MemorySink()
    gateway = make_gateway(store=own_redis.url, sinks=[sink], store_timeout_seconds=0.5)
    call_id = gateway.sandbox.realtime_incoming()
    calls = gateway.client("carol").realtime.calls
    with redis.Redis(host="127.0.0.1", port=own_redis.port) as admin:
        admin.config_set("min-replicas-to-write", 1)
        assert refused(lambda: calls.accept(call_id, type="realtime", model="gpt-realtime")) == (
            503, "policy_store_unavailable")
        admin.config_set("min-replicas-to-write", 0)
    assert upstream_calls(gateway)[-1] == ("POST", f"/v1/realtime/calls/{call_id}/accept")
    assert [(e["action"], e["decision"], e["reason"], e["upstream_status"], e["file_id"])
            for e in sink.events] == [
        ("delete", "error", "policy_store_unavailable", 200, call_id)]
    gateway.sandbox.clear()
    assert refused(lambda: calls.hangup(call_id)) == UNTRACKED
    assert gateway.sandbox.requests() == []


def test_a_call_answered_without_its_location_is_a_502(make_gateway: GatewayFactory) -> None:
    """The upstream made the call but did not say its id: no record can be made, so the
    caller is told, rather than handed a call it could never control."""
    gateway = make_gateway()
    gateway.sandbox.faults({"drop_header": {"POST /v1/realtime/calls": "Location"}})
    calls = gateway.client("alice").realtime.calls
    assert refused(lambda: calls.create(sdp=OFFER)) == (502, "upstream_unavailable")
    assert upstream_calls(gateway) == [("POST", "/v1/realtime/calls")]


def session_form(gateway: Gateway, session: str) -> Reply:
    """A Realtime call made with a `session` part written by hand (the SDK cannot send these)."""
    boundary = "handb0undary"
    body = "".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n'
        f"Content-Type: {kind}\r\n\r\n{value}\r\n"
        for name, kind, value in (("sdp", "application/sdp", OFFER),
                                  ("session", "application/json", session))) + f"--{boundary}--\r\n"
    return call(gateway.url, "POST", "/v1/realtime/calls",
                {"Authorization": "Bearer sk-alice",
                 "Content-Type": f"multipart/form-data; boundary={boundary}"}, body.encode())


@pytest.mark.parametrize("extra", ['"temperature": NaN', '"instructions": "\\ud800"'])
def test_a_session_only_a_lenient_parser_reads_is_checked_all_the_same(
    gateway: Gateway, extra: str
) -> None:
    """A form's JSON was read with orjson, which refuses NaN and a lone surrogate's escape, and
    a field it could not read named nothing; Python's json (as the sandbox, and any upstream
    built on it) reads both, so another org's file went through."""
    carols = upload(gateway, "carol")
    gateway.sandbox.clear()
    tools = ('[{"type": "code_interpreter", "container": {"type": "auto", '
             f'"file_ids": ["{carols}"]}}}}]')
    reply = session_form(gateway, f'{{"type": "realtime", {extra}, "tools": {tools}}}')
    assert (reply.status, reply.code) == (404, "file_not_found"), reply.body
    assert reply.json()["error"]["param"] == "session.tools[0].container.file_ids[0]"
    assert gateway.sandbox.requests() == []


def test_a_session_with_a_key_twice_is_refused(gateway: Gateway) -> None:
    """Which copy of a key counts is the parser's choice; the upstream must see exactly what
    was checked, as in a JSON body."""
    mine, carols = upload(gateway, "alice"), upload(gateway, "carol")
    gateway.sandbox.clear()
    reply = session_form(gateway, '{"type": "realtime", "tools": [{"type": "code_interpreter", '
                                  f'"container": {{"file_ids": ["{mine}"], "file_ids": ["{carols}"]}}}}]}}')
    assert (reply.status, reply.code) == (400, "invalid_request"), reply.body
    assert "Duplicate key 'file_ids'" in reply.json()["error"]["message"]
    assert gateway.sandbox.requests() == []
