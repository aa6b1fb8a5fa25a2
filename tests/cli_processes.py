"""Running `files-gateway` commands as real processes, as a user would."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

from tests.servers import free_port, wait_for_port


class Processes:
    def __init__(self) -> None:
        self.started: list[subprocess.Popen[bytes]] = []

    def spawn(
        self, *args: str, cwd: Path, env: dict[str, str] | None = None, stderr: Path | None = None
    ) -> subprocess.Popen[bytes]:
        """`stderr` keeps the process log in that file; by default it is dropped."""
        with open(stderr or "/dev/null", "wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "gateway", *args], cwd=cwd, env=env,
                stdout=subprocess.DEVNULL, stderr=log,
            )
        self.started.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in self.started:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.started:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


class Served(NamedTuple):
    url: str
    admin_url: str


def start_serve(
    processes: Processes, cwd: Path, config: Path, upstream: str, store: str | None = None
) -> Served:
    port, admin = free_port(), free_port()
    args = ["serve", "--config", str(config), "--upstream", upstream,
            "--listen", f"127.0.0.1:{port}", "--admin-listen", f"127.0.0.1:{admin}"]
    if store is not None:
        args += ["--store", store]
    processes.spawn(*args, cwd=cwd)
    wait_for_port(port)
    return Served(f"http://127.0.0.1:{port}", f"http://127.0.0.1:{admin}")
