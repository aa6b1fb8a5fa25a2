"""A Videos request body, multipart or JSON, as one flat set of form-style fields.

The SDK always sends multipart: a reference object becomes nested fields (``input_reference[file_id]``,
``video[id]``) and an upload becomes a file part under the bare name (``input_reference``,
``video``). A JSON body (``{"video": {"id": …}}``) is flattened to the same names, so one set of
checks serves both.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from .errors import invalid_type, missing_parameter, not_one_of, unexpected_properties
from .forms import Form, read_form, read_json
from .keys import STATE


@dataclass
class Inputs:
    fields: dict[str, str]
    upload: Path | None  # the spooled file part, removed by close()
    form: Form | None

    def text(self, name: str, default: str | None = None) -> str:
        value = self.fields.get(name, default)
        if value is None:
            raise missing_parameter(name)
        return value

    def choice(self, name: str, allowed: Collection[str], default: str | None = None) -> str:
        value = self.text(name, default)
        if value not in allowed:
            raise not_one_of(value, list(allowed), name)
        return value

    def close(self) -> None:
        if self.form is not None:
            self.form.discard()


def param(name: str) -> str:
    """A form name as OpenAI's error ``param`` names it: ``video[id]`` is ``video.id``."""
    return name.replace("[", ".").replace("]", "")


async def read_inputs(request: web.Request, upload: str, allowed: Collection[str]) -> Inputs:
    """The body's fields; ``upload`` may be a file part, every other name must be in ``allowed``."""
    if request.content_type != "multipart/form-data":
        return Inputs(_flat(await read_json(request), upload, allowed), None, None)
    state = request.app[STATE]
    form = await read_form(request, spool=state.files.tmp_path, keep=(upload,))
    inputs = Inputs(form.fields, None, form)
    try:
        unexpected = [n for n in form.names if n not in allowed and n != upload]
        if unexpected:
            raise unexpected_properties(unexpected)
        if upload in form.fields:
            raise invalid_type(upload, "a file or an object")
        part = form.files.get(upload)
        inputs.upload = None if part is None else part.path
    except BaseException:
        inputs.close()
        raise
    return inputs


def _flat(body: dict[str, object], upload: str, allowed: Collection[str]) -> dict[str, str]:
    """JSON cannot carry a file, so ``upload`` must be a reference object there."""
    named: dict[str, object] = {}
    for key, value in body.items():
        if key != upload:
            named[key] = value
        elif isinstance(value, dict):
            named.update({f"{key}[{inner}]": item for inner, item in value.items()})
        elif value is not None:
            raise invalid_type(upload, "an object")
    unexpected = [param(name) for name in named if name not in allowed]
    if unexpected:
        raise unexpected_properties(unexpected)
    fields: dict[str, str] = {}
    for name, item in named.items():
        if item is None:
            continue
        if not isinstance(item, str):
            raise invalid_type(param(name), "a string")
        fields[name] = item
    return fields
