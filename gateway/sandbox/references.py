"""File references in request bodies (facts §5), and Image edits, which only reference files.
(Responses, Chat Completions, Conversations and Evals runs, which also store what they are sent,
have modules of their own and check references with the same walk.)

An edit's body is walked generically for file ids; the first unknown one is OpenAI's 404, and
otherwise the answer is a minimal, well-formed image.
"""

from __future__ import annotations

from aiohttp import web

from . import objects
from .forms import read_form, read_json
from .keys import STATE
from .state import SandboxState

# Keys whose string value is a file id, wherever they appear in a body.
FILE_ID_KEYS = frozenset({"file_id", "input_file_id", "training_file", "validation_file"})


def referenced_file_ids(body: object) -> list[str]:
    """Every file id in ``body``, in document order, without repeats.

    Besides the keys above and ``file_ids`` arrays, an object ``{"type": "file_id", "id": ...}``
    (an eval ``data_source.source``) names a file too.
    """
    found: list[str] = []
    stack: list[object] = [body]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(reversed(node))
            continue
        if not isinstance(node, dict):
            continue
        if node.get("type") == "file_id" and isinstance(node.get("id"), str):
            found.append(node["id"])
        for key, value in node.items():
            if key in FILE_ID_KEYS and isinstance(value, str):
                found.append(value)
            elif key == "file_ids" and isinstance(value, list):
                found.extend(v for v in value if isinstance(v, str))
        stack.extend(reversed(list(node.values())))
    return list(dict.fromkeys(found))


def check_references(state: SandboxState, body: object) -> list[str]:
    ids = referenced_file_ids(body)
    for file_id in ids:
        state.files.require(file_id)
    return ids


def summary(ids: list[str]) -> str:
    """The text of a sandbox model reply: it names the files the request referenced."""
    if not ids:
        return "Sandbox reply."
    return "Sandbox reply; referenced files: " + ", ".join(ids) + "."


async def create_image_edit(request: web.Request) -> web.Response:
    """The JSON form references files; the multipart form is read, recorded and dropped."""
    state = request.app[STATE]
    if request.content_type == "multipart/form-data":
        await read_form(request)
    else:
        check_references(state, await read_json(request))
    return web.json_response(objects.image_edit(state.clock.now()))


def routes() -> list[web.RouteDef]:
    return [
        web.post("/v1/images/edits", create_image_edit),
    ]
