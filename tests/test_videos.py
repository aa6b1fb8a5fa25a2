"""Videos belong to their creator and take over the restrictions of what they were made from;
file ids and videos named in their multipart forms are checked before the upstream is called.
Official SDK over real HTTP against the sandbox.

alice and bob share org acme; carol is in globex.
"""

from __future__ import annotations

import io
from functools import partial
from typing import Any

import openai
import pytest
from openai import omit

from tests import sdk
from tests.conftest import Gateway
from tests.http import call
from tests.sdk import refusal, refused

# The SDK warns on every Videos call that the Sora API will shut down; the API still answers.
pytestmark = pytest.mark.filterwarnings("ignore:The Sora API:DeprecationWarning")
PNG = b"\x89PNG\r\n\x1a\n" + b"image bytes of a secret picture"
NOT_FOUND = (404, "file_not_found")


upload = partial(sdk.upload, purpose="vision", data=PNG, filename="ref.png")


def make_video(gateway: Gateway, who: str, reference: Any = None) -> str:
    """`reference`: an upload, or `{"file_id": …}` (which the SDK sends only as extra_body)."""
    videos = gateway.client(who).videos
    if isinstance(reference, dict):
        return videos.create(prompt="a cat", extra_body={"input_reference": reference}).id
    if reference is not None:
        return videos.create(prompt="a cat", input_reference=reference).id
    return videos.create(prompt="a cat").id


def by_id(video_id: str) -> dict[str, Any]:
    """A source video named by id: the SDK takes only uploads at `video`, so it goes as extra_body."""
    return {"video": omit, "extra_body": {"video": {"id": video_id}}}


def test_videos_are_their_org_s(gateway: Gateway) -> None:
    video_id = make_video(gateway, "alice")
    alice, bob, carol = (gateway.client(who).videos for who in ("alice", "bob", "carol"))

    assert bob.retrieve(video_id).id == video_id
    assert bob.download_content(video_id).read()
    assert [v.id for v in bob.list()] == [video_id]
    edited = bob.edit(prompt="a dog", **by_id(video_id))
    assert alice.retrieve(edited.id).id == edited.id

    gateway.sandbox.clear()
    assert refused(lambda: carol.retrieve(video_id)) == NOT_FOUND
    assert refused(lambda: carol.download_content(video_id)) == NOT_FOUND
    assert refused(lambda: carol.remix(video_id, prompt="mine now")) == NOT_FOUND
    assert refusal(lambda: carol.edit(prompt="mine", **by_id(video_id))) == (*NOT_FOUND, "video.id")
    assert refusal(lambda: carol.extend(prompt="more", seconds="4", **by_id(video_id))) == (
        *NOT_FOUND, "video.id")
    assert refused(lambda: carol.delete(video_id)) == NOT_FOUND
    assert gateway.sandbox.requests() == []
    assert [v.id for v in carol.list()] == []

    remixed = alice.remix(video_id, prompt="a cat, again")
    assert bob.retrieve(remixed.id).remixed_from_video_id == video_id
    assert alice.delete(video_id).deleted
    assert refused(lambda: alice.retrieve(video_id)) == NOT_FOUND


def test_an_input_reference_is_a_file_reference(gateway: Gateway) -> None:
    alice, bob = gateway.client("alice").videos, gateway.client("bob").videos
    cases = [
        (upload(gateway, "bob", access="private_only"), (403, "private_only_forbidden")),
        (upload(gateway, "carol"), NOT_FOUND),
        (upload(gateway, "alice", purpose="user_data"), (400, "purpose_api_mismatch")),
        (gateway.sandbox.seed("vision"), (403, "file_untracked")),
    ]
    for file_id, expected in cases:
        gateway.sandbox.clear()
        made = partial(make_video, gateway, "alice", {"file_id": file_id})
        assert refusal(made) == (*expected, "input_reference.file_id")
        assert gateway.sandbox.requests() == []

    # What a video is made from lends it its restrictions, through remixes too.
    private = make_video(gateway, "alice", {"file_id": upload(gateway, "alice", access="private_only")})
    sealed = make_video(gateway, "alice", {"file_id": upload(gateway, "alice", access="no_download")})
    assert PNG in alice.download_content(private).read()
    assert refused(lambda: bob.retrieve(private)) == (403, "private_only_forbidden")
    assert refused(lambda: bob.retrieve(alice.remix(private, prompt="again").id)) == (
        403, "private_only_forbidden")
    assert alice.retrieve(sealed).id == sealed
    assert refused(lambda: alice.download_content(sealed)) == (403, "download_disabled")
    assert refused(lambda: bob.download_content(alice.remix(sealed, prompt="again").id)) == (
        403, "download_disabled")


def test_uploads_stream_through_and_characters_are_their_org_s(gateway: Gateway) -> None:
    alice, carol = gateway.client("alice").videos, gateway.client("carol").videos
    video_id = make_video(gateway, "alice", ("ref.png", io.BytesIO(PNG), "image/png"))
    sent = [r for r in gateway.sandbox.requests() if r["path"] == "/v1/videos"][-1]
    assert (sent["method"], sent["files"]["input_reference"]["bytes"]) == ("POST", len(PNG))
    assert alice.retrieve(video_id).id == video_id

    character = alice.create_character(name="Mochi", video=("c.mp4", io.BytesIO(b"mp4" * 1000),
                                                            "video/mp4"))
    character_id = str(character.id)
    assert alice.get_character(character_id).id == character_id
    assert refused(lambda: carol.get_character(character_id)) == NOT_FOUND


def test_a_reference_after_a_file_part_never_reaches_the_upstream(gateway: Gateway) -> None:
    video_id = make_video(gateway, "carol")
    boundary = "b0undary"
    body = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"prompt\"\r\n\r\nx\r\n"
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"video\"; filename=\"v.mp4\"\r\n"
        f"Content-Type: video/mp4\r\n\r\n{'v' * 5000}\r\n"
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"video[id]\"\r\n\r\n{video_id}\r\n"
        f"--{boundary}--\r\n"
    ).encode()
    gateway.sandbox.clear()
    reply = call(gateway.url, "POST", "/v1/videos/edits",
                 {"Authorization": "Bearer sk-alice",
                  "Content-Type": f"multipart/form-data; boundary={boundary}"}, body)
    assert (reply.status, reply.code) == (400, "invalid_request"), reply.body
    assert reply.json()["error"]["param"] == "video[id]"
    # The upstream itself made nothing: the body was cut short before its closing boundary.
    direct = openai.OpenAI(api_key="sk-direct", base_url=gateway.sandbox.url + "/v1")
    assert [v.id for v in direct.videos.list()] == [video_id]
    direct.close()
