"""``/v1/videos``: Sora video jobs, made from a prompt, an image or another video.

The sandbox renders at once: every job answers ``completed`` with ``progress: 100`` from its
creation on, so ``create_and_poll`` returns after one retrieve. What a video was made from
(``input_reference[file_id]`` or an uploaded image; for an edit, extension or remix the source
video or an uploaded one) is kept inside its MP4 (``video_assets``), so its download reveals it.
An ``input_reference[image_url]`` is accepted and never fetched: the sandbox has no network.

404s: an unknown video in the path is ``Video with id '…' not found.`` without a param; named in
a body it has param ``video.id``; an unknown ``input_reference[file_id]`` is the File 404
(``No such File object: …``) with param ``input_reference.file_id``.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from .errors import ApiError, missing_parameter, no_such_file
from .forms import read_json
from .keys import STATE
from .pagination import cursor_list
from .state import SandboxState, Stored
from .store import JsonObject, new_id
from .stored import Kind
from .validation import check_keys, require_str
from .video_assets import content_response, remove_video, variant, video_path, write_video
from .video_inputs import Inputs, param, read_inputs

NOT_FOUND = "Video with id '{}' not found."
MODELS = ("sora-2", "sora-2-pro", "sora-2-2025-10-06", "sora-2-pro-2025-10-06", "sora-2-2025-12-08")
SIZES = ("720x1280", "1280x720", "1024x1792", "1792x1024")
SECONDS = ("4", "8", "12")
EXTENSION_SECONDS = ("4", "8", "12", "16", "20")
DEFAULTS: JsonObject = {"model": "sora-2", "seconds": "4", "size": "720x1280"}
# OpenAI keeps a video's downloadable assets for an hour; the sandbox keeps them until deleted.
ASSETS_TTL = 3600
FILE_ID, IMAGE_URL, VIDEO_ID = "input_reference[file_id]", "input_reference[image_url]", "video[id]"
CREATE_FIELDS = ("prompt", "model", "seconds", "size", FILE_ID, IMAGE_URL)


def deleted(video_id: str) -> JsonObject:
    return {"id": video_id, "object": "video.deleted", "deleted": True}


KIND = Kind(lambda state: state.videos, "video_id", NOT_FOUND, deleted)


def new_video(
    state: SandboxState, prompt: str, like: JsonObject, remixed_from: str | None = None
) -> JsonObject:
    """A finished job; ``like`` gives its model, seconds and size."""
    now = state.clock.now()
    return {
        "id": new_id("video_"),
        "object": "video",
        "status": "completed",
        "progress": 100,
        "created_at": now,
        "completed_at": now,
        "expires_at": now + ASSETS_TTL,
        "model": like["model"],
        "prompt": prompt,
        "seconds": like["seconds"],
        "size": like["size"],
        "remixed_from_video_id": remixed_from,
        "error": None,
    }


async def _keep(state: SandboxState, video: JsonObject, sources: list[Path]) -> web.Response:
    await write_video(video_path(state, video["id"]), video["prompt"], sources)
    state.videos[video["id"]] = Stored(video)
    return web.json_response(video)


async def create(request: web.Request) -> web.Response:
    state = request.app[STATE]
    inputs = await read_inputs(request, "input_reference", CREATE_FIELDS)
    try:
        prompt = inputs.text("prompt")
        like = {
            "model": inputs.choice("model", MODELS, DEFAULTS["model"]),
            "seconds": inputs.choice("seconds", SECONDS, DEFAULTS["seconds"]),
            "size": inputs.choice("size", SIZES, DEFAULTS["size"]),
        }
        sources = [p for p in (_referenced_file(state, inputs), inputs.upload) if p is not None]
        return await _keep(state, new_video(state, prompt, like), sources)
    finally:
        inputs.close()


def _referenced_file(state: SandboxState, inputs: Inputs) -> Path | None:
    file_id = inputs.fields.get(FILE_ID)
    if file_id is None:
        return None
    if state.files.get(file_id) is None:
        raise ApiError(404, no_such_file(file_id).message, param=param(FILE_ID))
    return state.files.path(file_id)


def _source(state: SandboxState, inputs: Inputs) -> tuple[JsonObject | None, Path]:
    """The video a body names (``video[id]``), else the one it uploads (``video``)."""
    video_id = inputs.fields.get(VIDEO_ID)
    if video_id is not None:
        source = state.videos.get(video_id)
        if source is None:
            raise ApiError(404, NOT_FOUND.format(video_id), param=param(VIDEO_ID))
        return source.object, video_path(state, video_id)
    if inputs.upload is None:
        raise missing_parameter("video")
    return None, inputs.upload


async def edit(request: web.Request) -> web.Response:
    """An edit keeps its source's model, duration and size (an upload's are unknown: defaults)."""
    state = request.app[STATE]
    inputs = await read_inputs(request, "video", ("prompt", VIDEO_ID))
    try:
        prompt = inputs.text("prompt")
        source, path = _source(state, inputs)
        return await _keep(state, new_video(state, prompt, source or DEFAULTS), [path])
    finally:
        inputs.close()


async def extend(request: web.Request) -> web.Response:
    """An extension's ``seconds`` is the stitched total (the SDK's ``Video.seconds``)."""
    state = request.app[STATE]
    inputs = await read_inputs(request, "video", ("prompt", "seconds", VIDEO_ID))
    try:
        prompt = inputs.text("prompt")
        added = int(inputs.choice("seconds", EXTENSION_SECONDS))
        source, path = _source(state, inputs)
        like = dict(source or DEFAULTS)
        like["seconds"] = str(added + (int(source["seconds"]) if source else 0))
        return await _keep(state, new_video(state, prompt, like), [path])
    finally:
        inputs.close()


async def remix(request: web.Request) -> web.Response:
    state, source = KIND.find(request)
    body = await read_json(request)
    check_keys(body, ("prompt",))
    prompt = require_str(body, "prompt")
    video = new_video(state, prompt, source.object, remixed_from=source.object["id"])
    return await _keep(state, video, [video_path(state, source.object["id"])])


async def list_videos(request: web.Request) -> web.Response:
    kept = [video.object for video in request.app[STATE].videos.values()]
    return web.json_response(cursor_list(request, kept))


async def delete(request: web.Request) -> web.Response:
    answer = await KIND.delete(request)
    await remove_video(video_path(request.app[STATE], request.match_info[KIND.param]))
    return answer


async def content(request: web.Request) -> web.StreamResponse:
    state, video = KIND.find(request)
    return content_response(state, video.object["id"], variant(request.query.get("variant")))


def routes() -> list[web.RouteDef]:
    one = "/v1/videos/{video_id}"
    return [
        web.post("/v1/videos", create),
        web.get("/v1/videos", list_videos),
        web.post("/v1/videos/edits", edit),
        web.post("/v1/videos/extensions", extend),
        web.get(one, KIND.retrieve),
        web.delete(one, delete),
        web.get(one + "/content", content),
        web.post(one + "/remix", remix),
    ]
