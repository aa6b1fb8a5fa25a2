"""The Agents beta: agents, their sessions, the environments and templates sessions run in,
automations and vaults. Each is its creator's, like a file, and is read, listed, changed and
deleted by the file rules. Files copied into an environment (a template's, a session's own or a
prewarmed one's) are references of the `agents` API; the object takes over their restrictions,
and a session's artifacts, made in that environment, download by the session's visibility and
`no_download`."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.file_refs import AGENTS_API
from gateway.routes import objects, stored
from gateway.routes.holders import Derived, Holder
from gateway.routes.paged import ListSpec


def session_environment(obj: dict[str, Any]) -> list[Derived]:
    """The environment a session runs in: made with the session unless it named one, and then
    the session's, with its restrictions (a named one keeps its own record: first sight wins)."""
    environment = obj.get("environment")
    if isinstance(environment, dict) and isinstance(environment.get("id"), str):
        return [Derived(environment["id"], "", ENVIRONMENTS.kind)]
    return []


def _holder(kind: str, collection: str, *forwarded: str, **options: Any) -> Holder:
    return Holder(kind, AGENTS_API, collection,
                  ListSpec(collection, collection, 100, 20, ("order", *forwarded)), **options)


AGENTS = _holder("agent", "/v1/agents")
TEMPLATES = _holder("agent.environment_template", "/v1/agents/environments/templates")
# Prewarmed environments expire upstream; the API has no way to delete one.
ENVIRONMENTS = _holder("agent.environment", "/v1/agents/environments", "type", deletable=False)
SESSIONS = _holder("agent.session", "/v1/agents/sessions", "agent_id", "metadata[",
                   derive=session_environment)
AUTOMATIONS = _holder("agent.automation", "/v1/agents/automations", "session_id")
VAULTS = _holder("vault", "/v1/vaults", "status", "metadata[")
ARTIFACT_CONTENT = SESSIONS.collection + "/{object_id}/artifacts/{artifact_id}/content"


def session_event_id(event: dict[str, Any]) -> object:
    """`agent.session.created`, a streamed create's first event, carries the new session."""
    session = event.get("session")
    return session.get("id") if isinstance(session, dict) else None


def add_routes(router: web.UrlDispatcher) -> None:
    """Deepest collections first: an agent's own catch-all would take `sessions` for an id, an
    environment's `templates`."""
    router.add_get(ARTIFACT_CONTENT, objects.bundle_content(SESSIONS, ARTIFACT_CONTENT))
    objects.add_routes(router, SESSIONS,
                       creating=stored.create(SESSIONS, session_event_id, stored_by_default=True))
    for holder in (TEMPLATES, ENVIRONMENTS, AUTOMATIONS, AGENTS, VAULTS):
        objects.add_routes(router, holder)
