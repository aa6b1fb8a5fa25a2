"""Process helpers shared by the bench scripts: free ports, child processes, RSS from /proc.

Everything binds to 127.0.0.1. Children are started in their own process group and stopped by
their own pid only.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path

HOST = "127.0.0.1"
REPO = Path(__file__).resolve().parent.parent


def run_directory(script: str, tools: Sequence[str], hint: str = "") -> Path | None:
    """A fresh run directory that nginx's workers may read, or None after saying which of
    `tools` is missing."""
    for tool in tools:
        if shutil.which(tool) is None:
            print(f"{script}: {tool} is missing{hint}", file=sys.stderr)
            return None
    run = Path(tempfile.mkdtemp(prefix=f"fgw-{script}-"))
    run.chmod(0o755)
    return run


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, timeout: float = 20.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    """Poll until `url` answers at all (any status); fail early if `proc` died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode} before listening")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f}s")


class Processes:
    """Children of one bench run; `close()` stops each by its own pid (TERM, then KILL)."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self._children: list[subprocess.Popen[bytes]] = []

    def start(
        self, name: str, argv: Sequence[str], *, env: dict[str, str] | None = None,
        stdout_to_null: bool = False, cwd: Path = REPO,
    ) -> subprocess.Popen[bytes]:
        """`cwd` is also where `python -m gateway` imports the gateway from (bench/ab.py)."""
        stderr = open(self.log_dir / f"{name}.log", "wb")  # noqa: SIM115 - owned by the child
        stdout = subprocess.DEVNULL if stdout_to_null else stderr
        proc = subprocess.Popen(
            list(argv), stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL, cwd=cwd,
            env={**os.environ, **(env or {})}, start_new_session=True,
        )
        stderr.close()
        self._children.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[bytes]) -> None:
        """Stop one child now (TERM, then KILL after 10 s)."""
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        self._children.remove(proc)

    def close(self) -> None:
        for proc in reversed(self._children):
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        for proc in reversed(self._children):
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                proc.wait()
        self._children.clear()


@contextlib.contextmanager
def processes(log_dir: Path) -> Iterator[Processes]:
    procs = Processes(log_dir)
    try:
        yield procs
    finally:
        procs.close()


def wait_redis(port: int, proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("redis-server exited")
        ping = subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True, text=True)
        if ping.stdout.strip() == "PONG":
            return
        time.sleep(0.1)
    raise RuntimeError("redis-server did not start")


def _status_kib(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} for pid {pid}")


def rss_kib(pid: int) -> int:
    return _status_kib(pid, "VmRSS")


def peak_kib(pid: int) -> int:
    return _status_kib(pid, "VmHWM")


def reset_peak(pid: int) -> bool:
    """Reset VmHWM to the current RSS (Linux clear_refs 5); False when not permitted."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as refs:
            refs.write("5")
    except OSError:
        return False
    return True


def python() -> str:
    return sys.executable


def bare_proxy_argv(*, upstream: str, port: int, client: str = "aiohttp") -> list[str]:
    """bench/bare_proxy.py on `port`, with aiohttp's client or (`gateway`) the gateway's own."""
    return [python(), str(REPO / "bench" / "bare_proxy.py"), "--listen", f"{HOST}:{port}",
            "--upstream", upstream, "--client", client]


def raw_server_argv(*, upstream: str | None, port: int, workers: int = 1, uvloop: bool = False) -> list[str]:
    """bench/raw_server.py on `port`: no web framework, the gateway's client to `upstream`, or
    answering 1 KiB itself when `upstream` is None."""
    return [python(), str(REPO / "bench" / "raw_server.py"), "--listen", f"{HOST}:{port}",
            *(["--upstream", upstream] if upstream else ["--echo"]), "--workers", str(workers),
            *(["--event-loop", "uvloop"] if uvloop else [])]


def gateway_argv(
    *, config: Path, upstream: str, port: int, admin_port: int, store: str, workers: int = 1,
    uvloop: bool = False,
) -> list[str]:
    """`files-gateway serve ...`, on uvloop's event loop with `uvloop`."""
    return [
        python(), "-m", "gateway", "serve", *(["--event-loop", "uvloop"] if uvloop else []),
        "--config", str(config), "--upstream", upstream, "--listen", f"{HOST}:{port}",
        "--admin-listen", f"{HOST}:{admin_port}", "--store", store, "--workers", str(workers),
    ]
