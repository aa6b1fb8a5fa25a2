"""``/v1/videos/characters``: a named character made from an uploaded video.

The upload is read and counted, then dropped: a character answers only its id, name and
creation time, and nothing downloads it. An unknown id is ``Character with id '…' not found.``
"""

from __future__ import annotations

from aiohttp import web

from .errors import missing_parameter, unexpected_properties
from .forms import read_form
from .keys import STATE
from .state import Stored
from .store import JsonObject, new_id
from .stored import lookup

NOT_FOUND = "Character with id '{}' not found."
FIELDS = ("name", "video")


async def create(request: web.Request) -> web.Response:
    state = request.app[STATE]
    form = await read_form(request)
    unexpected = [n for n in form.names if n not in FIELDS]
    if unexpected:
        raise unexpected_properties(unexpected)
    if "name" not in form.fields:
        raise missing_parameter("name")
    if "video" not in form.files:
        raise missing_parameter("video")
    name = form.fields["name"]
    character: JsonObject = {"id": new_id("char_"), "created_at": state.clock.now(), "name": name}
    state.video_characters[character["id"]] = Stored(character)
    return web.json_response(character)


async def retrieve(request: web.Request) -> web.Response:
    table = request.app[STATE].video_characters
    return web.json_response(lookup(table, request.match_info["character_id"], NOT_FOUND).object)


def routes() -> list[web.RouteDef]:
    return [
        web.post("/v1/videos/characters", create),
        web.get("/v1/videos/characters/{character_id}", retrieve),
    ]
