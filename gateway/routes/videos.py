"""Videos: generated from a prompt, an image (`input_reference`, a file id or an upload) or
another video (`video[id]`, a remix). A video is its creator's and takes over the restrictions
of what it was made from; its content is downloaded by its visibility and `no_download`.
Multipart bodies are re-sent part by part (form_refs.py), references checked first."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from gateway.file_refs import FileRef, find_refs
from gateway.policy import Action
from gateway.references import inherited_flags
from gateway.routes import objects
from gateway.routes.forward import checked_form, checked_json, is_json, read_body, send, send_form
from gateway.routes.holders import Holder
from gateway.routes.paged import ListSpec
from gateway.routes.responses import json_response, upstream_json
from gateway.upstream import relay

VIDEOS = Holder("video", "videos", "/v1/videos",
                ListSpec("/v1/videos", "/v1/videos", 100, 20, ("order",)))
CHARACTERS = Holder("video.character", "videos", "/v1/videos/characters", None, deletable=False)
ONE = VIDEOS.collection + "/{object_id}"
# Form fields `video[id]` name a video to edit or extend.
VIDEO_FIELDS = frozenset({"video"})


def _json_refs(body: Any) -> list[FileRef]:
    refs = find_refs(body, VIDEOS.api)
    video = body.get("video") if isinstance(body, dict) else None
    if isinstance(video, dict) and "id" in video:
        refs.append(FileRef("video.id", video["id"], VIDEOS.api, check_purpose=False))
    return refs


def create(holder: Holder, route: str) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        if is_json(request):
            raw, _, records = await checked_json(request, _json_refs)
            response = await send(request, route, body=raw)
        else:
            form, records = await checked_form(request, VIDEOS.api, VIDEO_FIELDS)
            response = await send_form(request, route, form)
        if response.status != 200:
            return await relay(request, response)
        obj = await upstream_json(response)
        await objects.record_created(request, holder, response, obj.get("id"),
                                     inherited_flags(records))
        return json_response(request, obj, response)

    return handler


async def remix(request: web.Request) -> web.StreamResponse:
    source = await objects.decided(request, VIDEOS, Action.REFERENCE)
    raw, _ = await read_body(request)
    response = await send(request, ONE + "/remix", body=raw)
    if response.status != 200:
        return await relay(request, response)
    obj = await upstream_json(response)
    made_from = {source.file_id: source} if source is not None else {}
    await objects.record_created(request, VIDEOS, response, obj.get("id"),
                                 inherited_flags(made_from))
    return json_response(request, obj, response)


def add_routes(router: web.UrlDispatcher) -> None:
    """Fixed paths first: the video's own catch-all would take `characters` and `edits`."""
    characters = CHARACTERS.collection
    router.add_post(characters, create(CHARACTERS, characters))
    router.add_get(characters + "/{object_id}",
                   objects.retrieve(CHARACTERS, derive=False))
    for made in ("/edits", "/extensions"):
        router.add_post(VIDEOS.collection + made, create(VIDEOS, VIDEOS.collection + made))
    router.add_post(ONE + "/remix", remix)
    router.add_get(ONE + "/content", objects.bundle_content(VIDEOS, ONE + "/content"))
    objects.add_routes(router, VIDEOS, creating=create(VIDEOS, VIDEOS.collection))
