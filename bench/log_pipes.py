"""What the gateway's log lines cost when they go into pipes, as in a container (issue 6).

    python bench/log_pipes.py [--seconds 8] [--rounds 4]

bench/run.py sends the gateway's stdout (audit events) to /dev/null and its stderr (request
lines) to a file. A container runtime reads both through pipes instead, and a pipe's reader is
woken by the writes. Under allowed small downloads at c=32 (the setting of bench/marginal.py,
gateway + Redis), each round starts one gateway the bench's way and one with stdout and stderr
into FIFOs that `cat` drains, in alternating order, and reads each one's requests a second
and CPU time a request.
"""

from __future__ import annotations

import os
import shlex
import shutil
import statistics
import subprocess
import sys

import small_downloads
import stack

WAYS = ("bench: /dev/null and a file", "pipes read by cat")


def main() -> int:
    parser = small_downloads.arguments(__doc__, rounds=4)
    args = parser.parse_args()
    run = small_downloads.run_directory("log-pipes")
    if run is None:
        return 2
    rows: dict[str, list[tuple[float, float]]] = {way: [] for way in WAYS}
    try:
        with stack.processes(run) as procs, small_downloads.setting(run, procs) as setting:
            for round_ in range(args.rounds):
                for way in WAYS if round_ % 2 == 0 else WAYS[::-1]:
                    port, admin = stack.free_port(), stack.free_port()
                    argv = setting.gateway_argv(port, admin, "redis")
                    readers: list[subprocess.Popen[bytes]] = []
                    if way != WAYS[0]:
                        fifos = [run / f"{stream}-{round_}" for stream in ("stdout", "stderr")]
                        for fifo in fifos:
                            os.mkfifo(fifo)
                            readers.append(procs.start(f"cat-{fifo.name}", ["cat", str(fifo)], stdout_to_null=True))
                        # exec: the measured pid is the gateway's own, not a shell's.
                        argv = ["sh", "-c", f"exec {shlex.join(argv)} > {fifos[0]} 2> {fifos[1]}"]
                    rows[way].append(small_downloads.timed(
                        procs, f"gw-{round_}-{len(readers)}", argv, port=port, admin=admin,
                        script=setting.script, seconds=args.seconds, warmup=2))
                    for reader in readers:  # each has seen its end of file by now, the gateway gone
                        procs.stop(reader)
                    print(f"[log-pipes] round {round_ + 1} {way}: {rows[way][-1][0]:.0f} rps, "
                          f"{rows[way][-1][1]:.1f} µs CPU/request", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(run, ignore_errors=True)
    print(f"Allowed small downloads (1 KiB), c=32, gateway + Redis, {args.seconds}s per run, "
          f"median of {args.rounds} rounds\n")
    print("| stdout and stderr | rps | CPU µs / request |")
    print("|---|---:|---:|")
    for way, samples in rows.items():
        print(f"| {way} | {statistics.median(r for r, _ in samples):,.0f} "
              f"| {statistics.median(c for _, c in samples):.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
