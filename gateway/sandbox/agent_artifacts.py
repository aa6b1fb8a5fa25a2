"""``/v1/agents/sessions/{session_id}/artifacts``: the files a session's turn published.

The sandbox publishes every file of a session's OpenAI-hosted environment when the session's
turn completes (OpenAI publishes only what a turn leaves under ``/workspace/outputs``), so an
artifact's content is exactly the bytes of the environment file it came from: a File's, copied
by ``file_id``, or decoded ``inline`` data. Each is an immutable copy under
``<root>/agents/sessions/<session id>/``, streamed on download. Artifacts are listed newest first
unless ``order=asc``, narrowed by ``environment_id``.
"""

from __future__ import annotations

from aiohttp import hdrs, web

from .agent_files import Source, discard, folder, place
from .errors import ApiError
from .keys import STATE
from .pagination import cursor_list
from .state import SandboxState
from .store import JsonObject, new_id

SESSION_NOT_FOUND = "Session with id '{}' not found."
NOT_FOUND = "Artifact with id '{}' not found."


def deleted(artifact_id: str) -> JsonObject:
    return {"id": artifact_id, "object": "agent.session.artifact.deleted", "deleted": True}


async def publish(state: SandboxState, session_id: str, turn_id: str, environment: JsonObject) -> None:
    """One artifact of the turn per file of the environment (none without a hosted one)."""
    published = state.agent_artifacts.setdefault(session_id, {})
    kept = folder(state, "environments", environment.get("id", ""))
    for entry in environment.get("files", []):
        artifact: JsonObject = {
            "id": new_id("art_"),
            "object": "agent.session.artifact",
            "created_at": state.clock.now(),
            "session_id": session_id,
            "turn_id": turn_id,
            "environment_id": environment["id"],
            "path": entry["path"],
            "size_bytes": entry["size_bytes"],
        }
        copied = Source(entry["type"], entry["path"], entry["size_bytes"], origin=kept / entry["id"])
        await place(copied, folder(state, "sessions", session_id) / artifact["id"])
        published[artifact["id"]] = artifact


async def forget(state: SandboxState, session_id: str) -> None:
    """A deleted session's artifacts go with it."""
    state.agent_artifacts.pop(session_id, None)
    await discard(folder(state, "sessions", session_id))


def _published(request: web.Request) -> tuple[SandboxState, dict[str, JsonObject]]:
    state = request.app[STATE]
    session_id = request.match_info["session_id"]
    published = state.agent_artifacts.get(session_id)
    if published is None:
        raise ApiError(404, SESSION_NOT_FOUND.format(session_id))
    return state, published


def _artifact(request: web.Request) -> tuple[SandboxState, JsonObject]:
    state, published = _published(request)
    artifact_id = request.match_info["artifact_id"]
    artifact = published.get(artifact_id)
    if artifact is None:
        raise ApiError(404, NOT_FOUND.format(artifact_id))
    return state, artifact


async def list_artifacts(request: web.Request) -> web.Response:
    environment_id = request.query.get("environment_id")
    kept = [
        artifact
        for artifact in _published(request)[1].values()
        if environment_id in (None, artifact["environment_id"])
    ]
    return web.json_response(cursor_list(request, kept))


async def retrieve(request: web.Request) -> web.Response:
    return web.json_response(_artifact(request)[1])


async def delete(request: web.Request) -> web.Response:
    state, artifact = _artifact(request)
    del state.agent_artifacts[artifact["session_id"]][artifact["id"]]
    await discard(folder(state, "sessions", artifact["session_id"]) / artifact["id"])
    return web.json_response(deleted(artifact["id"]))


async def content(request: web.Request) -> web.FileResponse:
    state, artifact = _artifact(request)
    path = folder(state, "sessions", artifact["session_id"]) / artifact["id"]
    return web.FileResponse(path, headers={hdrs.CONTENT_TYPE: "application/octet-stream"})


def routes() -> list[web.RouteDef]:
    many = "/v1/agents/sessions/{session_id}/artifacts"
    one = many + "/{artifact_id}"
    return [
        web.get(many, list_artifacts),
        web.get(one, retrieve),
        web.delete(one, delete),
        web.get(one + "/content", content),
    ]
