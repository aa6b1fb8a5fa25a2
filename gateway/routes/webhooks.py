"""Webhook endpoints: where the upstream delivers the project's events, and the secret that
signs them. Each is its creator's, like a file: otherwise another org behind the same key could
delete one, point it elsewhere, or rotate its secret (which answers with the new one) and sign
deliveries its owner would trust. What the upstream delivers to an endpoint is every event of
the project (ids only); no gateway sees a delivery, so that cannot be narrowed here."""

from __future__ import annotations

from aiohttp import web

from gateway.routes import objects
from gateway.routes.holders import Holder
from gateway.routes.paged import ListSpec

COLLECTION = "/v1/webhook_endpoints"
# Not in the purpose matrix; no body of this API names a file all the same.
WEBHOOK_ENDPOINTS = Holder("webhook_endpoint", "webhooks", COLLECTION,
                           ListSpec(COLLECTION, COLLECTION, 100, 20, ()), checks_purpose=False)


def add_routes(router: web.UrlDispatcher) -> None:
    """Rotating the secret and sending a test event are changes, like an update."""
    objects.add_routes(router, WEBHOOK_ENDPOINTS)
