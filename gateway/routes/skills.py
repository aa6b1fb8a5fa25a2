"""Skills: bundles of files a caller uploads for the model's containers. A skill is the
uploader's, with access flags as a file's (`X-File-Access`); its bundle and each version's are
its content, downloaded by the skill's visibility and `no_download` (it has no purpose).
Bodies are streamed both ways: a bundle is never held in memory."""

from __future__ import annotations

import time

from aiohttp import web

from gateway import keys
from gateway.enforce import access_flags
from gateway.http_client import UpstreamResponse
from gateway.policy import Action
from gateway.records import EPHEMERAL
from gateway.routes import objects
from gateway.routes.files import ACCESS_HEADER
from gateway.routes.forward import checked_form, send_form
from gateway.routes.holders import Holder
from gateway.routes.paged import ListSpec
from gateway.routes.responses import json_response, upstream_json
from gateway.upstream import relay

SKILLS = Holder("skill", "skills", "/v1/skills",
                ListSpec("/v1/skills", "/v1/skills", 100, 20, ("order",)))
ONE = SKILLS.collection + "/{object_id}"


async def create_skill(request: web.Request) -> web.StreamResponse:
    flags = access_flags(request.headers.get(ACCESS_HEADER), None)
    response = await _send_bundle(request, SKILLS.collection)
    if response.status != 200:
        return await relay(request, response)
    obj = await upstream_json(response)
    # The upstream keeps skills until deleted: an ephemeral one expires at the gateway only.
    ttl = request.app[keys.SETTINGS].policy.ephemeral_ttl_seconds
    expires_at = int(time.time()) + ttl if EPHEMERAL in flags else None
    await objects.record_created(request, SKILLS, response, obj.get("id"), flags,
                                 expires_at=expires_at)
    return json_response(request, obj, response)


async def add_version(request: web.Request) -> web.StreamResponse:
    await objects.decided(request, SKILLS, Action.DELETE)
    return await relay(request, await _send_bundle(request, ONE + "/versions"))


async def _send_bundle(request: web.Request, route: str) -> UpstreamResponse:
    """A bundle's files stream through; a field naming a file by id is checked all the same."""
    form, _ = await checked_form(request, SKILLS.api)
    return await send_form(request, route, form)


def add_routes(router: web.UrlDispatcher) -> None:
    """Content and new versions first: the skill's own catch-all below it would take them."""
    for route in (ONE + "/content", ONE + "/versions/{version}/content"):
        router.add_get(route, objects.bundle_content(SKILLS, route))
    router.add_post(ONE + "/versions", add_version)
    objects.add_routes(router, SKILLS, creating=create_skill)
