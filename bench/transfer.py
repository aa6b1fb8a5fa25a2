"""One big transfer alone (issue 6): nginx proxy_pass, the bare aiohttp proxy and the gateway.

    python bench/transfer.py [--way upload|download] [--mib 1024] [--rounds 3] [--store sqlite] [--profile]

The upstream, references and gateway of bench/run.py (bench/small_downloads.py's setting),
a file of --mib MiB uploaded with curl as the SDK orders the form (`purpose` before `file`), or
downloaded, the systems alternating over the rounds; the best and the median MiB/s of each, the CPU time
the gateway and the bare proxy spent a GiB (steadier than the rate on a shared machine), and
the ratio of the gateway's rate to nginx's. --profile then samples the gateway with py-spy during one more
transfer. bench/run.py measures the same cases among all the others; this is for one change.
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


class Transfers:
    """The three systems in one setting, each transfer timed and its proxy's CPU time read."""

    def __init__(self, setting: small_downloads.Setting, way: str, gateway_url: str,
                 gateway_pid: int) -> None:
        self.setting = setting
        self.way = way
        self.urls = {"nginx proxy_pass": setting.nginx_url, "bare aiohttp proxy": setting.bare_url,
                     "gateway": gateway_url}
        self.pids = {"bare aiohttp proxy": setting.bare_pid, "gateway": gateway_pid}
        self.rates: dict[str, list[float]] = {name: [] for name in self.urls}
        self.cpu: dict[str, list[float]] = {name: [] for name in self.urls}

    def once(self, url: str) -> float:
        if self.way == "upload":
            done, _ = load.curl_upload(f"{url}/v1/files", fixtures.TOKEN, self.setting.big_file)
        else:
            done = load.curl_download(f"{url}/v1/files/{self.setting.big_id}/content", fixtures.TOKEN)
        if done.status != 200:
            raise RuntimeError(f"{url} answered the {self.way} {done.status}")
        return done.mib_s

    def round(self) -> None:
        """One transfer through each system; CPU seconds a GiB only for the one-process proxies."""
        gib = self.setting.big_file.stat().st_size / (1 << 30)
        for name, url in self.urls.items():
            pid = self.pids.get(name)
            before = small_downloads.cpu_seconds(pid) if pid else 0.0
            self.rates[name].append(self.once(url))
            self.cpu[name].append((small_downloads.cpu_seconds(pid) - before) / gib if pid else float("nan"))

    def table(self) -> str:
        lines = ["| system | best MiB/s | median MiB/s | CPU s a GiB (median) |", "|---|---:|---:|---:|"]
        for name, values in self.rates.items():
            lines.append(f"| {name} | {max(values):,.0f} | {statistics.median(values):,.0f} | "
                         f"{statistics.median(self.cpu[name]):.2f} |")
        gateway, nginx = self.rates["gateway"], self.rates["nginx proxy_pass"]
        lines.append(f"\ngateway / nginx: {statistics.median(gateway) / statistics.median(nginx):.2f}x "
                     f"(medians), {max(gateway) / max(nginx):.2f}x (best)")
        return "\n".join(lines)

    def profile(self, raw: Path, top: int) -> str:
        done: dict[str, float] = {}
        driver = threading.Thread(target=lambda: done.setdefault("mib_s", self.once(self.urls["gateway"])))
        driver.start()
        subprocess.run(["py-spy", "record", "--pid", str(self.pids["gateway"]), "--rate", "250",
                        "--format", "raw", "--nonblocking", "--output", str(raw), "--duration", "2"],
                       check=True, capture_output=True)
        driver.join()
        summary = pyspy_summary.summarise(raw.read_text())
        head = f"py-spy during one {self.way} ({done['mib_s']:.0f} MiB/s while sampled)"
        return f"{head}\n\n{summary.table(top)}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--way", choices=("upload", "download"), default="upload")
    parser.add_argument("--mib", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--store", choices=("redis", "sqlite"), default="sqlite")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--profile-top", type=int, default=25)
    args = parser.parse_args()
    run = Path(tempfile.mkdtemp(prefix="fgw-transfer-"))
    try:
        with stack.processes(run) as procs, \
                small_downloads.setting(run, procs, big_bytes=args.mib << 20) as setting:
            port, admin = stack.free_port(), stack.free_port()
            argv = setting.gateway_argv(port, admin, args.store)
            gateway = procs.start("gateway", argv, stdout_to_null=True)
            stack.wait_http(f"http://{HOST}:{admin}/healthz", timeout=30, proc=gateway)
            transfers = Transfers(setting, args.way, f"http://{HOST}:{port}", gateway.pid)
            for round_no in range(args.rounds):
                transfers.round()
                print(f"round {round_no + 1}: " + ", ".join(
                    f"{name} {rates[-1]:.0f}" for name, rates in transfers.rates.items()), file=sys.stderr)
            print(f"{args.mib} MiB {args.way}, {args.rounds} rounds, gateway store {args.store}\n")
            print(transfers.table())
            if args.profile:
                print("\n" + transfers.profile(run / "transfer.raw.txt", args.profile_top))
    finally:
        shutil.rmtree(run, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
