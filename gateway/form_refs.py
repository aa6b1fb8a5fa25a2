"""Multipart forms that name files or other objects by id in their text fields (the Videos API:
`input_reference[file_id]`, `video[id]`) or in the JSON a field holds (a Realtime call's
`session`), re-sent upstream part by part, nothing buffered but text fields.

The official SDK sends every text field before the first file part, so all references are known
before the upstream is called. A reference that comes after a file part is refused, and the body
then stops short of its closing boundary, so the upstream never gets a whole request to act on.
"""

from __future__ import annotations

import dataclasses
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp.helpers import parse_mimetype

from gateway.errors import GatewayError, invalid_request
from gateway.file_refs import LIST_KEYS, SINGLE_KEYS, FileRef, find_inline, find_refs
from gateway.form_parts import FormParts, PartHead
from gateway.json_body import NotJson, document, encoding_family
from gateway.multipart import MAX_FIELD_BYTES, MAX_FIELDS, field_part, file_part_head

_KEY = re.compile(r"\[([^\]]*)\]")
_BLANKS = " \t\r\n\ufeff"


@dataclass(frozen=True)
class TextField:
    """A text field as read: its JSON, when it holds an object or array, parsed once."""

    name: str
    value: str
    content_type: str | None = None
    document: Any = None

    @classmethod
    def of(cls, name: str, value: str, content_type: str | None = None) -> TextField:
        charset = parse_mimetype(content_type).parameters.get("charset") if content_type else None
        if charset is not None and encoding_family(charset) != "utf-8":
            # Read here as UTF-8; an upstream that decodes by the part's charset reads other text.
            raise invalid_request(f"Form field {name!r} must be UTF-8, not {charset}")
        return cls(name, value, content_type, field_json(name, value))


def field_refs(
    text: TextField, api: str, holders: frozenset[str], check_purpose: bool = True
) -> list[FileRef]:
    """What a form field names: a file when its last key is a file key (`mask[file_id]`,
    `images[0][file_id]`, `file_ids[]`), or one of `holders` by `x[id]` (`video[id]`), or what
    the JSON it holds names, as a body would."""
    outer, bracket, rest = text.name.partition("[")
    # Dotted names are nested keys to qs (`allowDots`) and the like; PHP reads `.` and ` ` in
    # the outer name as `_` (`file.id` is `file_id`): a file key either way is one.
    php = outer.replace(".", "_").replace(" ", "_")
    if php in SINGLE_KEYS or php in LIST_KEYS:
        outer = php
    keys = [*outer.split("."), *_KEY.findall(bracket + rest)]
    path = (keys[0] + "".join(f"[{key}]" if key.isdigit() else f".{key}" for key in keys[1:]
                            if key)).lstrip(".")
    named = [key for key in keys if key and not key.isdigit()]
    last = named[-1] if named else ""
    if last in SINGLE_KEYS or last in LIST_KEYS:
        return [FileRef(path, text.value, api, check_purpose)]
    if keys[-1] == "id" and len(keys) == 2 and keys[0] in holders:
        return [FileRef(path, text.value, api, check_purpose=False)]
    if text.document is None:
        return []
    return [
        dataclasses.replace(ref, path=_within(path, ref.path))
        for ref in find_refs(text.document, api, check_purpose=check_purpose)
    ]


def field_json(name: str, value: str) -> Any:
    """The JSON object or array a field holds (a Realtime call's `session`), read as the
    lenient parsers upstream read it; None for any other value, which names nothing (a prompt
    that starts with `[draft]`). Duplicate keys and hostile nesting are refused, as in a body."""
    # A BOM first, which a parser given the part's bytes skips, hides nothing either.
    value = value.lstrip(_BLANKS)
    if value[:1] not in ("{", "["):
        return None
    try:
        return document(value, f"form field {name!r}")
    except NotJson:
        return None


def inline_in_fields(fields: list[TextField]) -> list[str]:
    """Paths of the inline file inputs in the JSON the fields hold, for `inline_files: deny`."""
    return [_within(text.name, path) for text in fields if text.document is not None
            for path in find_inline(text.document)]


def _within(field_path: str, path: str) -> str:
    return field_path + ("" if path.startswith("[") else ".") + path


@dataclass
class ReferenceForm:
    parts: FormParts
    api: str
    holders: frozenset[str]
    check_purpose: bool = True
    fields: list[TextField] = field(default_factory=list)
    refs: list[FileRef] = field(default_factory=list)
    boundary: str = field(default_factory=lambda: uuid.uuid4().hex)
    error: GatewayError | None = None
    _pending: PartHead | None = None

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    async def read_head(self) -> None:
        """Text fields up to the first file part, and the references they make."""
        while (part := await self.parts.next_part()) is not None:
            if part.filename is not None:
                self._pending = part
                return
            text = TextField.of(part.name, await self._read_field(part), part.content_type)
            self.refs += field_refs(text, self.api, self.holders, self.check_purpose)
            self.fields.append(text)

    async def body(self) -> AsyncIterator[bytes]:
        try:
            for text in self.fields:
                yield field_part(self.boundary, text.name, text.value, text.content_type)
            part = self._pending
            while part is not None:
                if part.filename is not None:
                    yield file_part_head(self.boundary, part.name, part.filename or "upload",
                                         part.content_type or "application/octet-stream")
                    async for chunk in self.parts.chunks():
                        yield chunk
                    yield b"\r\n"
                else:
                    text = TextField.of(part.name, await self._read_field(part), part.content_type)
                    if field_refs(text, self.api, self.holders, self.check_purpose):
                        raise invalid_request(
                            f"Form field {part.name!r} names an object after a file part; send "
                            "such fields first", param=part.name,
                        )
                    yield field_part(self.boundary, text.name, text.value, text.content_type)
                part = await self.parts.next_part()
            yield f"--{self.boundary}--\r\n".encode()
        except GatewayError as exc:
            # The HTTP client wraps what a body raises; keep the refusal for the handler.
            self.error = exc
            raise

    async def _read_field(self, part: PartHead) -> str:
        if len(self.fields) >= MAX_FIELDS:
            raise invalid_request(f"A form may have at most {MAX_FIELDS} text fields")
        return await self.parts.text(part.name, MAX_FIELD_BYTES)
