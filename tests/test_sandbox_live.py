"""The sandbox's Live sessions, Realtime calls and safety alerts and cases, driven as a server would:
the official SDK (and raw HTTP, for what the SDK cannot send) against a real sandbox server.
Incoming SIP calls, alerts and cases are made through the control routes, as a phone call and
OpenAI's reviewers make them upstream."""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from typing import Any

import openai
import pytest
from openai import OpenAI

from tests.conftest import Sandbox
from tests.http import call
from tests.test_sandbox_evals import client as client  # the fixture, shared
from tests.test_sandbox_evals import send
from tests.test_sandbox_stored import error

# A browser's offer, trimmed: Opus among other codecs, and the data channel, bundled by mid.
OFFER = "\r\n".join([
    "v=0", "o=- 4611731400430051336 2 IN IP4 127.0.0.1", "s=-", "t=0 0", "a=group:BUNDLE a0 d1",
    "m=audio 9 UDP/TLS/RTP/SAVPF 0 111 8", "c=IN IP4 0.0.0.0", "a=mid:a0", "a=setup:actpass",
    "a=rtpmap:0 PCMU/8000", "a=rtpmap:111 opus/48000/2", "a=rtpmap:8 PCMA/8000",
    "m=application 9 UDP/DTLS/SCTP webrtc-datachannel", "c=IN IP4 0.0.0.0", "a=mid:d1",
]) + "\r\n"
WEBRTC: Any = {"type": "webrtc", "sdp": OFFER}
LIVE: Any = {"model": "gpt-live-1", "instructions": "Be brief."}
SIP_LIVE: Any = {"model": "gpt-live-1", "type": "live"}
AUTH = {"Authorization": "Bearer sk-test"}


def assert_answers(answer: str) -> None:
    """An SDP answer to ``OFFER``: its sections in order with their mids, Opus chosen."""
    assert answer.startswith("v=0\r\n") and answer.endswith("\r\n")
    lines = answer.split("\r\n")
    media = [line for line in lines if line.startswith("m=")]
    assert media == ["m=audio 9 UDP/TLS/RTP/SAVPF 111", "m=application 9 UDP/DTLS/SCTP webrtc-datachannel"]
    assert [line for line in lines if line.startswith("a=mid:")] == ["a=mid:a0", "a=mid:d1"]
    assert "a=group:BUNDLE a0 d1" in lines and "a=rtpmap:111 opus/48000/2" in lines
    assert "a=setup:active" in lines


def not_found(step: Callable[[], object]) -> Any:
    with pytest.raises(openai.NotFoundError) as caught:
        step()
    return caught.value.body


def bad_request(step: Callable[[], object]) -> str:
    with pytest.raises(openai.BadRequestError) as caught:
        step()
    body: Any = caught.value.body
    return str(body["message"])


def stored_session(client: OpenAI) -> str:
    config: Any = {**LIVE, "store": True}
    return client.live.create(session=config, transport=WEBRTC).session.id


# Live sessions


def test_create_answers_an_id_and_an_sdp_answer(client: OpenAI, sandbox: Sandbox) -> None:
    made = client.live.create(session=LIVE, transport=WEBRTC)
    assert made.session.id.startswith("live_") and made.transport.type == "webrtc"
    assert_answers(made.transport.sdp)
    assert sandbox.requests()[-1]["json"] == {"session": LIVE, "transport": WEBRTC}
    # The same session always answers the same; another session answers differently.
    assert client.live.create(session=LIVE, transport=WEBRTC).transport.sdp != made.transport.sdp


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        ({"transport": WEBRTC}, "session", "missing_required_parameter"),
        ({"session": {}, "transport": WEBRTC}, "session.model", "missing_required_parameter"),
        ({"session": LIVE}, "transport", "missing_required_parameter"),
        ({"session": LIVE, "transport": {"type": "webrtc"}}, "transport.sdp", "missing_required_parameter"),
        ({"session": LIVE, "transport": {"type": "webrtc", "sdp": "hello"}}, "transport.sdp",
         "invalid_value"),
        ({"session": LIVE, "transport": {"type": "webrtc", "sdp": "v=0\r\nm=audio\r\n"}},
         "transport.sdp", "invalid_value"),
        ({"session": {**LIVE, "store": "yes"}, "transport": WEBRTC}, "session.store", "invalid_type"),
    ],
)
def test_create_refuses_bad_bodies(sandbox: Sandbox, body: Any, param: str, code: str) -> None:
    reply = send(sandbox, "POST", "/v1/live/sessions", body)
    assert (reply.status, reply.json()["error"]["param"], reply.code) == (400, param, code)


def test_an_offer_without_media_gets_an_answer_without_any(client: OpenAI) -> None:
    bare = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
    answer = client.live.create(session=LIVE, transport={"type": "webrtc", "sdp": bare}).transport.sdp
    assert answer.startswith("v=0\r\n") and "m=" not in answer and "BUNDLE" not in answer


def test_create_refuses_another_transport(sandbox: Sandbox) -> None:
    reply = send(sandbox, "POST", "/v1/live/sessions",
                 {"session": LIVE, "transport": {"type": "sip", "sdp": OFFER}})
    assert reply.status == 400
    assert reply.json()["error"]["message"] == "'sip' is not one of ['webrtc'] - 'transport.type'"


def test_a_stored_session_downloads_its_recording(client: OpenAI, sandbox: Sandbox) -> None:
    """A WAV (RIFF, 16-bit mono PCM at 24 kHz) whose INFO comment names the session."""
    session_id = stored_session(client)
    recording = client.live.sessions.download_recording(session_id)
    data = recording.read()
    assert recording.response.headers["content-type"] == "audio/wav"
    assert sandbox.requests()[-1]["headers"]["accept"] == "application/binary"
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    assert struct.unpack("<I", data[4:8])[0] == len(data) - 8
    assert struct.unpack("<HHI", data[20:28]) == (1, 1, 24000)
    assert session_id.encode() + b"\0" in data
    assert client.live.sessions.download_recording(session_id).read() == data


def test_store_defaults_to_false(client: OpenAI) -> None:
    """As the SDK documents: a session made without ``store`` is neither downloadable nor
    forkable, and says why."""
    session_id = client.live.create(session=LIVE, transport=WEBRTC).session.id
    body = not_found(lambda: client.live.sessions.download_recording(session_id))
    assert f"Live session '{session_id}' was not stored" in body["message"]
    assert not_found(lambda: client.live.sessions.fork(session_id, transport=WEBRTC)) == body


def test_fork_makes_a_new_session_that_inherits_store(client: OpenAI, sandbox: Sandbox) -> None:
    parent = stored_session(client)
    overrides: Any = {"client": {}}
    forked = client.live.sessions.fork(parent, transport=WEBRTC, session=overrides)
    assert forked.session.id.startswith("live_") and forked.session.id != parent
    assert_answers(forked.transport.sdp)
    assert sandbox.requests()[-1]["json"] == {"transport": WEBRTC, "session": {"client": {}}}
    # Stored as its parent was, so it downloads and forks in turn; `store: false` overrides that.
    assert client.live.sessions.download_recording(forked.session.id).read()[:4] == b"RIFF"
    grandchild = client.live.sessions.fork(forked.session.id, transport=WEBRTC, session={"store": False})
    assert "was not stored" in not_found(
        lambda: client.live.sessions.download_recording(grandchild.session.id))["message"]


def test_fork_refuses_settings_it_cannot_override(client: OpenAI, sandbox: Sandbox) -> None:
    """The model, voice and instructions come from the stored session."""
    parent = stored_session(client)
    reply = send(sandbox, "POST", f"/v1/live/sessions/{parent}/fork",
                 {"transport": WEBRTC, "session": {"model": "gpt-live-1.1"}})
    assert reply.status == 400
    assert reply.json()["error"]["message"] == (
        "Additional properties are not allowed ('model' was unexpected)")


def test_an_incoming_sip_session_is_accepted_referred_and_recorded(client: OpenAI, sandbox: Sandbox) -> None:
    """Accept and refer answer nothing (the SDK returns None) and send ``Accept: */*``; the accept
    body's ``store`` decides whether the call is stored. A referred call stays active until it is
    hung up."""
    session_id = sandbox.live_incoming()
    assert session_id.startswith("live_")
    stored: Any = {**SIP_LIVE, "store": True}
    raw = client.live.sessions.with_raw_response.accept(session_id, session=stored)
    assert (raw.status_code, raw.content) == (200, b"")
    accepted = sandbox.requests()[-1]
    assert (accepted["status"], accepted["headers"]["accept"]) == (200, "*/*")
    assert accepted["json"] == {"session": stored}
    client.live.sessions.refer(session_id, target_uri="tel:+14155550123")
    assert sandbox.requests()[-1]["json"] == {"target_uri": "tel:+14155550123"}
    assert client.live.sessions.download_recording(session_id).read()[:4] == b"RIFF"
    client.live.sessions.hangup(session_id)
    assert "is ended; only an active call can be referred" in bad_request(
        lambda: client.live.sessions.refer(session_id, target_uri="sip:agent@example.com"))
    assert "is ended; only an active call can be hung up" in bad_request(
        lambda: client.live.sessions.hangup(session_id))
    assert client.live.sessions.download_recording(session_id).read()[:4] == b"RIFF"


def test_an_incoming_session_stored_by_its_call_stays_stored(client: OpenAI, sandbox: Sandbox) -> None:
    """``store`` given to the control route holds unless the accept body says otherwise."""
    session_id = sandbox.live_incoming(store=True)
    body = not_found(lambda: client.live.sessions.download_recording(session_id))
    assert body["message"] == f"Live session '{session_id}' never connected, so it has no recording."
    client.live.sessions.accept(session_id, session=SIP_LIVE)
    client.live.sessions.hangup(session_id)
    assert client.live.sessions.fork(session_id, transport=WEBRTC).session.id.startswith("live_")


def test_a_rejected_session_cannot_be_accepted(client: OpenAI, sandbox: Sandbox) -> None:
    session_id = sandbox.live_incoming(store=True)
    client.live.sessions.reject(session_id, status_code=486)
    assert sandbox.requests()[-1]["json"] == {"status_code": 486}
    assert "is rejected; only an incoming SIP call can be accepted" in bad_request(
        lambda: client.live.sessions.accept(session_id, session=SIP_LIVE))
    assert "never connected" in not_found(
        lambda: client.live.sessions.download_recording(session_id))["message"]


def test_sip_controls_refuse_a_webrtc_session(client: OpenAI) -> None:
    """Accept and reject are for incoming SIP calls; a WebRTC session can be referred (the
    sandbox does not guess the upstream's refusal) and hung up, once."""
    session_id = client.live.create(session=LIVE, transport=WEBRTC).session.id
    for step in (lambda: client.live.sessions.accept(session_id, session=SIP_LIVE),
                 lambda: client.live.sessions.reject(session_id, status_code=603)):
        assert "is a WebRTC call; only an incoming SIP call can be" in bad_request(step)
    client.live.sessions.refer(session_id, target_uri="tel:+1")
    client.live.sessions.hangup(session_id)
    assert "is ended" in bad_request(lambda: client.live.sessions.hangup(session_id))


@pytest.mark.parametrize(
    ("action", "body", "param", "code"),
    [
        ("reject", {}, "status_code", "missing_required_parameter"),
        ("reject", {"status_code": 200}, "status_code", "invalid_value"),
        ("reject", {"status_code": "486"}, "status_code", "invalid_type"),
        ("refer", {"target_uri": "  "}, "target_uri", "invalid_value"),
        ("accept", {"session": {"model": "gpt-live-1"}}, "session.type", "missing_required_parameter"),
        ("accept", {"session": {"type": "live"}}, "session.model", "missing_required_parameter"),
    ],
)
def test_sip_controls_refuse_bad_bodies(
    sandbox: Sandbox, action: str, body: Any, param: str, code: str
) -> None:
    session_id = sandbox.live_incoming()
    reply = send(sandbox, "POST", f"/v1/live/sessions/{session_id}/{action}", body)
    assert (reply.status, reply.json()["error"]["param"], reply.code) == (400, param, code)


def test_an_unknown_live_session_is_not_found(client: OpenAI) -> None:
    gone = "live_missing"
    sessions = client.live.sessions
    for step in (lambda: sessions.download_recording(gone),
                 lambda: sessions.fork(gone, transport=WEBRTC),
                 lambda: sessions.accept(gone, session=SIP_LIVE),
                 lambda: sessions.hangup(gone),
                 lambda: sessions.refer(gone, target_uri="tel:+14155550123"),
                 lambda: sessions.reject(gone, status_code=486)):
        assert not_found(step) == error(f"Live session with id '{gone}' not found.")


def test_live_incoming_control_route_needs_no_key(sandbox: Sandbox) -> None:
    headers = {"Content-Type": "application/json"}
    made = call(sandbox.url, "POST", "/__sandbox/live/incoming", headers, b"{}")
    assert made.status == 200 and list(made.json()) == ["id"]
    refused = call(sandbox.url, "POST", "/__sandbox/live/incoming", headers, b'{"stored": true}')
    assert refused.status == 400


# Realtime calls


def test_create_call_with_a_session_sends_a_form(client: OpenAI, sandbox: Sandbox) -> None:
    """201, the SDP answer as an ``application/sdp`` body, and the call's URL in ``Location``."""
    session: Any = {"type": "realtime", "model": "gpt-realtime", "instructions": "Be brief."}
    answer = client.realtime.calls.create(sdp=OFFER, session=session)
    assert answer.response.status_code == 201
    assert answer.response.headers["content-type"] == "application/sdp"
    location = answer.response.headers["location"]
    assert location.startswith("/v1/realtime/calls/rtc_")
    assert_answers(answer.text)
    sent = sandbox.requests()[-1]
    assert sent["headers"]["content-type"].startswith("multipart/form-data")
    assert sent["headers"]["accept"] == "application/sdp"
    assert sent["form"] == {"sdp": OFFER, "session": json.dumps(session, separators=(",", ":"))}
    client.realtime.calls.hangup(location.rsplit("/", 1)[1])


def test_create_call_without_a_session_sends_the_bare_offer(client: OpenAI, sandbox: Sandbox) -> None:
    """The SDK then sends the offer itself as ``application/sdp``, as browsers do."""
    answer = client.realtime.calls.create(sdp=OFFER)
    assert answer.response.status_code == 201
    assert_answers(answer.text)
    sent = sandbox.requests()[-1]
    assert sent["headers"]["content-type"] == "application/sdp" and sent["form"] == {}


@pytest.mark.parametrize(
    ("content_type", "body", "status", "message"),
    [
        ("application/sdp", b"not an offer", 400, "Invalid 'sdp': expected an SDP offer"),
        ("application/json", b'{"sdp": "v=0"}', 400, "Invalid Content-Type header (application/json)"),
        ("multipart/form-data; boundary=B",
         b'--B\r\nContent-Disposition: form-data; name="session"\r\n\r\n{"type": "realtime"}\r\n--B--\r\n',
         400, "Missing required parameter: 'sdp'."),
        ("multipart/form-data; boundary=B",
         b'--B\r\nContent-Disposition: form-data; name="sdp"\r\n\r\nv=0\r\nm=audio 9 RTP/AVP 0\r\n'
         b'--B\r\nContent-Disposition: form-data; name="session"\r\n\r\n{"model": "x"}\r\n--B--\r\n',
         400, "Missing required parameter: 'session.type'."),
    ],
)
def test_create_call_refuses_bad_offers(
    sandbox: Sandbox, content_type: str, body: bytes, status: int, message: str
) -> None:
    reply = call(sandbox.url, "POST", "/v1/realtime/calls", {**AUTH, "Content-Type": content_type}, body)
    assert reply.status == status and reply.json()["error"]["message"].startswith(message)


def test_an_incoming_call_is_accepted_referred_and_ended(client: OpenAI, sandbox: Sandbox) -> None:
    call_id = sandbox.realtime_incoming()
    assert call_id.startswith("rtc_")
    raw = client.realtime.calls.with_raw_response.accept(call_id, type="realtime", model="gpt-realtime")
    assert (raw.status_code, raw.content) == (200, b"")
    accepted = sandbox.requests()[-1]
    assert (accepted["status"], accepted["headers"]["accept"]) == (200, "*/*")
    assert accepted["json"] == {"type": "realtime", "model": "gpt-realtime"}
    assert "is active; only an incoming SIP call can be accepted" in bad_request(
        lambda: client.realtime.calls.accept(call_id, type="realtime"))
    client.realtime.calls.refer(call_id, target_uri="sip:agent@example.com")
    client.realtime.calls.hangup(call_id)
    assert "is ended" in bad_request(lambda: client.realtime.calls.hangup(call_id))


def test_reject_declines_with_603_unless_told(client: OpenAI, sandbox: Sandbox) -> None:
    """The SDK sends ``{}`` when no status is given; both calls end rejected."""
    declined, busy = sandbox.realtime_incoming(), sandbox.realtime_incoming()
    client.realtime.calls.reject(declined)
    assert sandbox.requests()[-1]["json"] == {}
    client.realtime.calls.reject(busy, status_code=486)
    for call_id in (declined, busy):
        with pytest.raises(openai.BadRequestError, match="is rejected"):
            client.realtime.calls.accept(call_id, type="realtime")
    refused = send(sandbox, "POST", f"/v1/realtime/calls/{sandbox.realtime_incoming()}/reject",
                   {"status_code": 700})
    assert (refused.status, refused.code) == (400, "invalid_value")


def test_sip_controls_refuse_a_webrtc_call(client: OpenAI) -> None:
    location = client.realtime.calls.create(sdp=OFFER).response.headers["location"]
    call_id = location.rsplit("/", 1)[1]
    for step in (lambda: client.realtime.calls.accept(call_id, type="realtime"),
                 lambda: client.realtime.calls.reject(call_id)):
        assert "is a WebRTC call" in bad_request(step)
    client.realtime.calls.refer(call_id, target_uri="tel:+1")
    client.realtime.calls.hangup(call_id)


def test_an_unknown_call_is_not_found(client: OpenAI) -> None:
    gone, calls = "rtc_missing", client.realtime.calls
    for step in (lambda: calls.accept(gone, type="realtime"), lambda: calls.hangup(gone),
                 lambda: calls.refer(gone, target_uri="tel:+14155550123"), lambda: calls.reject(gone)):
        assert not_found(step) == error(f"Call with id '{gone}' not found.")


# Safety alerts and cases


def test_an_alert_about_a_response(client: OpenAI, sandbox: Sandbox) -> None:
    """The alert names the response and its model, with the reason its type is described by."""
    response = client.responses.create(model="gpt-5", input="hi")
    made = sandbox.safety_alert(response.id, "potentially_unintended_data_access")
    alert = client.safety.alerts.retrieve(made["id"])
    assert alert.to_dict() == made
    assert len(alert.id) == 38 and alert.id.startswith("alert_") and alert.request_id.startswith("req_")
    assert (alert.object, alert.response_id, alert.model) == ("safety.alert", response.id, "gpt-5")
    assert (alert.error_type, alert.reason) == (
        "potentially_unintended_data_access", "Potentially unintended data access.")
    assert alert.request_paused is True and alert.detailed_explanation is None


def test_an_alert_about_an_unstored_response(client: OpenAI, sandbox: Sandbox) -> None:
    """A response made with ``store: false`` is unknown to the sandbox; its alert takes the model
    the control route is given (else the default), and its type defaults to ``other``."""
    made = call(sandbox.url, "POST", "/__sandbox/safety/alerts", {"Content-Type": "application/json"},
                json.dumps({"response_id": "resp_gone", "model": "gpt-5", "request_paused": False}).encode())
    alert = client.safety.alerts.retrieve(made.json()["id"])
    assert (alert.model, alert.error_type, alert.request_paused) == ("gpt-5", "other", False)


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/__sandbox/safety/alerts", {}, 400),
        ("/__sandbox/safety/alerts", {"response_id": "resp_1", "error_type": "cyber"}, 400),
        ("/__sandbox/safety/cases", {"entity_identifier": "u", "notice": "ban"}, 400),
        ("/__sandbox/safety/cases", {"notice": "warning"}, 400),
    ],
)
def test_safety_control_routes_refuse_bad_bodies(sandbox: Sandbox, path: str, body: Any, status: int) -> None:
    reply = call(sandbox.url, "POST", path, {"Content-Type": "application/json"}, json.dumps(body).encode())
    assert reply.status == status


def test_a_case_about_a_safety_identifier(client: OpenAI, sandbox: Sandbox) -> None:
    made = sandbox.safety_case("end-user-7", notice="deactivation")
    case = client.safety.cases.retrieve(made["id"])
    assert case.to_dict() == made
    assert (case.object, case.entity_identifier, case.notice.type, case.reason) == (
        "safety.case", "end-user-7", "deactivation", None)
    assert client.safety.cases.retrieve(sandbox.safety_case("end-user-8")["id"]).notice.type == "warning"


def test_unknown_alerts_and_cases_are_not_found(client: OpenAI) -> None:
    assert not_found(lambda: client.safety.alerts.retrieve("alert_missing")) == error(
        "Safety alert with id 'alert_missing' not found.")
    assert not_found(lambda: client.safety.cases.retrieve("C-missing")) == error(
        "Safety case with id 'C-missing' not found.")
