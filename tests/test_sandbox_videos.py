"""The sandbox's Videos API, driven as a user would: the official SDK and raw HTTP against a real
sandbox server. Jobs finish at once; a video's MP4 holds what it was made from."""

from __future__ import annotations

import io
from typing import Any

import pytest
from openai import OpenAI, omit

from tests.conftest import Sandbox
from tests.test_sandbox_evals import client as client  # the fixture, shared
from tests.test_sandbox_evals import send
from tests.test_sandbox_stored import error, refusal

# openai 3.x marks every Videos method deprecated (the Sora API shuts down in 2026).
pytestmark = pytest.mark.filterwarnings("ignore:The Sora API:DeprecationWarning")

PNG = b"\x89PNG\r\n\x1a\nsandbox reference picture"
MP4 = b"\x00\x00\x00\x1cftypisom uploaded clip"


def by_id(video_id: str) -> dict[str, Any]:
    """``video={"id": …}`` as the SDK can send it: its typed argument accepts only a file
    (see test_the_sdk_refuses_a_reference_object), so the object goes in ``extra_body``."""
    return {"video": omit, "extra_body": {"video": {"id": video_id}}}


def last_form(sandbox: Sandbox) -> tuple[list[str], dict[str, Any]]:
    """Text field names of the last request in arrival order, and its file parts (which the
    SDK always sends after every text field)."""
    entry = sandbox.requests()[-1]
    return list(entry["form"]), entry["files"]


def test_video_lifecycle(client: OpenAI) -> None:
    """A new video is completed at once; retrieve, list and delete answer the SDK's types, and a
    deleted video is unknown everywhere."""
    made = client.videos.create(prompt="a cat on a piano", seconds="8", size="1280x720")
    assert made.id.startswith("video_")
    assert (made.object, made.status, made.progress, made.error) == ("video", "completed", 100, None)
    assert (made.model, made.seconds, made.size, made.prompt) == ("sora-2", "8", "1280x720",
                                                                  "a cat on a piano")
    assert made.completed_at == made.created_at and made.expires_at == made.created_at + 3600
    assert made.remixed_from_video_id is None
    assert client.videos.retrieve(made.id).to_dict() == made.to_dict()
    assert client.videos.create_and_poll(prompt="x").status == "completed"
    assert client.videos.list(order="asc").data[0].id == made.id

    gone = client.videos.delete(made.id)
    assert (gone.id, gone.object, gone.deleted) == (made.id, "video.deleted", True)
    missing = error(f"Video with id '{made.id}' not found.")
    for step in (
        lambda: client.videos.retrieve(made.id),
        lambda: client.videos.download_content(made.id),
        lambda: client.videos.remix(made.id, prompt="again"),
        lambda: client.videos.delete(made.id),
    ):
        assert refusal(step) == (404, missing)


def test_create_sends_fields_in_order(client: OpenAI, sandbox: Sandbox) -> None:
    """The SDK sends multipart text fields prompt, model, seconds, size in that order, then the
    reference: an object as ``input_reference[file_id]``, an upload as a file part."""
    file_id = client.files.create(file=("ref.png", io.BytesIO(PNG)), purpose="vision").id
    client.videos.create(prompt="p", model="sora-2-pro", seconds="4", size="720x1280",
                         extra_body={"input_reference": {"file_id": file_id}})
    assert last_form(sandbox) == (
        ["prompt", "model", "seconds", "size", "input_reference[file_id]"], {})
    client.videos.create(prompt="p", input_reference=("ref.png", PNG, "image/png"), seconds="4")
    names, files = last_form(sandbox)
    assert names == ["prompt", "seconds"]
    assert files == {"input_reference": {"filename": "ref.png", "bytes": len(PNG)}}


def test_content_reveals_what_a_video_was_made_from(client: OpenAI, sandbox: Sandbox) -> None:
    """The MP4 holds the referenced File or the uploaded image; the previews are images."""
    file_id = client.files.create(file=("ref.png", io.BytesIO(PNG)), purpose="vision").id
    referenced = client.videos.create(prompt="from a file",
                                      extra_body={"input_reference": {"file_id": file_id}})
    uploaded = client.videos.create(prompt="from an upload", input_reference=("u.png", b"UPLOADED"))
    plain = client.videos.create(prompt="from words")
    video = client.videos.download_content(referenced.id).read()
    assert video[4:8] == b"ftyp" and b"from a file" in video and PNG in video
    assert b"UPLOADED" in client.videos.download_content(uploaded.id).read()
    assert PNG not in client.videos.download_content(plain.id).read()

    for variant, ctype, magic in (
        ("video", "video/mp4", b"\x00\x00\x00\x1cftyp"),
        ("thumbnail", "image/webp", b"RIFF"),
        ("spritesheet", "image/jpeg", b"\xff\xd8"),
    ):
        reply = send(sandbox, "GET", f"/v1/videos/{plain.id}/content?variant={variant}")
        assert (reply.status, reply.headers["content-type"]) == (200, ctype)
        assert reply.body.startswith(magic)
    thumb = client.videos.download_content(plain.id, variant="thumbnail").read()
    assert thumb == client.videos.download_content(plain.id, variant="thumbnail").read()


def test_an_unknown_input_reference_file_is_a_404(client: OpenAI) -> None:
    """``input_reference[file_id]`` must name a File; an image URL is taken as given."""
    assert refusal(lambda: client.videos.create(
        prompt="p", extra_body={"input_reference": {"file_id": "file-nope"}})) == (
        404, error("No such File object: file-nope", "input_reference.file_id"))
    made = client.videos.create(prompt="p", extra_body={"input_reference": {"image_url": "https://x/a.png"}})
    assert made.status == "completed"


def test_a_json_body_is_accepted(client: OpenAI, sandbox: Sandbox) -> None:
    """Clients other than the SDK may post JSON, with the reference as an object."""
    file_id = client.files.create(file=("ref.png", io.BytesIO(PNG)), purpose="vision").id
    body = {"prompt": "json", "seconds": "12", "input_reference": {"file_id": file_id}}
    reply = send(sandbox, "POST", "/v1/videos", body)
    assert (reply.status, reply.json()["seconds"]) == (200, "12")
    assert PNG in client.videos.download_content(reply.json()["id"]).read()
    missing = send(sandbox, "POST", "/v1/videos/edits", {"prompt": "e", "video": {"id": "video_x"}})
    assert (missing.status, missing.json()["error"]["param"]) == (404, "video.id")


def test_remix_edit_and_extend_make_new_videos(client: OpenAI, sandbox: Sandbox) -> None:
    """Each answers a new completed video whose MP4 holds its source; a remix names its source,
    an extension's seconds are the stitched total; the SDK sends ``video[id]`` or a file part."""
    file_id = client.files.create(file=("ref.png", io.BytesIO(PNG)), purpose="vision").id
    source = client.videos.create(prompt="src", seconds="8", size="1792x1024",
                                  extra_body={"input_reference": {"file_id": file_id}})
    remixed = client.videos.remix(source.id, prompt="remix")
    assert (remixed.remixed_from_video_id, remixed.seconds, remixed.size) == (source.id, "8", "1792x1024")
    assert sandbox.requests()[-1]["json"] == {"prompt": "remix"}

    edited = client.videos.edit(prompt="edit", **by_id(remixed.id))
    assert last_form(sandbox) == (["prompt", "video[id]"], {})
    extended = client.videos.extend(prompt="more", seconds="4", **by_id(edited.id))
    assert last_form(sandbox) == (["prompt", "seconds", "video[id]"], {})
    assert (edited.seconds, extended.seconds, extended.remixed_from_video_id) == ("8", "12", None)
    for made in (remixed, edited, extended):
        assert PNG in client.videos.download_content(made.id).read()

    # The API allows 16 and 20 more seconds (the SDK's docstring); its `VideoSeconds` type lags.
    from_upload = client.videos.extend(
        prompt="more", seconds="16", video=("v.mp4", MP4, "video/mp4"))  # type: ignore[arg-type]
    assert last_form(sandbox) == (
        ["prompt", "seconds"], {"video": {"filename": "v.mp4", "bytes": len(MP4)}})
    assert (from_upload.seconds, from_upload.size) == ("16", "720x1280")
    assert MP4 in client.videos.download_content(from_upload.id).read()
    assert MP4 in client.videos.download_content(client.videos.edit(prompt="e", video=MP4).id).read()


@pytest.mark.parametrize("route", ["edit", "extend"])
def test_an_unknown_source_video_is_a_404(client: OpenAI, route: str) -> None:
    """``video[id]`` must name a video the sandbox has."""
    method = client.videos.edit if route == "edit" else client.videos.extend
    extra: Any = {"seconds": "4"} if route == "extend" else {}
    assert refusal(lambda: method(prompt="p", **by_id("video_nope"), **extra)) == (
        404, error("Video with id 'video_nope' not found.", "video.id"))


def test_the_sdk_refuses_a_reference_object(client: OpenAI, sandbox: Sandbox) -> None:
    """openai 3.57 sends no request for ``video={"id": …}`` or ``input_reference={…}``: its
    multipart extraction accepts only file content at those paths."""
    with pytest.raises(RuntimeError, match="Expected entry at `video`"):
        client.videos.edit(prompt="p", video={"id": "video_x"})
    with pytest.raises(RuntimeError, match="Expected entry at `input_reference`"):
        client.videos.create(prompt="p", input_reference={"file_id": "file-x"})
    assert sandbox.requests() == []


def test_characters(client: OpenAI, sandbox: Sandbox) -> None:
    """A character is made from a name and an uploaded video, and retrieved by id."""
    made = client.videos.create_character(name="Mochi", video=("cat.mp4", MP4, "video/mp4"))
    assert last_form(sandbox) == (
        ["name"], {"video": {"filename": "cat.mp4", "bytes": len(MP4)}})
    assert made.id is not None and made.id.startswith("char_")
    assert (made.name, made.created_at > 0) == ("Mochi", True)
    assert client.videos.get_character(made.id).to_dict() == made.to_dict()
    assert refusal(lambda: client.videos.get_character("char_nope")) == (
        404, error("Character with id 'char_nope' not found."))


def test_videos_list_newest_first_and_pages(client: OpenAI) -> None:
    """Videos list newest first unless ``order=asc``, paged by ``after`` and ``limit``."""
    made = [client.videos.create(prompt=f"v{i}").id for i in range(3)]
    assert [v.id for v in client.videos.list()] == made[::-1]
    assert [v.id for v in client.videos.list(order="asc")] == made
    first = client.videos.list(limit=2)
    assert ([v.id for v in first.data], first.has_more) == (made[:0:-1], True)
    assert [v.id for v in client.videos.list(after=made[1])] == made[:1]


@pytest.mark.parametrize(
    ("path", "body", "message", "param"),
    [
        ("/v1/videos", {}, "Missing required parameter: 'prompt'.", "prompt"),
        ("/v1/videos", {"prompt": "p", "seconds": "5"},
         "'5' is not one of ['4', '8', '12'] - 'seconds'", None),
        ("/v1/videos", {"prompt": "p", "size": "1x1"},
         "'1x1' is not one of ['720x1280', '1280x720', '1024x1792', '1792x1024'] - 'size'", None),
        ("/v1/videos", {"prompt": "p", "input_reference": {"url": "u"}},
         "Additional properties are not allowed ('input_reference.url' was unexpected)", None),
        ("/v1/videos", {"prompt": 3}, "Invalid type for 'prompt': expected a string.", "prompt"),
        ("/v1/videos/edits", {"prompt": "p"}, "Missing required parameter: 'video'.", "video"),
        ("/v1/videos/extensions", {"prompt": "p", "video": {"id": "video_x"}},
         "Missing required parameter: 'seconds'.", "seconds"),
    ],
    ids=["a prompt is required", "seconds are 4, 8 or 12", "sizes are listed",
         "a reference has file_id or image_url", "fields are strings", "an edit needs a video",
         "an extension needs seconds"],
)
def test_invalid_bodies(sandbox: Sandbox, path: str, body: Any, message: str, param: str | None) -> None:
    """Bad bodies are OpenAI's 400s, checked before any video is looked up."""
    reply = send(sandbox, "POST", path, body)
    assert reply.status == 400
    assert (reply.json()["error"]["message"], reply.json()["error"]["param"]) == (message, param)


def test_a_bad_variant_and_a_character_without_video(client: OpenAI, sandbox: Sandbox) -> None:
    """``variant`` is one of three; a character needs a video file part."""
    made = client.videos.create(prompt="p")
    reply = send(sandbox, "GET", f"/v1/videos/{made.id}/content?variant=gif")
    assert (reply.status, reply.json()["error"]["message"]) == (
        400, "'gif' is not one of ['video', 'thumbnail', 'spritesheet'] - 'variant'")
    assert refusal(lambda: client.videos.create_character(
        name="n", video=omit, extra_body={"video": "not a file"})) == (  # type: ignore[arg-type]
        400, error("Missing required parameter: 'video'.", "video", "missing_required_parameter"))
    assert sandbox.requests()[-1]["form"] == {"name": "n", "video": "not a file"}
