"""Streaming multipart rewriting for uploads: flags out, nothing buffered in memory.

The official SDK sends `purpose` before `file`, so the file streams straight through. A client
that sends the file first (curl -F order) has it spooled to disk until the purpose is known, so
that a refused upload never reaches the upstream (issue 2, point 2).
"""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from gateway.errors import GatewayError, file_too_large, invalid_request
from gateway.form_parts import FormParts, PartHead

CHUNK = 256 * 1024
MAX_FIELD_BYTES = 64 * 1024
# OpenAI's upload form has at most four fields; the cap keeps a form of many small ones from
# being held in memory field by field before its file.
MAX_FIELDS = 32
FILE_FIELD = "file"
ACCESS_FIELD = "access"
PURPOSE_FIELD = "purpose"
EXPIRES_PREFIX = "expires_after["


@dataclass
class UploadForm:
    """What the gateway learnt from the form; `fields` are forwarded in arrival order."""

    fields: list[tuple[str, str]] = field(default_factory=list)
    purpose: str | None = None
    access: str | None = None
    expires_seconds: int | None = None
    sent_expires_after: bool = False
    filename: str = "upload"
    file_content_type: str = "application/octet-stream"
    file_bytes: int = 0


class MultipartRewriter:
    def __init__(self, parts: FormParts, limit: int, spool_dir: Path | None) -> None:
        self._parts = parts
        self._limit = limit
        self._spool_dir = spool_dir
        self._streaming = False
        self._fields = 0
        self._spool: BinaryIO | None = None
        self.boundary = uuid.uuid4().hex
        self.form = UploadForm()
        self.error: GatewayError | None = None
        self.has_file = False

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    async def read_head(self) -> None:
        """Read up to the file part; spool it and read on if the purpose is not known yet."""
        while (part := await self._parts.next_part()) is not None:
            if part.name == FILE_FIELD:
                self.has_file = True
                self._remember_file(part)
                if self.form.purpose is not None:
                    self._streaming = True
                    return
                await self._spool_file()
                continue
            self._take_field(part.name, await self._read_field(part), self.form.fields)

    def _remember_file(self, part: PartHead) -> None:
        if self._streaming or self._spool is not None:
            raise invalid_request("Only one `file` part is allowed")
        self.form.filename = part.filename or "upload"
        self.form.file_content_type = part.content_type or "application/octet-stream"

    async def _read_field(self, part: PartHead) -> str:
        return await self._parts.text(part.name, MAX_FIELD_BYTES)

    def _take_field(self, name: str, value: str, forward: list[tuple[str, str]]) -> None:
        self._fields += 1
        if self._fields > MAX_FIELDS:
            raise invalid_request(f"An upload form may have at most {MAX_FIELDS} fields besides `file`")
        if name == ACCESS_FIELD:
            if self.form.access is not None:
                raise invalid_request("`access` was sent twice")
            self.form.access = value
            return
        if name == PURPOSE_FIELD:
            if self.form.purpose is not None:
                raise invalid_request("`purpose` was sent twice")
            self.form.purpose = value.strip()
        if name.startswith(EXPIRES_PREFIX):
            self.form.sent_expires_after = True
            if name == "expires_after[seconds]" and value.strip().isdigit():
                self.form.expires_seconds = int(value.strip())
        forward.append((name, value))

    def _count(self, size: int) -> None:
        self.form.file_bytes += size
        if self.form.file_bytes > self._limit:
            raise file_too_large(self._limit)

    async def _spool_file(self) -> None:
        handle = tempfile.TemporaryFile(dir=self._spool_dir)  # noqa: SIM115 - closed in close()
        self._spool = handle
        async for chunk in self._parts.chunks():
            self._count(len(chunk))
            await asyncio.to_thread(handle.write, chunk)
        await asyncio.to_thread(handle.seek, 0)

    def _field_bytes(self, name: str, value: str) -> bytes:
        return field_part(self.boundary, name, value)

    def _file_head(self) -> bytes:
        return file_part_head(self.boundary, FILE_FIELD, self.form.filename,
                              self.form.file_content_type)

    async def body(self, trailing: Callable[[], list[tuple[str, str]]]) -> AsyncIterator[bytes]:
        """The rewritten body; `trailing` is asked for synthesized fields once all are read."""
        try:
            async for chunk in self._body(trailing):
                yield chunk
        except GatewayError as exc:
            # The HTTP client wraps what a body raises; keep the refusal for the handler.
            self.error = exc
            raise

    async def _body(self, trailing: Callable[[], list[tuple[str, str]]]) -> AsyncIterator[bytes]:
        for name, value in self.form.fields:
            yield self._field_bytes(name, value)
        if self.has_file:
            yield self._file_head()
            async for chunk in self._file_chunks():
                yield chunk
            yield b"\r\n"
        while (part := await self._parts.next_part()) is not None:
            if part.name == FILE_FIELD:
                raise invalid_request("Only one `file` part is allowed")
            late: list[tuple[str, str]] = []
            self._take_field(part.name, await self._read_field(part), late)
            for name, value in late:
                yield self._field_bytes(name, value)
        for name, value in trailing():
            yield self._field_bytes(name, value)
        yield f"--{self.boundary}--\r\n".encode()

    async def _file_chunks(self) -> AsyncIterator[bytes]:
        if self._spool is not None:
            while chunk := await asyncio.to_thread(self._spool.read, CHUNK):
                yield chunk
            return
        async for chunk in self._parts.chunks():
            self._count(len(chunk))
            yield chunk

    def close(self) -> None:
        if self._spool is not None:
            self._spool.close()


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\r", " ").replace("\n", " ")


def field_part(boundary: str, name: str, value: str, content_type: str | None = None) -> bytes:
    """One text field of a form the gateway writes, with the type it came with (a Realtime
    call's `session` is `application/json`, its `sdp` `application/sdp`)."""
    typed = f"Content-Type: {_quote(content_type)}\r\n" if content_type else ""
    return (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"{_quote(name)}\"\r\n{typed}\r\n"
        f"{value}\r\n"
    ).encode()


def file_part_head(boundary: str, name: str, filename: str, content_type: str) -> bytes:
    """The head of a file part of a form the gateway writes; its bytes follow."""
    return (
        f"--{boundary}\r\n"
        f"Content-Disposition: form-data; name=\"{_quote(name)}\"; "
        f"filename=\"{_quote(filename)}\"\r\n"
        f"Content-Type: {_quote(content_type)}\r\n\r\n"
    ).encode()

