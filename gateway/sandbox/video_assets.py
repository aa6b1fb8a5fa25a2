"""The bytes a sandbox video downloads as: a stand-in MP4 and its two preview images.

The MP4 is written once, when the video is made, under ``<root>/videos/<id>.mp4``: an ``ftyp``
box, a ``free`` box holding the prompt and an ``mdat`` box holding, byte for byte, what the video
was made from (a referenced File, an uploaded image or video, the source video's own MP4). So a
download reveals those bytes, as a real rendering would reveal the picture it started from.
The previews are fixed images with the video's id appended, small and deterministic.
"""

from __future__ import annotations

import asyncio
import base64
import shutil
import struct
from collections.abc import Sequence
from pathlib import Path

from aiohttp import hdrs, web

from .errors import not_one_of
from .state import SandboxState

CHUNK_SIZE = 1 << 20
VARIANTS = ("video", "thumbnail", "spritesheet")
# ISO BMFF brand header (ISO/IEC 14496-12 §4.3): major brand isom, then compatible brands.
FTYP = struct.pack(">I4s4sI", 28, b"ftyp", b"isom", 512) + b"isomiso2mp41"
# The smallest lossless WebP (1x1), as OpenAI's thumbnails are WebP.
WEBP = base64.b64decode("UklGRhoAAABXRUJQVlA4TA0AAAAvAAAAEAcQERGIiP4HAA==")
# JPEG start-of-image; a comment segment (COM, 0xFFFE) carries the id before end-of-image.
JPEG_SOI, JPEG_COM, JPEG_EOI = b"\xff\xd8", b"\xff\xfe", b"\xff\xd9"


def video_path(state: SandboxState, video_id: str) -> Path:
    return state.root / "videos" / f"{video_id}.mp4"


async def write_video(target: Path, prompt: str, sources: Sequence[Path]) -> None:
    await asyncio.to_thread(_write, target, prompt, sources)


async def remove_video(target: Path) -> None:
    await asyncio.to_thread(target.unlink, missing_ok=True)


def _write(target: Path, prompt: str, sources: Sequence[Path]) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    note = prompt.encode()
    size = sum(source.stat().st_size for source in sources)
    try:
        with target.open("wb") as out:
            out.write(FTYP)
            out.write(struct.pack(">I4s", 8 + len(note), b"free") + note)
            # size 1 announces a 64-bit size, so any upload fits the box.
            out.write(struct.pack(">I4sQ", 1, b"mdat", 16 + size))
            for source in sources:
                with source.open("rb") as handle:
                    shutil.copyfileobj(handle, out, CHUNK_SIZE)
    except BaseException:
        target.unlink(missing_ok=True)
        raise


def variant(raw: str | None) -> str:
    chosen = raw or "video"
    if chosen not in VARIANTS:
        raise not_one_of(chosen, VARIANTS, "variant")
    return chosen


def content_response(state: SandboxState, video_id: str, chosen: str) -> web.StreamResponse:
    """The MP4 is streamed from disk; a preview is made on the spot."""
    if chosen == "video":
        return web.FileResponse(video_path(state, video_id), headers={hdrs.CONTENT_TYPE: "video/mp4"})
    tag = video_id.encode()
    if chosen == "thumbnail":
        return web.Response(body=WEBP + tag, content_type="image/webp")
    body = JPEG_SOI + JPEG_COM + struct.pack(">H", 2 + len(tag)) + tag + JPEG_EOI
    return web.Response(body=body, content_type="image/jpeg")
