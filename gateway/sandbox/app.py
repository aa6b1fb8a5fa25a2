"""Assemble the sandbox application: keys, cleanup_ctx, middleware order, routes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

from aiohttp import web

from . import (
    agent_artifacts,
    agent_automations,
    agent_environments,
    agent_sessions,
    agent_templates,
    agent_vaults,
    agents,
    batches,
    chat_completions,
    chatkit_sessions,
    chatkit_threads,
    checkpoints,
    containers,
    control,
    conversations,
    eval_runs,
    evals,
    files,
    fine_tuning,
    live_sessions,
    models,
    realtime_calls,
    references,
    responses,
    safety,
    skill_versions,
    skills,
    uploads,
    vector_stores,
    video_characters,
    videos,
    webhook_endpoints,
)
from .keys import FAULTS, REQUEST_LOG, STATE
from .middlewares import inject_faults, openai_errors, record_requests, require_bearer
from .state import FaultSet, SandboxState
from .store import new_id

# Room for JSON bodies with inline base64 file data; file bytes are streamed, not capped here.
MAX_JSON_BODY = 64 * 1024 * 1024


def _state_ctx(state: SandboxState) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        state.open()
        try:
            yield
        finally:
            state.close()

    return ctx


async def _openai_headers(request: web.Request, response: web.StreamResponse) -> None:
    """The response headers OpenAI documents for debugging (facts §6)."""
    if request.path.startswith("/v1/"):
        response.headers.setdefault("x-request-id", new_id("req_", 32))
        response.headers.setdefault("openai-version", "2020-10-01")
        # api.openai.com answers through Cloudflare, which sets a bot-management cookie; a
        # proxy must not carry it from one caller's request into another's.
        # (A header, not set_cookie(): aiohttp has rendered cookies before this signal.)
        response.headers.add("Set-Cookie", f"__cf_bm={new_id('', 43)}; Path=/; HttpOnly")


def create_sandbox_app(data_dir: Path | None = None) -> web.Application:
    """The OpenAI emulator. Without ``data_dir``, bytes go to a temporary directory that is
    removed on cleanup; with one, metadata is also persisted there across restarts."""
    app = web.Application(
        middlewares=[record_requests, inject_faults, openai_errors, require_bearer],
        client_max_size=MAX_JSON_BODY,
    )
    state = SandboxState(data_dir)
    app[STATE] = state
    app[REQUEST_LOG] = []
    app[FAULTS] = FaultSet()
    app.cleanup_ctx.append(_state_ctx(state))
    app.on_response_prepare.append(_openai_headers)
    modules = (
        files, uploads, batches, fine_tuning, checkpoints, models, references, chat_completions,
        responses, conversations, evals, eval_runs, vector_stores, containers, skills, skill_versions,
        # Characters first: `/v1/videos/characters/content` is a character, not a video's content.
        video_characters, videos,
        # Under `/v1/agents/`, the named collections before `/v1/agents/{agent_id}`, and templates
        # before `/v1/agents/environments/{environment_id}`, so neither is taken for an id.
        agent_templates, agent_environments, agent_artifacts, agent_sessions, agent_automations,
        agents, agent_vaults, chatkit_sessions, chatkit_threads, live_sessions, realtime_calls,
        safety, webhook_endpoints, control,
    )
    for module in modules:
        app.add_routes(module.routes())
    return app


def run_sandbox(host: str = "127.0.0.1", port: int = 8089, data_dir: Path | None = None) -> None:
    """Serve the sandbox until interrupted."""
    web.run_app(create_sandbox_app(data_dir), host=host, port=port)
