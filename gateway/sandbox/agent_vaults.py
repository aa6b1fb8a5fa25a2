"""``/v1/vaults``: named collections of credentials that environments and sessions name by id
(``vault_ids``); an unknown one is a 404 there too. Credentials are not emulated.

A vault is listed newest first unless ``order=asc``, narrowed by ``metadata[key]=value``.
"""

from __future__ import annotations

from aiohttp import web

from .agent_common import metadata_matches, named, strings
from .errors import invalid_value
from .forms import read_json
from .keys import STATE
from .pagination import cursor_list
from .state import SandboxState, Stored
from .store import JsonObject, new_id
from .stored import Kind, metadata
from .validation import check_keys, optional_str

NOT_FOUND = "Vault with id '{}' not found."
MAX_NAME_BYTES = 256


def deleted(vault_id: str) -> JsonObject:
    return {"id": vault_id, "object": "vault.deleted", "deleted": True}


KIND = Kind(lambda state: state.agent_vaults, "vault_id", NOT_FOUND, deleted)


def check_vaults(state: SandboxState, value: object, name: str) -> list[str]:
    """The ``vault_ids`` of a body (null is none), each a vault the sandbox has."""
    ids = strings(value, name)
    for index, vault_id in enumerate(ids):
        named(state.agent_vaults, vault_id, NOT_FOUND, f"{name}[{index}]")
    return ids


def _name(body: JsonObject) -> str | None:
    """The name is trimmed before it is kept, and must then be 1 to 256 bytes."""
    value = optional_str(body, "name")
    if value is None:
        return None
    trimmed = value.strip()
    if not 1 <= len(trimmed.encode()) <= MAX_NAME_BYTES:
        raise invalid_value("name", f"expected 1 to {MAX_NAME_BYTES} bytes after trimming.")
    return trimmed


async def create(request: web.Request) -> web.Response:
    state = request.app[STATE]
    body = await read_json(request)
    check_keys(body, ("name", "metadata"))
    vault: JsonObject = {
        "id": new_id("vault_"),
        "object": "vault",
        "name": _name(body),
        "created_at": state.clock.now(),
        "metadata": metadata(body),
    }
    state.agent_vaults[vault["id"]] = Stored(vault)
    return web.json_response(vault)


async def list_vaults(request: web.Request) -> web.Response:
    kept = [
        vault.object
        for vault in request.app[STATE].agent_vaults.values()
        if metadata_matches(request, vault.object["metadata"])
    ]
    return web.json_response(cursor_list(request, kept))


async def update(request: web.Request) -> web.Response:
    """Each field named is replaced; null clears the name."""
    vault = KIND.find(request)[1].object
    body = await read_json(request)
    check_keys(body, ("name", "metadata"))
    if "name" in body:
        vault["name"] = _name(body)
    if "metadata" in body:
        vault["metadata"] = metadata(body)
    return web.json_response(vault)


def routes() -> list[web.RouteDef]:
    one = "/v1/vaults/{vault_id}"
    return [
        web.post("/v1/vaults", create),
        web.get("/v1/vaults", list_vaults),
        web.get(one, KIND.retrieve),
        web.post(one, update),
        web.delete(one, KIND.delete),
    ]
