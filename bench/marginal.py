"""What each part of the gateway's per-request work costs (issue 6).

    python bench/marginal.py [--seconds 8] [--rounds 2]
    python bench/marginal.py --instructions 400

The same upstream as bench/run.py (nginx), the gateway with Redis and the bare aiohttp proxy,
all on 127.0.0.1. Under allowed small downloads at c=32 (wrk), it measures requests a second
and the process's CPU time per request, once with everything on and once with each part
switched off through bench/parts_off.py; the difference is what that part costs. Each variant
is started alone, so no idle gateway shares the machine with the measured one, and the rounds
alternate the variants so drift on a shared machine spreads over all of them. Last, it times
the upstream client alone (bench/client_cost.py): aiohttp's and the gateway's against a bare
asyncio protocol.
With --instructions N each variant is counted once in instructions a request under callgrind
instead (bench/small_downloads.py), with the SQLite store, which, unlike time, repeats to a
fraction of a percent.
"""

from __future__ import annotations

import shutil
import statistics
import sys

import client_cost
import fixtures
import small_downloads
import stack

HOST = stack.HOST
VARIANTS: tuple[tuple[str, str], ...] = (
    ("everything on", ""),
    ("audit event off", "audit"),
    ("request log off", "request_log"),
    ("metrics off", "metrics"),
    ("all three off", "audit,request_log,metrics"),
)


def cost(name: str, everything_on: float, measured: float, unit: str) -> str:
    """The last column: what the parts switched off in `name` cost, or, for the bare proxy,
    all of the gateway's own work."""
    saved = everything_on - measured
    if name == "bare aiohttp proxy":
        return f"gateway's own work: {unit.format(saved)}"
    if name == "everything on":
        return "—"
    return f"{unit.format(saved)} ({saved / everything_on:.1%})"


def _gateway_argv(setting: small_downloads.Setting, port: int, admin: int, store: str = "redis") -> list[str]:
    argv = setting.gateway_argv(port, admin, store)
    argv[1:3] = [str(stack.REPO / "bench" / "parts_off.py")]
    return argv


def count_instructions(procs: stack.Processes, setting: small_downloads.Setting, count: int) -> int:
    counted = {"bare aiohttp proxy": small_downloads.bare_instructions(procs, setting, count)}
    for name, parts in VARIANTS:
        port, admin = stack.free_port(), stack.free_port()
        counted[name] = small_downloads.instructions(
            procs, f"cg-{parts or 'none'}", _gateway_argv(setting, port, admin, "sqlite"),
            cwd=stack.REPO, port=port,
            ready_url=f"http://{HOST}:{admin}/healthz", file_ids=setting.allowed, count=count,
            env={"FGW_PARTS_OFF": parts})
        print(f"[marginal] {name}: {counted[name]:,.0f} instructions a request", file=sys.stderr, flush=True)
    base = counted["everything on"]
    # SQLite: Redis's cache heartbeat runs on a timer and would add 0.7 % of noise.
    print(f"Allowed small downloads (1 KiB), one at a time, SQLite store, instructions of {count} "
          "requests (callgrind)\n")
    print("| variant | instructions / request | cost of what is off |")
    print("|---|---:|---:|")
    for name, instructions in counted.items():
        print(f"| {name} | {instructions:,.0f} | {cost(name, base, instructions, '{:,.0f}')} |")
    return 0


def main() -> int:
    parser = small_downloads.arguments(__doc__, rounds=2)
    parser.add_argument("--instructions", type=int, metavar="N",
                        help="count instructions of N downloads per variant under callgrind")
    args = parser.parse_args()
    run = small_downloads.run_directory("marginal")
    if run is None:
        return 2
    names = ("bare aiohttp proxy", *(name for name, _ in VARIANTS))
    rows: dict[str, list[tuple[float, float]]] = {name: [] for name in names}
    try:
        with stack.processes(run) as procs, small_downloads.setting(run, procs) as setting:
            if args.instructions:
                return count_instructions(procs, setting, args.instructions)
            script = setting.script
            for round_ in range(args.rounds):
                bare = small_downloads.measure(setting.bare_url, setting.bare_pid, script, args.seconds)
                rows["bare aiohttp proxy"].append(bare)
                order = VARIANTS if round_ % 2 == 0 else VARIANTS[::-1]
                for name, parts in order:
                    port, admin = stack.free_port(), stack.free_port()
                    rows[name].append(small_downloads.timed(
                        procs, f"gw-{round_}-{name}", _gateway_argv(setting, port, admin), port=port,
                        admin=admin, script=script, seconds=args.seconds, env={"FGW_PARTS_OFF": parts}))
                    print(f"[marginal] round {round_ + 1} {name}: {rows[name][-1][0]:.0f} rps, "
                          f"{rows[name][-1][1]:.1f} µs CPU/request", file=sys.stderr, flush=True)
            clients = client_cost.measure(setting.allowed_url, fixtures.TOKEN)
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
        print(f"| {name} | {rps:,.0f} | {cpu:.0f} | {cost(name, base_cpu, cpu, '{:.0f} µs')} |")
    print(f"\nFor 0.90× the bare proxy, the gateway may spend {bare_cpu / 0.9 - bare_cpu:.0f} µs a request "
          "beyond it.")
    print("\nOne upstream request at a time, in this process (bench/client_cost.py), median of 3:\n")
    print("| upstream client | CPU µs / request |")
    print("|---|---:|")
    for name, cpu in clients.items():
        print(f"| {name} | {cpu:.0f} |")
    for name in ("aiohttp", "gateway"):
        print(f"\n{name}'s client beyond the least an asyncio client does: "
              f"{clients[name] - clients['bare protocol']:.0f} µs a request.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
