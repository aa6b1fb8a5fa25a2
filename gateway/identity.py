"""request -> Principal. Nothing here knows about policy (STYLE: identity apart from decision)."""

from __future__ import annotations

import functools
import hashlib
import ipaddress

from aiohttp import hdrs, web

from gateway.errors import identity_error
from gateway.principal import Principal
from gateway.settings import IdentitySettings, KeyEntry


@functools.lru_cache(maxsize=4096)
def fingerprint(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def bearer_token(request: web.Request) -> str | None:
    value = request.headers.get(hdrs.AUTHORIZATION, "")
    scheme, _, token = value.partition(" ")
    token = token.strip()
    # A key is printable ASCII; anything else is no key (and could not go upstream as sent).
    if scheme.lower() != "bearer" or not token or not token.isascii() or not token.isprintable():
        return None
    return token


def _one_text(request: web.Request, name: str) -> str:
    """An identity header's one value. Sent twice, a proxy that appends rather than replaces
    would have the client's first; not UTF-8 text, it could not be audited as it came."""
    values = request.headers.getall(name, ())
    if len(values) > 1:
        raise identity_error("untrusted_identity_header", f"{name} was sent more than once")
    value = values[0].strip() if values else ""
    if not value.isprintable():
        raise identity_error("untrusted_identity_header", f"{name} is not printable UTF-8 text")
    return value


class IdentityResolver:
    def __init__(self, settings: IdentitySettings) -> None:
        self._settings = settings
        self._keys: dict[str, KeyEntry] = {entry.sha256: entry for entry in settings.keys}
        self.identity_headers = (settings.user_header, settings.org_header)

    def resolve(self, request: web.Request) -> Principal:
        settings = self._settings
        token = bearer_token(request)
        key_fp = fingerprint(token)[:16] if token else ""
        carries_identity = any(name in request.headers for name in self.identity_headers)
        trusted = settings.mode == "header" and self._peer_is_trusted(request)
        if carries_identity and not trusted:
            raise identity_error(
                "untrusted_identity_header", "Identity headers are only accepted from trusted proxies"
            )
        if settings.mode == "static":
            assert settings.static_principal and settings.static_org
            return Principal(settings.static_principal, settings.static_org, False, key_fp)
        if settings.mode == "header":
            return self._from_headers(request, key_fp)
        return self._from_key(token)

    def _from_headers(self, request: web.Request, key_fp: str) -> Principal:
        user = _one_text(request, self._settings.user_header)
        if not user:
            raise identity_error("missing_api_key", "No identity header from the trusted proxy")
        org = _one_text(request, self._settings.org_header)
        return Principal(user, org or self._settings.default_org, False, key_fp)

    def _from_key(self, token: str | None) -> Principal:
        if token is None:
            raise identity_error(
                "missing_api_key",
                "You didn't provide an API key. Provide it as 'Authorization: Bearer YOUR_KEY'",
            )
        digest = fingerprint(token)
        entry = self._keys.get(digest)
        if entry is not None:
            return Principal(entry.principal, entry.org, entry.admin, digest[:16])
        if self._settings.unknown_keys == "reject":
            raise identity_error("invalid_api_key", "Incorrect API key provided")
        return Principal(f"key:{digest[:12]}", self._settings.default_org, False, digest[:16])

    def _peer_is_trusted(self, request: web.Request) -> bool:
        if request.remote is None:
            return False
        try:
            peer = ipaddress.ip_address(request.remote)
        except ValueError:
            return False
        return any(peer in network for network in self._settings.trusted_proxies)
