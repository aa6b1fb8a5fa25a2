"""The setting of bench/marginal.py and bench/ab.py: allowed 1 KiB downloads at c=32 through a
gateway process, against the bench's nginx upstream, a Redis and a SQLite store holding the
same records, and the bare aiohttp proxy beside them; each gateway's cost is read as its CPU
time per request from /proc.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import fixtures
import load
import stack

HOST = stack.HOST


@dataclass(frozen=True)
class Setting:
    upstream: str
    stores: dict[str, str]  # "redis" / "sqlite" -> the gateway's --store
    config: Path
    script: Path
    bare_url: str
    bare_pid: int
    allowed_url: str        # one allowed file's content, at the upstream itself
    allowed: list[str]      # the files the load downloads
    nginx_url: str          # nginx proxy_pass in front of the same upstream
    big_file: Path          # the upstream's big file, also a body to upload
    big_id: str             # the id it is downloaded by

    def gateway_argv(self, port: int, admin: int, store: str) -> list[str]:
        """`files-gateway serve` in this setting, with the `store` of `stores` named."""
        return stack.gateway_argv(config=self.config, upstream=self.upstream, port=port, admin_port=admin,
                                  store=self.stores[store])


def arguments(doc: str, rounds: int) -> argparse.ArgumentParser:
    """The options every script in this setting takes: seconds of wrk a run, and rounds."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=rounds)
    return parser


def run_directory(script: str, *more_tools: str) -> Path | None:
    """A run directory for `script` in this setting, or None after saying which tool is missing."""
    tools = ("nginx", "wrk", "redis-server", *more_tools)
    return stack.run_directory(script, tools, f" (apt-get install -y {' '.join(tools)})")


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(url: str, pid: int, script: Path, seconds: int) -> tuple[float, float]:
    """(requests a second, CPU microseconds per request) of one wrk run, warm-up included."""
    before = cpu_seconds(pid)
    result = load.wrk(url, script, connections=32, seconds=seconds, warmup=0)
    used = cpu_seconds(pid) - before
    return result.rps, used / result.requests * 1e6


def timed(procs: stack.Processes, name: str, argv: Sequence[str], *, port: int, admin: int, script: Path,
          seconds: int, warmup: int = 0, cwd: Path = stack.REPO, env: dict[str, str] | None = None,
          ) -> tuple[float, float]:
    """One gateway process started alone, loaded (after `warmup` seconds of unmeasured load),
    measured and stopped: (requests a second, CPU microseconds per request)."""
    gateway = procs.start(name, argv, stdout_to_null=True, cwd=cwd, env=env)
    try:
        stack.wait_http(f"http://{HOST}:{admin}/healthz", timeout=30, proc=gateway)
        url = f"http://{HOST}:{port}"
        if warmup:
            measure(url, gateway.pid, script, warmup)
        return measure(url, gateway.pid, script, seconds)
    finally:
        procs.stop(gateway)


@contextlib.contextmanager
def setting(run: Path, procs: stack.Processes, big_bytes: int = 1 << 20) -> Iterator[Setting]:
    """nginx, Redis and the bare proxy started under `procs`; 20,000 records in each store."""
    ids = fixtures.make_ids(total=20_000, listed=10_000)
    ports = {name: stack.free_port() for name in ("direct", "sink", "nginx", "aiohttp", "redis")}
    www = run / "www"
    fixtures.write_www(www, ids, big_bytes)
    for sub in ("nginx-body", "nginx-proxy", "nginx-fastcgi", "nginx-uwsgi", "nginx-scgi"):
        (run / sub).mkdir(exist_ok=True)
    conf = run / "nginx.conf"
    conf.write_text(fixtures.nginx_conf(
        run=run, fast=run, www=www, big=ids.big, upstream_port=ports["direct"],
        sink_port=ports["sink"], proxy_port=ports["nginx"], workers=os.cpu_count() or 1,
    ))
    nginx = procs.start("nginx", ["nginx", "-e", str(run / "nginx-error.log"), "-p", str(run),
                                  "-c", str(conf)])
    redis_proc = procs.start("redis", [
        "redis-server", "--bind", HOST, "--port", str(ports["redis"]), "--save", "",
        "--appendonly", "no", "--dir", str(run),
    ])
    upstream = f"http://{HOST}:{ports['direct']}"
    stack.wait_http(f"{upstream}/v1/files/x/content", proc=nginx)
    stack.wait_redis(ports["redis"], redis_proc)
    rows = fixtures.records_json(ids)
    fixtures.populate_redis(ports["redis"], rows)
    fixtures.populate_sqlite(run / "store.db", rows)
    config = run / "gateway.yaml"
    config.write_text(fixtures.gateway_config(max_upload=big_bytes + (64 << 20)))
    script = load.write_script(run / "small.lua", ids.allowed, fixtures.TOKEN, "/v1/files/", "/content")
    bare = procs.start("aiohttp", stack.bare_proxy_argv(upstream=upstream, port=ports["aiohttp"]))
    bare_url = f"http://{HOST}:{ports['aiohttp']}"
    stack.wait_http(bare_url + "/", proc=bare)
    yield Setting(
        upstream=upstream,
        stores={"redis": f"redis://{HOST}:{ports['redis']}/0", "sqlite": f"sqlite:///{run / 'store.db'}"},
        config=config, script=script, bare_url=bare_url, bare_pid=bare.pid,
        allowed_url=f"{upstream}/v1/files/{ids.allowed[0]}/content",
        allowed=ids.allowed, nginx_url=f"http://{HOST}:{ports['nginx']}", big_file=www / "big.bin",
        big_id=ids.big,
    )


def _download(connection: http.client.HTTPConnection, file_ids: Sequence[str], count: int) -> None:
    headers = {**load.sdk_headers("/content"), "Authorization": f"Bearer {fixtures.TOKEN}"}
    for n in range(count):
        connection.request("GET", f"/v1/files/{file_ids[n % len(file_ids)]}/content", headers=headers)
        reply = connection.getresponse()
        reply.read()
        if reply.status != 200:
            raise RuntimeError(f"download answered {reply.status}")


def bare_instructions(procs: stack.Processes, setting: Setting, count: int, client: str = "aiohttp") -> float:
    """The bare proxy's instructions a request, with aiohttp's client or the gateway's."""
    port = stack.free_port()
    argv = stack.bare_proxy_argv(upstream=setting.upstream, port=port, client=client)
    return instructions(procs, f"cg-bare-{client}", argv, cwd=stack.REPO, port=port,
                        ready_url=f"http://{HOST}:{port}/", file_ids=setting.allowed, count=count)


def control(pid: int, command: str) -> None:
    subprocess.run(["callgrind_control", command, str(pid)], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def instructions(procs: stack.Processes, name: str, argv: Sequence[str], *, cwd: Path, port: int,
                 ready_url: str, file_ids: Sequence[str], count: int,
                 env: dict[str, str] | None = None) -> float:
    """Instructions a request, counted by valgrind's callgrind: the proxy started under it,
    every file downloaded once (so the record cache holds them, as under wrk), the counters
    zeroed, `count` downloads one at a time, the counters dumped. The same code counts the same
    within a few tenths of a percent, whatever else the machine is doing."""
    out = procs.log_dir / f"{name}.callgrind"
    gateway = procs.start(name, ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *argv],
                          stdout_to_null=True, cwd=cwd, env=env)
    stack.wait_http(ready_url, timeout=600, proc=gateway)
    connection = http.client.HTTPConnection(HOST, port, timeout=120)
    _download(connection, file_ids, len(file_ids))
    control(gateway.pid, "--zero")
    _download(connection, file_ids, count)
    control(gateway.pid, "--dump")
    connection.close()
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline:
            for dump in out.parent.glob(out.name + ".*"):
                for line in dump.read_text().splitlines():
                    if line.startswith("summary:"):
                        return int(line.split()[1]) / count
            time.sleep(0.2)
    finally:
        procs.stop(gateway)
    raise RuntimeError(f"callgrind wrote no dump of {name} within 30 s")
