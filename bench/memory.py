"""The gateway's peak memory while it moves a big file each way (issue 2).

Starts the project's sandbox (`files-gateway sandbox`) as the upstream and the gateway (SQLite
store) in front of it, on 127.0.0.1. Uploads a 500 MiB file through the gateway with a streaming
multipart body, then downloads it with chunked reads, so the client never holds the file either.
The gateway's RSS is sampled from /proc every few milliseconds, and its kernel high-water mark
(VmHWM, reset through clear_refs before each direction) backs the sampler up.

    python bench/memory.py [--mib 500]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import random
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import fixtures
import stack

BLOCK = 1 << 20


class Sampler:
    """Keeps the highest VmRSS of one pid seen since the last `reset()`."""

    def __init__(self, pid: int, interval: float = 0.002) -> None:
        self.pid = pid
        self.interval = interval
        self.peak = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, stack.rss_kib(self.pid))
            self.samples += 1
            time.sleep(self.interval)

    def reset(self) -> int:
        baseline = stack.rss_kib(self.pid)
        stack.reset_peak(self.pid)
        self.peak = baseline
        self.samples = 0
        return baseline

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


@dataclass
class Phase:
    direction: str
    nbytes: int
    seconds: float
    baseline_kib: int
    peak_kib: int
    samples: int

    @property
    def growth_kib(self) -> int:
        return self.peak_kib - self.baseline_kib


def blocks(total: int, digest: hashlib._Hash) -> AsyncIterator[bytes]:  # type: ignore[name-defined]
    block = random.Random(2).randbytes(BLOCK)

    async def generate() -> AsyncIterator[bytes]:
        sent = 0
        while sent < total:
            chunk = block[: min(BLOCK, total - sent)]
            digest.update(chunk)
            sent += len(chunk)
            yield chunk

    return generate()


async def upload(session: aiohttp.ClientSession, base: str, total: int) -> tuple[str, str]:
    """Purpose first, then the file from a generator: nothing is held by the client."""
    digest = hashlib.sha256()
    form = aiohttp.FormData()
    form.add_field("purpose", "batch")
    form.add_field("file", blocks(total, digest), filename="big.jsonl", content_type="application/jsonl")
    async with session.post(base + "/v1/files", data=form) as response:
        body = await response.json()
        if response.status != 200:
            raise RuntimeError(f"upload failed: {response.status} {body}")
    return str(body["id"]), digest.hexdigest()


async def download(session: aiohttp.ClientSession, base: str, file_id: str) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    async with session.get(f"{base}/v1/files/{file_id}/content") as response:
        if response.status != 200:
            raise RuntimeError(f"download failed: {response.status} {await response.text()}")
        async for chunk in response.content.iter_chunked(BLOCK):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


async def measure(base: str, sampler: Sampler, total: int) -> list[Phase]:
    headers = {"Authorization": f"Bearer {fixtures.TOKEN}"}
    timeout = aiohttp.ClientTimeout(total=None, sock_read=600)
    async with aiohttp.ClientSession(headers=headers, timeout=timeout) as session:
        # Warm-up: first requests import and allocate what every later request reuses.
        small_id, _ = await upload(session, base, BLOCK)
        await download(session, base, small_id)
        phases = []
        baseline = sampler.reset()
        started = time.perf_counter()
        file_id, sent_digest = await upload(session, base, total)
        phases.append(Phase("upload", total, time.perf_counter() - started, baseline,
                            max(sampler.peak, stack.peak_kib(sampler.pid)), sampler.samples))
        baseline = sampler.reset()
        started = time.perf_counter()
        size, got_digest = await download(session, base, file_id)
        phases.append(Phase("download", size, time.perf_counter() - started, baseline,
                            max(sampler.peak, stack.peak_kib(sampler.pid)), sampler.samples))
        if size != total or got_digest != sent_digest:
            raise RuntimeError(f"downloaded {size} bytes, sha256 {got_digest}; sent {total}, {sent_digest}")
    return phases


def report(phases: list[Phase], total: int) -> str:
    lines = [
        f"Gateway (SQLite store) in front of `files-gateway sandbox`, one {total >> 20} MiB file each way, "
        "streaming client; RSS of the gateway process from /proc (VmRSS sampled every 2 ms, and VmHWM).",
        "",
        "| direction | throughput | baseline RSS | peak RSS | growth |",
        "|---|---:|---:|---:|---:|",
    ]
    for p in phases:
        lines.append(
            f"| {p.direction} | {p.nbytes / p.seconds / (1 << 20):,.0f} MiB/s | {p.baseline_kib / 1024:.1f} MiB "
            f"| {p.peak_kib / 1024:.1f} MiB | {p.growth_kib / 1024:+.1f} MiB |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description="gateway peak memory for a big upload and download")
    parser.add_argument("--mib", type=int, default=500)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    total = args.mib << 20
    run = Path(tempfile.mkdtemp(prefix="fgw-memory-"))
    shm = Path("/dev/shm")
    data = Path(tempfile.mkdtemp(prefix="fgw-memory-", dir=shm)) if shm.is_dir() else run / "sandbox"
    try:
        with stack.processes(run) as procs:
            sandbox_port, port, admin = stack.free_port(), stack.free_port(), stack.free_port()
            sandbox = procs.start("sandbox", [
                stack.python(), "-m", "gateway", "sandbox", "--listen", f"{stack.HOST}:{sandbox_port}",
                "--data-dir", str(data),
            ])
            config = run / "gateway.yaml"
            config.write_text(fixtures.gateway_config(max_upload=max(512 << 20, total + BLOCK)))
            upstream = f"http://{stack.HOST}:{sandbox_port}"
            gateway = procs.start("gateway", stack.gateway_argv(
                config=config, upstream=upstream, port=port, admin_port=admin,
                store=f"sqlite:///{run / 'store.db'}",
            ), stdout_to_null=True)
            stack.wait_http(upstream + "/v1/files", proc=sandbox)
            stack.wait_http(f"http://{stack.HOST}:{admin}/healthz", timeout=30, proc=gateway)
            with Sampler(gateway.pid) as sampler:
                phases = asyncio.run(measure(f"http://{stack.HOST}:{port}", sampler, total))
    finally:
        shutil.rmtree(run, ignore_errors=True)
        shutil.rmtree(data, ignore_errors=True)
    print(report(phases, total))
    if args.json:
        args.json.write_text(json.dumps([p.__dict__ | {"growth_kib": p.growth_kib} for p in phases], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
