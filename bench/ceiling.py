"""How far CPython gets against nginx on small downloads, with and without a web framework
(issue 6, the ≥ 0.30× nginx target).

    python bench/ceiling.py [--seconds 8] [--rounds 3]

The setting of bench/marginal.py (nginx upstream, Redis, the records). Under allowed 1 KiB
downloads at c=32 it measures, in alternating rounds, nginx `proxy_pass` and:
- the gateway as shipped, with one worker, two, and two on uvloop;
- the floor of bench/run.py: aiohttp's server on the gateway's client, no enforcement;
- bench/raw_server.py: no web framework at all, the gateway's client, no enforcement, with
  one worker, two, and two on uvloop;
- bench/raw_server.py --echo: no framework and no upstream call, two workers on uvloop, the
  most any CPython server of this shape answers here.
Each figure is a ratio to nginx within its round; the median over rounds is printed.
"""

from __future__ import annotations

import shutil
import statistics
import sys
from collections.abc import Callable

import load
import small_downloads
import stack

HOST = stack.HOST
Argv = Callable[[small_downloads.Setting, int, int], list[str]]


def _raw(*, echo: bool = False, workers: int = 1, uvloop: bool = False) -> Argv:
    def argv(setting: small_downloads.Setting, port: int, _admin: int) -> list[str]:
        return stack.raw_server_argv(upstream=None if echo else setting.upstream, port=port, workers=workers,
                                     uvloop=uvloop)
    return argv


def _gateway(workers: int, uvloop: bool = False) -> Argv:
    def argv(setting: small_downloads.Setting, port: int, admin: int) -> list[str]:
        return stack.gateway_argv(config=setting.config, upstream=setting.upstream, port=port,
                                  admin_port=admin, store=setting.stores["redis"], workers=workers,
                                  uvloop=uvloop)
    return argv


def _floor(setting: small_downloads.Setting, port: int, _admin: int) -> list[str]:
    return stack.bare_proxy_argv(upstream=setting.upstream, port=port, client="gateway")


SYSTEMS: dict[str, tuple[Argv, bool]] = {  # name -> (argv, has an admin /healthz)
    "gateway, 1 worker": (_gateway(1), True),
    "gateway, 2 workers": (_gateway(2), True),
    "gateway, 2 workers, uvloop": (_gateway(2, uvloop=True), True),
    "aiohttp server, gateway's client, no enforcement": (_floor, False),
    "no framework, gateway's client, 1 worker": (_raw(), False),
    "no framework, gateway's client, 2 workers": (_raw(workers=2), False),
    "no framework, gateway's client, 2 workers, uvloop": (_raw(workers=2, uvloop=True), False),
    "no framework, no upstream call, 2 workers, uvloop": (_raw(echo=True, workers=2, uvloop=True), False),
}


def measure(procs: stack.Processes, setting: small_downloads.Setting, name: str, seconds: int) -> float:
    argv, has_admin = SYSTEMS[name]
    port, admin = stack.free_port(), stack.free_port()
    proc = procs.start(name.replace(" ", "_").replace(",", "").replace("'", ""),
                       argv(setting, port, admin), stdout_to_null=True)
    try:
        ready = f"http://{HOST}:{admin}/healthz" if has_admin else f"http://{HOST}:{port}/"
        stack.wait_http(ready, timeout=30, proc=proc)
        result = load.wrk(f"http://{HOST}:{port}", setting.script, connections=32, seconds=seconds)
        if result.status_errors or result.socket_errors:
            raise RuntimeError(
                f"{name}: {result.status_errors} non-2xx, {result.socket_errors} socket errors")
        return result.rps
    finally:
        procs.stop(proc)


def main() -> int:
    parser = small_downloads.arguments(__doc__, rounds=3)
    args = parser.parse_args()
    run = small_downloads.run_directory("ceiling")
    if run is None:
        return 2
    rates: dict[str, list[float]] = {name: [] for name in ("nginx proxy_pass", *SYSTEMS)}
    ratios: dict[str, list[float]] = {name: [] for name in SYSTEMS}
    try:
        with stack.processes(run) as procs, small_downloads.setting(run, procs) as setting:
            for round_ in range(args.rounds):
                nginx = load.wrk(setting.nginx_url, setting.script, connections=32, seconds=args.seconds).rps
                rates["nginx proxy_pass"].append(nginx)
                order = list(SYSTEMS) if round_ % 2 == 0 else list(SYSTEMS)[::-1]
                for name in order:
                    rps = measure(procs, setting, name, args.seconds)
                    rates[name].append(rps)
                    ratios[name].append(rps / nginx)
                    print(f"[ceiling] round {round_ + 1} {name}: {rps:,.0f} rps, {rps / nginx:.3f}× nginx "
                          f"({nginx:,.0f})", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(run, ignore_errors=True)
    print(f"Allowed small downloads (1 KiB), c=32, {args.seconds}s per run, median of {args.rounds} "
          "rounds, each ratio taken within its round\n")
    print("| system | rps | × nginx proxy_pass |")
    print("|---|---:|---:|")
    print(f"| nginx proxy_pass | {statistics.median(rates['nginx proxy_pass']):,.0f} | 1.00× |")
    for name in SYSTEMS:
        print(f"| {name} | {statistics.median(rates[name]):,.0f} | {statistics.median(ratios[name]):.2f}× |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
