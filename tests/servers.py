"""Real servers for tests: aiohttp apps in their own thread and loop, and a real redis-server.

The official sync SDK blocks its caller, so servers it talks to cannot share the test's loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path

from aiohttp import web

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=0.2):
            return
        time.sleep(0.02)
    raise TimeoutError(f"nothing listens on {HOST}:{port}")


class ServerThread:
    """Runs one or more aiohttp apps on 127.0.0.1 in a private event loop thread."""

    def __init__(self, *factories: Callable[[], web.Application]) -> None:
        self._factories = factories
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runners: list[web.AppRunner] = []
        self.ports: list[int] = []
        self.apps: list[web.Application] = []

    def start(self) -> ServerThread:
        self._thread.start()
        future: Future[None] = asyncio.run_coroutine_threadsafe(self._start(), self._loop)
        future.result(timeout=30)
        return self

    async def _start(self) -> None:
        for factory in self._factories:
            app = factory()
            runner = web.AppRunner(app, shutdown_timeout=2.0, access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, HOST, 0)
            await site.start()
            server = site._server
            assert isinstance(server, asyncio.Server)
            self.ports.append(int(server.sockets[0].getsockname()[1]))
            self.apps.append(app)
            self._runners.append(runner)

    def call(self, coro_factory: Callable[[], object]) -> object:
        async def run() -> object:
            return await coro_factory()  # type: ignore[misc]

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout=30)

    def stop(self) -> None:
        if self._loop.is_closed():
            return

        async def stop_all() -> None:
            for runner in reversed(self._runners):
                await runner.cleanup()

        asyncio.run_coroutine_threadsafe(stop_all(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def url(self, index: int = 0) -> str:
        return f"http://{HOST}:{self.ports[index]}"


@contextlib.contextmanager
def running(*factories: Callable[[], web.Application]) -> Iterator[ServerThread]:
    server = ServerThread(*factories).start()
    try:
        yield server
    finally:
        server.stop()


def redis_binary() -> str:
    found = shutil.which("redis-server")
    if found is None:
        raise RuntimeError("redis-server is not installed; .ci/run installs it")
    return found


class RedisServer:
    """A real redis-server on a free port that tests may pause, kill and restart."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self._workdir = workdir
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    def start(self) -> RedisServer:
        self._proc = subprocess.Popen(
            [redis_binary(), "--port", str(self.port), "--bind", HOST, "--save", "",
             "--appendonly", "no", "--dir", str(self._workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port)
        return self

    def pause(self) -> None:
        assert self._proc is not None
        os.kill(self._proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self._proc is not None
        os.kill(self._proc.pid, signal.SIGCONT)

    def kill(self) -> None:
        if self._proc is None:
            return
        self._proc.kill()
        self._proc.wait(timeout=10)
        self._proc = None

    def stop(self) -> None:
        if self._proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._proc.pid, signal.SIGCONT)
        self.kill()
