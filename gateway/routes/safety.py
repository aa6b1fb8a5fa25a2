"""Safety alerts: the upstream's account of what one response did (say, a potentially unintended
data access), with a generated explanation of it. An alert tells about its response, so it is
read by that response's rules: its owner, or its org when the response is not private."""

from __future__ import annotations

from aiohttp import web

from gateway.enforce import decide_file, plain_or_refused, scope
from gateway.policy import Action
from gateway.routes.forward import send
from gateway.routes.holders import RESPONSES
from gateway.routes.responses import json_response, upstream_json
from gateway.upstream import relay

ALERT = "/v1/safety/alerts/{alert_id}"


async def alert(request: web.Request) -> web.StreamResponse:
    """Read first, for the response it names; one naming none is decided by its own id, so
    refused as untracked, as is one about a response the gateway never recorded."""
    alert_id = await plain_or_refused(request, Action.RETRIEVE, request.match_info["alert_id"],
                                      RESPONSES.api)
    response = await send(request, ALERT)
    if response.status != 200:
        return await relay(request, response)
    found = await upstream_json(response)
    about = found.get("response_id") if isinstance(found, dict) else None
    async with scope(request, Action.RETRIEVE, alert_id, api=RESPONSES.api) as decision:
        decision.upstream_status = response.status
        await decide_file(request, decision, Action.RETRIEVE,
                          about if isinstance(about, str) and about else alert_id)
    return json_response(request, found, response)


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get(ALERT, alert)
