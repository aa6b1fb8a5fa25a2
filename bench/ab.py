"""One change's cost, measured the way docs/performance.md measures each change (issue 6).

    python bench/ab.py BASE [--against REV] [--store redis|sqlite] [--rounds 4] [--seconds 6]
    python bench/ab.py BASE --case json [--rounds 4]
    python bench/ab.py BASE [--against REV] [--store redis|sqlite] --instructions 500

Two gateways run the same load one after the other, never together: BASE (any git revision,
checked out into a temporary `git worktree`), and the working tree or, with --against, another
revision checked out the same way. The setting is that of
bench/marginal.py (bench/small_downloads.py): allowed 1 KiB downloads at c=32 with the
openai SDK's headers, nginx as the upstream. The order alternates every round, so drift on a
shared machine falls on both; each figure is the median over the rounds of the gateway
process's CPU time per request, which moves less between runs than its rate. `--case json` loads
bench/run.py's JSON POST to an API without rules instead (a 983-byte embeddings request, whose
body the gateway reads and checks for file ids).

On a noisy machine (run 10's, where the same code measured 305 to 611 µs a request
between rounds), a change of a few percent only shows in instructions: `--instructions N` runs each
gateway once under valgrind's callgrind and counts the instructions of N downloads, one at a
time, after every file was downloaded once (bench/small_downloads.py); the bare proxy is counted
the same way beside them. Two checkouts of the same revision counted within 0.05 % of each other
with SQLite, 0.7 % with Redis (whose cache heartbeat runs on a timer, not per request).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

import fixtures
import load
import small_downloads
import stack

HOST = stack.HOST
BARE = "bare aiohttp proxy"
BARE_OWN = "bare proxy with the gateway's client"


def worktree(revision: str, where: Path) -> Path:
    subprocess.run(["git", "-C", str(stack.REPO), "worktree", "add", "--detach", str(where), revision],
                   check=True, stdout=subprocess.DEVNULL)
    return where


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base", help="git revision to compare the working tree against")
    parser.add_argument("--against", help="a revision to measure instead of the working tree")
    parser.add_argument("--store", choices=("redis", "sqlite"), default="redis")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seconds", type=int, default=6)
    parser.add_argument("--warmup", type=int, default=2, help="seconds of load before each measurement")
    parser.add_argument("--case", choices=("download", "json"), default="download",
                        help="allowed small downloads, or a JSON POST to an API without rules")
    parser.add_argument("--instructions", type=int, metavar="N",
                        help="count instructions of N downloads under callgrind instead of timing wrk")
    args = parser.parse_args()
    if args.instructions and args.case != "download":
        parser.error("--instructions counts downloads only")
    run = small_downloads.run_directory("ab", "git", *(("valgrind",) if args.instructions else ()))
    if run is None:
        return 2
    new = args.against or "working tree"
    labels = (new, args.base) if new != args.base else (f"{new} (a)", f"{new} (b)")
    checked_out: list[Path] = []
    try:
        checked_out.append(worktree(args.base, run / "base"))
        if args.against:
            checked_out.append(worktree(args.against, run / "new"))
        trees = {labels[0]: checked_out[1] if args.against else stack.REPO, labels[1]: checked_out[0]}
        names = list(trees)
        rows: dict[str, list[tuple[float, float]]] = {name: [] for name in names}
        counted: dict[str, float] = {}
        with stack.processes(run) as procs, small_downloads.setting(run, procs) as setting:
            script = setting.script
            if args.case == "json":
                script = load.write_script(run / "json.lua", [""], fixtures.TOKEN, "/v1/embeddings", "",
                                           fixtures.EMBEDDINGS_BODY)
            if args.instructions:
                for index, name in enumerate(names):
                    port, admin = stack.free_port(), stack.free_port()
                    counted[name] = small_downloads.instructions(
                        procs, f"cg-{index}", setting.gateway_argv(port, admin, args.store), cwd=trees[name],
                        port=port, ready_url=f"http://{HOST}:{admin}/healthz", file_ids=setting.allowed,
                        count=args.instructions)
                    print(f"[ab] {name}: {counted[name]:,.0f} instructions a request", file=sys.stderr,
                          flush=True)
                counted[BARE] = small_downloads.bare_instructions(procs, setting, args.instructions)
                counted[BARE_OWN] = small_downloads.bare_instructions(
                    procs, setting, args.instructions, client="gateway")
            for round_ in range(0 if args.instructions else args.rounds):
                for name in names if round_ % 2 == 0 else names[::-1]:
                    port, admin = stack.free_port(), stack.free_port()
                    argv = setting.gateway_argv(port, admin, args.store)
                    rows[name].append(small_downloads.timed(
                        procs, f"gw-{round_}-{names.index(name)}", argv, port=port, admin=admin,
                        script=script, seconds=args.seconds, warmup=args.warmup, cwd=trees[name]))
                    rps, cpu = rows[name][-1]
                    print(f"[ab] round {round_ + 1} {name}: {rps:.0f} rps, {cpu:.1f} µs CPU/request",
                          file=sys.stderr, flush=True)
    finally:
        for tree in checked_out:
            subprocess.run(["git", "-C", str(stack.REPO), "worktree", "remove", "--force", str(tree)],
                           check=False)
        shutil.rmtree(run, ignore_errors=True)
    if args.instructions:
        print(f"Allowed small downloads (1 KiB), one at a time, {args.store} store, "
              f"instructions of {args.instructions} requests (callgrind)\n")
        print("| gateway | instructions / request |")
        print("|---|---:|")
        for name, count in counted.items():
            print(f"| {name} | {count:,.0f} |")
        print(f"\nThe gateway's own work a request, over a bare proxy with its client: "
              f"{counted[labels[0]] - counted[BARE_OWN]:,.0f} instructions.")
        print(f"\nThe bare proxy does {counted[BARE] / counted[labels[0]]:.2f} times the instructions of "
              f"{labels[0]} (0.90 is the target's share, if rate followed instructions).")
        print(f"\n{labels[0]} against {labels[1]}: {counted[labels[0]] / counted[labels[1]] - 1:+.2%} "
              "instructions a request")
        return 0
    case = ("JSON POSTs to an API without rules (983 B)" if args.case == "json"
            else "Allowed small downloads (1 KiB)")
    print(f"{case}, c=32, {args.store} store, {args.seconds}s per run, median of {args.rounds} rounds\n")
    print("| gateway | rps | CPU µs / request |")
    print("|---|---:|---:|")
    medians = {name: (statistics.median(r for r, _ in samples), statistics.median(c for _, c in samples))
               for name, samples in rows.items()}
    for name, (rps, cpu) in medians.items():
        print(f"| {name} | {rps:,.0f} | {cpu:.0f} |")
    (new_rps, new_cpu), (base_rps, base_cpu) = medians[labels[0]], medians[labels[1]]
    print(f"\n{labels[0]} against {labels[1]}: {new_cpu / base_cpu - 1:+.1%} CPU a request, "
          f"{new_rps / base_rps - 1:+.1%} rps")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
