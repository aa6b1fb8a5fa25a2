"""The sandbox's webhook endpoints, driven as a project would: the official SDK (and raw HTTP, for
bodies the SDK will not send) against a real sandbox server. Create answers the signing secret
once, rotation answers a new one, a test delivery is answered without being sent, and the list
pages newest first."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import typing
from collections.abc import Callable
from typing import Any

import openai
import pytest
from openai import OpenAI
from openai.types.webhooks import WebhookEndpointWithSecret
from openai.types.webhooks.webhook_test_params import WebhookTestParams

from tests.conftest import Sandbox
from tests.test_sandbox_evals import client as client  # the fixture, shared
from tests.test_sandbox_evals import send
from tests.test_sandbox_stored import error

EVENTS: Any = ["batch.completed", "response.completed"]
# Every event type the SDK can subscribe an endpoint to, read from its own literal.
SDK_EVENT_TYPES = list(typing.get_args(typing.get_args(
    typing.get_type_hints(WebhookTestParams, include_extras=True)["event_type"])[0]))


def make(client: OpenAI, name: str = "hooks",
         url: str = "https://example.com/hooks") -> WebhookEndpointWithSecret:
    return client.webhooks.create(event_types=EVENTS, name=name, url=url)


def refused(step: Callable[[], object]) -> tuple[int, Any]:
    with pytest.raises(openai.APIStatusError) as caught:
        step()
    return caught.value.status_code, caught.value.body


def signed(secret: str, payload: str) -> dict[str, str]:
    """The Standard Webhooks headers OpenAI would send with ``payload``, signed with ``secret``."""
    webhook_id, timestamp = "wh_test", str(int(time.time()))
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{webhook_id}.{timestamp}.{payload}".encode(), hashlib.sha256).digest()
    return {"webhook-id": webhook_id, "webhook-timestamp": timestamp,
            "webhook-signature": "v1," + base64.b64encode(digest).decode()}


# Create and retrieve


def test_create_answers_the_endpoint_with_its_secret_once(client: OpenAI, sandbox: Sandbox) -> None:
    before = int(time.time())
    made = make(client)
    assert made.id.startswith("whe_") and made.object == "webhook_endpoint"
    assert (made.name, made.url, made.event_types) == ("hooks", "https://example.com/hooks", EVENTS)
    assert before <= made.created_at <= int(time.time()) and made.updated_at == made.created_at
    assert made.signing_secret.startswith("whsec_")
    assert made.signing_secret_hint == "whsec_..." + made.signing_secret[-4:]
    assert sandbox.requests()[-1]["json"] == {"event_types": EVENTS, "name": "hooks",
                                              "url": "https://example.com/hooks"}

    raw = client.webhooks.with_raw_response.retrieve(made.id)
    assert "signing_secret" not in json.loads(raw.content)
    kept = raw.parse()
    assert kept.to_dict() == {key: value for key, value in made.to_dict().items() if key != "signing_secret"}


def test_the_secret_verifies_deliveries_with_the_sdk(client: OpenAI) -> None:
    """The secret is in the form the SDK decodes: a delivery signed with it verifies, and one
    signed with any other secret does not."""
    secret = make(client).signing_secret
    payload = json.dumps({"id": "evt_1", "object": "event", "type": "batch.completed", "created_at": 1,
                          "data": {"id": "batch_1"}})
    client.webhooks.verify_signature(payload, signed(secret, payload), secret=secret)
    event = client.webhooks.unwrap(payload, signed(secret, payload), secret=secret)
    assert event.type == "batch.completed"
    other = make(client).signing_secret
    with pytest.raises(openai.InvalidWebhookSignatureError):
        client.webhooks.verify_signature(payload, signed(other, payload), secret=secret)


@pytest.mark.parametrize(
    ("settings", "status_body"),
    [
        ({"event_types": []}, error(
            "Invalid 'event_types': empty array. Expected an array with minimum length 1, but got an "
            "empty array instead.", "event_types", "empty_array")),
        ({"event_types": "batch.completed"}, error(
            "Invalid type for 'event_types': expected an array.", "event_types", "invalid_type")),
        ({"event_types": ["batch.completed", "batch.started"]}, error(
            "Invalid value: 'batch.started'. Supported values are: "
            + ", ".join(f"'{e}'" for e in SDK_EVENT_TYPES[:-1]) + f", and '{SDK_EVENT_TYPES[-1]}'.",
            "event_types[1]", "invalid_value")),
        ({"url": "http://example.com/hooks"}, error(
            "Invalid 'url': string does not match pattern. Expected a string that matches the pattern "
            "'^https://'.", "url", "invalid_value")),
        ({"url": "https://example.com/" + "a" * 2029}, error(
            "Invalid 'url': string too long. Expected a string with maximum length 2048, but got a "
            "string with length 2049 instead.", "url", "string_above_max_length")),
        ({"name": ""}, error(
            "Invalid 'name': string too short. Expected a string with minimum length 1, but got an "
            "empty string instead.", "name", "string_below_min_length")),
        ({"name": "n" * 257}, error(
            "Invalid 'name': string too long. Expected a string with maximum length 256, but got a "
            "string with length 257 instead.", "name", "string_above_max_length")),
        ({"name": 7}, error("Invalid type for 'name': expected a string.", "name", "invalid_type")),
    ],
)
def test_create_refuses_bad_settings(client: OpenAI, settings: dict[str, Any], status_body: Any) -> None:
    given: Any = {"event_types": EVENTS, "name": "hooks", "url": "https://example.com/hooks", **settings}
    assert refused(lambda: client.webhooks.create(**given)) == (400, status_body)
    assert client.webhooks.list().data == []


@pytest.mark.parametrize("missing", ["event_types", "name", "url"])
def test_create_requires_every_setting(sandbox: Sandbox, missing: str) -> None:
    body = {"event_types": EVENTS, "name": "hooks", "url": "https://example.com/hooks"}
    del body[missing]
    reply = send(sandbox, "POST", "/v1/webhook_endpoints", body)
    assert (reply.status, reply.json()["error"]) == (400, error(
        f"Missing required parameter: '{missing}'.", missing, "missing_required_parameter"))


def test_create_refuses_unknown_settings(client: OpenAI) -> None:
    assert refused(lambda: client.webhooks.create(
        event_types=EVENTS, name="hooks", url="https://example.com/hooks", extra_body={"secret": "mine"},
    )) == (400, error("Additional properties are not allowed ('secret' was unexpected)"))


# List


def test_the_list_pages_newest_first(client: OpenAI, sandbox: Sandbox) -> None:
    made = [make(client, f"hook-{index}").id for index in range(5)]
    newest_first = made[::-1]
    first = client.webhooks.list(limit=2)
    assert [e.id for e in first.data] == newest_first[:2] and first.has_more is True
    raw = json.loads(client.webhooks.with_raw_response.list(limit=2).content)
    assert (raw["object"], raw["first_id"], raw["last_id"]) == ("list", newest_first[0], newest_first[1])
    assert all("signing_secret" not in endpoint for endpoint in raw["data"])

    second = client.webhooks.list(limit=2, after=newest_first[1])
    assert [e.id for e in second.data] == newest_first[2:4] and second.has_more is True
    last = client.webhooks.list(limit=2, after=newest_first[3])
    assert [e.id for e in last.data] == newest_first[4:] and last.has_more is False

    sandbox.clear()
    assert [e.id for e in client.webhooks.list(limit=2)] == newest_first  # the SDK follows `after`
    assert [r["query"] for r in sandbox.requests()] == [
        {"limit": "2"}, {"limit": "2", "after": newest_first[1]}, {"limit": "2", "after": newest_first[3]},
    ]


def test_the_list_defaults_to_20_and_allows_100(client: OpenAI) -> None:
    made = [make(client, f"hook-{index}").id for index in range(21)]
    default = client.webhooks.list()
    assert [e.id for e in default.data] == made[:0:-1] and default.has_more is True
    everything = client.webhooks.list(limit=100)
    assert [e.id for e in everything.data] == made[::-1] and everything.has_more is False


@pytest.mark.parametrize("limit", [0, 101])
def test_the_list_refuses_a_limit_outside_1_to_100(client: OpenAI, limit: int) -> None:
    assert refused(lambda: client.webhooks.list(limit=limit)) == (400, error(
        f"Invalid 'limit': expected a value between 1 and 100, but got {limit} instead.", "limit",
        "invalid_value"))


def test_an_unknown_cursor_is_an_empty_page(client: OpenAI) -> None:
    make(client)
    page = client.webhooks.list(after="whe_missing")
    assert (page.data, page.has_more) == ([], False)


# Update


def test_update_changes_what_it_names(client: OpenAI, sandbox: Sandbox) -> None:
    made = make(client)
    send(sandbox, "POST", "/__sandbox/clock", {"advance": 60})
    renamed = client.webhooks.update(made.id, name="renamed")
    assert (renamed.name, renamed.url, renamed.event_types) == ("renamed", made.url, EVENTS)
    assert renamed.updated_at is not None and renamed.updated_at >= made.created_at + 60
    assert sandbox.requests()[-1]["json"] == {"name": "renamed"}

    new_url = "https://example.org/new"
    moved = client.webhooks.update(made.id, url=new_url, event_types=["video.failed"])
    assert (moved.name, moved.url, moved.event_types) == ("renamed", new_url, ["video.failed"])
    assert "signing_secret" not in json.loads(
        client.webhooks.with_raw_response.update(made.id, name="renamed").content)
    assert client.webhooks.retrieve(made.id).to_dict() == moved.to_dict()


def test_an_update_that_changes_nothing_keeps_updated_at(client: OpenAI, sandbox: Sandbox) -> None:
    made = make(client)
    send(sandbox, "POST", "/__sandbox/clock", {"advance": 60})
    same = client.webhooks.update(made.id, name=made.name, url=made.url, event_types=EVENTS)
    assert same.updated_at == made.updated_at
    assert client.webhooks.update(made.id).updated_at == made.updated_at


def test_update_refuses_bad_settings(client: OpenAI) -> None:
    made = make(client)
    assert refused(lambda: client.webhooks.update(made.id, url="http://example.com/"))[1]["param"] == "url"
    assert refused(lambda: client.webhooks.update(made.id, event_types=[]))[1]["code"] == "empty_array"
    assert refused(lambda: client.webhooks.update(made.id, name=""))[1]["param"] == "name"
    assert refused(lambda: client.webhooks.update(made.id, extra_body={"signing_secret": "x"}))[0] == 400
    assert client.webhooks.retrieve(made.id).url == made.url


# Secrets, tests and deletion


def test_rotation_answers_a_new_secret(client: OpenAI, sandbox: Sandbox) -> None:
    made = make(client)
    send(sandbox, "POST", "/__sandbox/clock", {"advance": 60})
    rotated = client.webhooks.rotate_secret(made.id)
    assert rotated.signing_secret.startswith("whsec_") and rotated.signing_secret != made.signing_secret
    assert rotated.signing_secret_hint == "whsec_..." + rotated.signing_secret[-4:]
    assert rotated.updated_at is not None and rotated.updated_at >= made.created_at + 60
    kept = client.webhooks.retrieve(made.id)
    assert (kept.signing_secret_hint, kept.updated_at) == (rotated.signing_secret_hint, rotated.updated_at)

    again = client.webhooks.rotate_secret(made.id, keep_old_secret_active_for_24_hours=True)
    assert again.signing_secret not in (made.signing_secret, rotated.signing_secret)
    assert sandbox.requests()[-1]["json"] == {"keep_old_secret_active_for_24_hours": True}
    keep: Any = "yes"
    assert refused(lambda: client.webhooks.rotate_secret(
        made.id, keep_old_secret_active_for_24_hours=keep))[1]["code"] == "invalid_type"


def test_a_test_is_answered_as_delivered_without_being_sent(client: OpenAI, sandbox: Sandbox) -> None:
    """Nothing listens on port 1: the answer cannot come from a delivery. ``updated_at`` stays."""
    made = make(client, url="https://127.0.0.1:1/hooks")
    send(sandbox, "POST", "/__sandbox/clock", {"advance": 60})
    result = client.webhooks.test(made.id, event_type="safety.alert.created")
    assert result.to_dict() == {"object": "webhook_endpoint.test", "webhook_endpoint_id": made.id,
                                "event_type": "safety.alert.created", "status_code": 200, "success": True}
    assert client.webhooks.retrieve(made.id).updated_at == made.updated_at

    bad: Any = "batch.started"
    assert refused(lambda: client.webhooks.test(made.id, event_type=bad))[1]["param"] == "event_type"
    reply = send(sandbox, "POST", f"/v1/webhook_endpoints/{made.id}/test", {})
    assert (reply.status, reply.json()["error"]["code"]) == (400, "missing_required_parameter")


def test_delete_answers_the_deleted_shape(client: OpenAI) -> None:
    kept, gone = make(client, "kept"), make(client, "gone")
    deleted = client.webhooks.delete(gone.id)
    assert deleted.to_dict() == {"id": gone.id, "object": "webhook_endpoint.deleted", "deleted": True}
    assert [e.id for e in client.webhooks.list()] == [kept.id]
    assert refused(lambda: client.webhooks.retrieve(gone.id))[0] == 404


def test_an_unknown_endpoint_is_not_found_on_every_route(client: OpenAI) -> None:
    missing = "whe_missing"
    body = error("Webhook endpoint with id 'whe_missing' not found.")
    for step in (
        lambda: client.webhooks.retrieve(missing),
        lambda: client.webhooks.update(missing, name="x"),
        lambda: client.webhooks.delete(missing),
        lambda: client.webhooks.rotate_secret(missing),
        lambda: client.webhooks.test(missing, event_type="batch.completed"),
    ):
        with pytest.raises(openai.NotFoundError) as caught:
            step()
        assert caught.value.body == body


# Event types


def test_event_types_are_every_type_the_sdk_can_subscribe_to(client: OpenAI, sandbox: Sandbox) -> None:
    listed = client.webhooks.event_types.list()
    assert (listed.object, listed.data) == ("list", SDK_EVENT_TYPES)
    assert sandbox.requests()[-1]["path"] == "/v1/webhook_event_types"
