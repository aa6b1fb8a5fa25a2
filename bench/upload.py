"""The big upload alone (issue 6): nginx proxy_pass, the bare aiohttp proxy and the gateway.

    python bench/upload.py [--mib 1024] [--rounds 3] [--store sqlite] [--profile]

The upstream, references and gateway of bench/run.py (bench/small_downloads.py's setting),
a file of --mib MiB uploaded with curl as the SDK orders the form (`purpose` before `file`),
the systems alternating over the rounds; the best and the median MiB/s of each, the CPU time
the gateway and the bare proxy spent a GiB (steadier than the rate on a shared machine), and
the ratio of the gateway's rate to nginx's. --profile then samples the gateway with py-spy during one more
upload. bench/run.py measures the same case among all the others; this is for one change.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import fixtures
import load
import pyspy_summary
import small_downloads
import stack

HOST = stack.HOST


def upload(url: str, body: Path) -> float:
    transfer, _ = load.curl_upload(f"{url}/v1/files", fixtures.TOKEN, body)
    if transfer.status != 200:
        raise RuntimeError(f"{url} answered the upload {transfer.status}")
    return transfer.mib_s


def cpu_upload(url: str, body: Path, pid: int | None) -> tuple[float, float]:
    """(MiB/s, the proxy process's CPU seconds a GiB; nan for nginx, several processes)."""
    before = small_downloads.cpu_seconds(pid) if pid else 0.0
    mib_s = upload(url, body)
    used = small_downloads.cpu_seconds(pid) - before if pid else float("nan")
    return mib_s, used / (body.stat().st_size / (1 << 30))


def profile(pid: int, url: str, body: Path, raw: Path, top: int) -> str:
    done: dict[str, float] = {}
    driver = threading.Thread(target=lambda: done.setdefault("mib_s", upload(url, body)))
    driver.start()
    subprocess.run(["py-spy", "record", "--pid", str(pid), "--rate", "250", "--format", "raw",
                    "--nonblocking", "--output", str(raw), "--duration", "2"], check=True, capture_output=True)
    driver.join()
    summary = pyspy_summary.summarise(raw.read_text())
    return f"py-spy during one upload ({done['mib_s']:.0f} MiB/s while sampled)\n\n{summary.table(top)}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mib", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--store", choices=("redis", "sqlite"), default="sqlite")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--profile-top", type=int, default=25)
    args = parser.parse_args()
    run = Path(tempfile.mkdtemp(prefix="fgw-upload-"))
    figures: dict[str, list[float]] = {"nginx proxy_pass": [], "bare aiohttp proxy": [], "gateway": []}
    cpu: dict[str, list[float]] = {name: [] for name in figures}
    try:
        with stack.processes(run) as procs, small_downloads.setting(run, procs, big_bytes=args.mib << 20) as setting:
            port, admin = stack.free_port(), stack.free_port()
            gateway = procs.start("gateway", setting.gateway_argv(port, admin, args.store), stdout_to_null=True)
            stack.wait_http(f"http://{HOST}:{admin}/healthz", timeout=30, proc=gateway)
            urls = {"nginx proxy_pass": setting.nginx_url, "bare aiohttp proxy": setting.bare_url,
                    "gateway": f"http://{HOST}:{port}"}
            pids = {"nginx proxy_pass": None, "bare aiohttp proxy": setting.bare_pid, "gateway": gateway.pid}
            for round_no in range(args.rounds):
                for name, url in urls.items():
                    mib_s, cpu_s = cpu_upload(url, setting.big_file, pids[name])
                    figures[name].append(mib_s)
                    cpu[name].append(cpu_s)
                print(f"round {round_no + 1}: " + ", ".join(f"{n} {v[-1]:.0f}" for n, v in figures.items()),
                      file=sys.stderr, flush=True)
            print(f"{args.mib} MiB upload, {args.rounds} rounds, gateway store {args.store}\n")
            print("| system | best MiB/s | median MiB/s | CPU s a GiB (median) |\n|---|---:|---:|---:|")
            for name, values in figures.items():
                print(f"| {name} | {max(values):,.0f} | {statistics.median(values):,.0f} | "
                      f"{statistics.median(cpu[name]):.2f} |")
            nginx = statistics.median(figures["nginx proxy_pass"])
            print(f"\ngateway / nginx: {statistics.median(figures['gateway']) / nginx:.2f}x (medians), "
                  f"{max(figures['gateway']) / max(figures['nginx proxy_pass']):.2f}x (best)")
            if args.profile:
                print("\n" + profile(gateway.pid, urls["gateway"], setting.big_file, run / "upload.raw.txt",
                                     args.profile_top))
    finally:
        shutil.rmtree(run, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
