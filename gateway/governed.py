"""The paths the routes with rules answer, for the passthrough to refuse a request that reached it
only because no such route took its method or its spelling."""

from __future__ import annotations

import re
from collections import defaultdict

from aiohttp import web

from gateway.errors import GatewayError, invalid_request

_PARAMETER = re.compile(r"\\\{[^}]*\\\}")


class GovernedPaths:
    """Every `/v1/` route with rules, by the first segment of its path."""

    def __init__(self, router: web.UrlDispatcher) -> None:
        shapes: dict[str, list[tuple[re.Pattern[str], re.Pattern[str], frozenset[str]]]] = (
            defaultdict(list))
        for resource in router.resources():
            template = resource.canonical
            if not isinstance(resource, web.Resource) or not template.startswith("/v1/"):
                continue
            # Any parameter, over any number of segments: what is under a route with rules is
            # its territory, whatever a stricter pattern of its own would take.
            shape = _PARAMETER.sub(".+", re.escape(template))
            methods = frozenset(route.method for route in resource) - {"*"}
            shapes[template[4:].split("/", 1)[0].lower()].append(
                (re.compile(shape), re.compile(shape, re.IGNORECASE), methods))
        self._shapes = dict(shapes)

    def refusal(self, path: str) -> GatewayError | None:
        """Why a request for `path` that no route with rules took is refused, if it is: a
        method none of them has (`PUT /v1/files`, which an upstream may serve as the unfiltered
        list), or a route with rules spelt in other case (`/v1/Files/…`, which a case-blind
        router, Express's default or ASP.NET Core's, serves as that route)."""
        shapes = self._shapes.get(path[4:].split("/", 1)[0].lower())
        if not shapes:
            return None
        allowed = {method for exact, _, methods in shapes if exact.fullmatch(path)
                   for method in methods}
        if allowed:
            return GatewayError(
                405, "invalid_request", "This method is not supported on this route through "
                "files-gateway", headers={"Allow": ", ".join(sorted(allowed))})
        if any(folded.fullmatch(path) for _, folded, _ in shapes):
            return invalid_request(f"Unknown route {path[:200]!r}: route names are lowercase")
        return None
