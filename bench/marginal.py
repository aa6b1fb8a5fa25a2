"""What each part of the gateway's per-request work costs (issue 6).

    python bench/marginal.py [--seconds 8] [--rounds 2]

The same upstream as bench/run.py (nginx), the gateway with Redis and the bare aiohttp proxy,
all on 127.0.0.1. Under allowed small downloads at c=32 (wrk), it measures requests a second
and the process's CPU time per request, once with everything on and once with each part
switched off through bench/parts_off.py; the difference is what that part costs. Each variant
is started alone, so no idle gateway shares the machine with the measured one, and the rounds
alternate the variants so drift on a shared machine spreads over all of them. Last, it times
the upstream client alone (bench/client_cost.py): aiohttp's against a bare asyncio protocol.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

import client_cost
import fixtures
import load
import stack

HOST = stack.HOST
VARIANTS: tuple[tuple[str, str], ...] = (
    ("everything on", ""),
    ("audit event off", "audit"),
    ("request log off", "request_log"),
    ("metrics off", "metrics"),
    ("all three off", "audit,request_log,metrics"),
)


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    for tool in ("nginx", "wrk", "redis-server"):
        if shutil.which(tool) is None:
            print(f"marginal: {tool} is missing (apt-get install -y nginx wrk redis-server)", file=sys.stderr)
            return 2
    run = Path(tempfile.mkdtemp(prefix="fgw-marginal-"))
    run.chmod(0o755)
    ids = fixtures.make_ids(total=20_000, listed=10_000)
    rows: dict[str, list[tuple[float, float]]] = {name: [] for name, _ in (("bare aiohttp proxy", ""), *VARIANTS)}
    try:
        with stack.processes(run) as procs:
            ports = {name: stack.free_port() for name in ("direct", "sink", "nginx", "aiohttp", "redis")}
            www = run / "www"
            fixtures.write_www(www, ids, 1 << 20)
            for sub in ("nginx-body", "nginx-proxy", "nginx-fastcgi", "nginx-uwsgi", "nginx-scgi"):
                (run / sub).mkdir(exist_ok=True)
            conf = run / "nginx.conf"
            conf.write_text(fixtures.nginx_conf(
                run=run, fast=run, www=www, big=ids.big, upstream_port=ports["direct"],
                sink_port=ports["sink"], proxy_port=ports["nginx"], workers=os.cpu_count() or 1,
            ))
            nginx = procs.start("nginx", ["nginx", "-e", str(run / "nginx-error.log"), "-p", str(run), "-c", str(conf)])
            redis_proc = procs.start("redis", [
                "redis-server", "--bind", HOST, "--port", str(ports["redis"]), "--save", "",
                "--appendonly", "no", "--dir", str(run),
            ])
            upstream = f"http://{HOST}:{ports['direct']}"
            stack.wait_http(f"{upstream}/v1/files/x/content", proc=nginx)
            stack.wait_redis(ports["redis"], redis_proc)
            fixtures.populate_redis(ports["redis"], fixtures.records_json(ids))
            config = run / "gateway.yaml"
            config.write_text(fixtures.gateway_config(max_upload=64 << 20))
            script = load.write_script(run / "small.lua", ids.allowed, fixtures.TOKEN, "/v1/files/", "/content")
            bare = procs.start("aiohttp", [stack.python(), str(stack.REPO / "bench" / "bare_proxy.py"),
                                           "--listen", f"{HOST}:{ports['aiohttp']}", "--upstream", upstream])
            bare_url = f"http://{HOST}:{ports['aiohttp']}"
            stack.wait_http(bare_url + "/", proc=bare)
            for round_ in range(args.rounds):
                rows["bare aiohttp proxy"].append(measure(bare_url, bare.pid, script, args.seconds))
                order = VARIANTS if round_ % 2 == 0 else VARIANTS[::-1]
                for name, parts in order:
                    port, admin = stack.free_port(), stack.free_port()
                    argv = stack.gateway_argv(config=config, upstream=upstream, port=port, admin_port=admin,
                                              store=f"redis://{HOST}:{ports['redis']}/0")
                    argv[1:3] = [str(stack.REPO / "bench" / "parts_off.py")]
                    gateway = procs.start(f"gw-{round_}-{name}", argv, env={"FGW_PARTS_OFF": parts},
                                          stdout_to_null=True)
                    stack.wait_http(f"http://{HOST}:{admin}/healthz", timeout=30, proc=gateway)
                    rows[name].append(measure(f"http://{HOST}:{port}", gateway.pid, script, args.seconds))
                    procs.stop(gateway)
                    print(f"[marginal] round {round_ + 1} {name}: {rows[name][-1][0]:.0f} rps, "
                          f"{rows[name][-1][1]:.1f} µs CPU/request", file=sys.stderr, flush=True)
            clients = client_cost.measure(f"{upstream}/v1/files/{ids.allowed[0]}/content", fixtures.TOKEN)
    finally:
        shutil.rmtree(run, ignore_errors=True)
    base_cpu = statistics.median(cpu for _, cpu in rows["everything on"])
    bare_cpu = statistics.median(cpu for _, cpu in rows["bare aiohttp proxy"])
    print(f"Allowed small downloads (1 KiB), c=32, {args.seconds}s per run, median of {args.rounds} rounds\n")
    print("| variant | rps | CPU µs / request | cost of what is off |")
    print("|---|---:|---:|---:|")
    for name, samples in rows.items():
        rps = statistics.median(r for r, _ in samples)
        cpu = statistics.median(c for _, c in samples)
        if name == "bare aiohttp proxy":
            cost = f"gateway's own work: {base_cpu - bare_cpu:.0f} µs"
        elif name == "everything on":
            cost = "—"
        else:
            cost = f"{base_cpu - cpu:.0f} µs ({(base_cpu - cpu) / base_cpu:.0%})"
        print(f"| {name} | {rps:,.0f} | {cpu:.0f} | {cost} |")
    print(f"\nFor 0.90× the bare proxy, the gateway may spend {bare_cpu / 0.9 - bare_cpu:.0f} µs a request "
          "beyond it.")
    print("\nOne upstream request at a time, in this process (bench/client_cost.py), median of 3:\n")
    print("| upstream client | CPU µs / request |")
    print("|---|---:|")
    for name, cpu in clients.items():
        print(f"| {name} | {cpu:.0f} |")
    print(f"\naiohttp's client beyond the least an asyncio client does: "
          f"{clients['aiohttp'] - clients['bare protocol']:.0f} µs a request.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
