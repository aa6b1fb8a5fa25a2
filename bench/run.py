"""The issue 6 benchmark: one command starts everything on 127.0.0.1 and prints one table.

    python bench/run.py [--seconds 10] [--profile] [--out results.md]

Upstream: nginx (Debian) serving file bytes, file objects, list pages and upload answers.
Compared, in front of that same upstream: nginx proxy_pass, a bare aiohttp proxy
(bench/bare_proxy.py), and the gateway with Redis and with its embedded SQLite store.
Load comes from wrk (Debian) and curl. Needs: nginx, wrk, redis-server, redis-cli, curl.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import platform
import random
import select
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import fixtures
import load
import pyspy_summary
import redis
import stack

from gateway.store.redis import PREFIX, RedisStore, connect
from gateway.store.sqlite import SqliteStore

HOST = stack.HOST
REFS = ("direct", "nginx", "aiohttp")
GATEWAYS = ("gw-redis", "gw-sqlite")
SYSTEMS = REFS + GATEWAYS
# uvloop is optional: without it that lever is left out.
UVLOOP_LEVERS = ("gw-redis-uvloop", "gw-redis-w2-uvloop")
LEVERS = ("gw-redis-w2", *(UVLOOP_LEVERS if importlib.util.find_spec("uvloop") else ()))
# Measured beside the levers: the floor for any aiohttp server on the gateway's own client (the
# bare proxy with --client gateway), and for a server with no web framework at all on the same
# client (bench/raw_server.py), so the ratio to nginx reads against what no enforcement costs.
FLOORS = ("aiohttp-own", "raw-own")
LABELS = {
    "direct": "direct to upstream (nginx)",
    "nginx": "nginx proxy_pass",
    "aiohttp": "bare aiohttp proxy",
    "gw-redis": "gateway + Redis",
    "gw-sqlite": "gateway + SQLite",
    "gw-redis-w2": "gateway + Redis, --workers 2",
    "gw-redis-uvloop": "gateway + Redis, uvloop",
    "gw-redis-w2-uvloop": "gateway + Redis, --workers 2, uvloop",
    "aiohttp-own": "bare aiohttp server on the gateway's client, no enforcement",
    "raw-own": "no web framework (bench/raw_server.py) on the gateway's client, no enforcement",
}


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class Bench:
    def __init__(self, args: argparse.Namespace, run: Path, fast: Path, procs: stack.Processes) -> None:
        self.args = args
        self.run = run
        self.fast = fast
        self.procs = procs
        self.ports: dict[str, int] = {}
        self.pids: dict[str, int] = {}
        self.results: dict[str, Any] = {"cases": {}, "levers": {}, "store": {}, "checks": []}
        self.ids = fixtures.make_ids(total=args.records, listed=args.listed)

    def url(self, system: str) -> str:
        return f"http://{HOST}:{self.ports[system]}"

    # -- setup -------------------------------------------------------------------------------

    def start(self) -> None:
        args, run, fast = self.args, self.run, self.fast
        names = ("direct", "sink", "nginx", "aiohttp", "redis", *GATEWAYS, *LEVERS, *FLOORS)
        self.ports = {name: stack.free_port() for name in names}
        admin = {name: stack.free_port() for name in (*GATEWAYS, *LEVERS)}
        www = fast / "www"
        log(f"writing upstream content ({args.big_mib} MiB file, {args.listed} listed files)")
        fixtures.write_www(www, self.ids, args.big_mib << 20)
        self.big_file = www / "big.bin"
        for sub in ("nginx-body", "nginx-proxy", "nginx-fastcgi", "nginx-uwsgi", "nginx-scgi"):
            (fast / sub).mkdir(exist_ok=True)
        conf = run / "nginx.conf"
        conf.write_text(fixtures.nginx_conf(
            run=run, fast=fast, www=www, big=self.ids.big, upstream_port=self.ports["direct"],
            sink_port=self.ports["sink"], proxy_port=self.ports["nginx"], workers=args.nginx_workers,
        ))
        nginx = self.procs.start("nginx", ["nginx", "-e", str(run / "nginx-error.log"), "-p", str(run), "-c", str(conf)])
        redis_proc = self.procs.start("redis", [
            "redis-server", "--bind", HOST, "--port", str(self.ports["redis"]), "--save", "",
            "--appendonly", "no", "--dir", str(run), "--protected-mode", "yes",
        ])
        stack.wait_redis(self.ports["redis"], redis_proc)
        self.redis_url = f"redis://{HOST}:{self.ports['redis']}/0"
        self.sqlite_path = run / "store.db"
        rows = fixtures.records_json(self.ids)
        self.all_ids = [file_id for file_id, _ in rows]
        client = redis.Redis(host=HOST, port=self.ports["redis"])
        used_before = int(client.info("memory")["used_memory"])
        log(f"populating Redis and SQLite with {len(rows):,} records")
        fixtures.populate_redis(self.ports["redis"], rows)
        used_after = int(client.info("memory")["used_memory"])
        fixtures.populate_sqlite(self.sqlite_path, rows)
        self.results["store"]["records"] = len(rows)
        self.results["store"]["redis_used_memory_per_record"] = (used_after - used_before) / len(rows)
        client.close()
        del rows
        config = run / "gateway.yaml"
        config.write_text(fixtures.gateway_config(max_upload=(args.big_mib + 64) << 20))
        upstream = self.url("direct")
        bare = self.procs.start("aiohttp", stack.bare_proxy_argv(upstream=upstream, port=self.ports["aiohttp"]))
        own = self.procs.start("aiohttp-own", stack.bare_proxy_argv(
            upstream=upstream, port=self.ports["aiohttp-own"], client="gateway"))
        specs: dict[str, dict[str, Any]] = {
            "gw-redis": {"store": self.redis_url},
            "gw-sqlite": {"store": f"sqlite:///{self.sqlite_path}"},
            "gw-redis-w2": {"store": self.redis_url, "workers": 2},
            "gw-redis-uvloop": {"store": self.redis_url, "uvloop": True},
            "gw-redis-w2-uvloop": {"store": self.redis_url, "workers": 2, "uvloop": True},
        }
        gateway_specs = {name: spec for name, spec in specs.items() if name in (*GATEWAYS, *LEVERS)}
        started = {"aiohttp": bare, "nginx": nginx}
        for name, spec in gateway_specs.items():
            argv = stack.gateway_argv(
                config=config, upstream=upstream, port=self.ports[name], admin_port=admin[name], **spec,
            )
            # Audit events (stdout) are formatted and written as in production, to /dev/null.
            started[name] = self.procs.start(name, argv, stdout_to_null=True)
        stack.wait_http(f"{upstream}/v1/files/x/content", proc=nginx)
        stack.wait_http(f"{self.url('aiohttp')}/", proc=bare)
        stack.wait_http(f"{self.url('aiohttp-own')}/", proc=own)
        raw = self.procs.start("raw-own",
                               stack.raw_server_argv(upstream=upstream, port=self.ports["raw-own"]))
        stack.wait_http(f"{self.url('raw-own')}/", proc=raw)
        for name in gateway_specs:
            stack.wait_http(f"http://{HOST}:{admin[name]}/healthz", timeout=30, proc=started[name])
            self.pids[name] = started[name].pid
        self.pids["aiohttp"] = bare.pid
        self.pids["aiohttp-own"] = own.pid
        self.pids["raw-own"] = raw.pid

    # -- sanity checks -----------------------------------------------------------------------

    def get(self, system: str, path: str, body: str | None = None) -> tuple[int, dict[str, str], bytes]:
        """GET `path`, or POST `body` to it as JSON."""
        request = urllib.request.Request(
            self.url(system) + path, data=body.encode() if body else None,
            headers={"Authorization": f"Bearer {fixtures.TOKEN}",
                     **({"Content-Type": "application/json"} if body else {})},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read()

    def check(self) -> None:
        allowed, blocked = self.ids.allowed[0], self.ids.blocked[0]
        for system in (*SYSTEMS, *LEVERS, *FLOORS):
            status, _, body = self.get(system, f"/v1/files/{allowed}/content")
            assert status == 200 and len(body) == 1024, (system, status, body[:200])
            status, _, body = self.get(system, f"/v1/files/{allowed}")
            assert status == 200 and json.loads(body)["id"] == allowed, (system, status, body[:200])
            status, _, body = self.get(system, "/v1/embeddings", fixtures.EMBEDDINGS_BODY)
            assert status == 200 and json.loads(body)["object"] == "list", (system, status, body[:200])
        for system in (*GATEWAYS, *LEVERS):
            status, headers, body = self.get(system, f"/v1/files/{blocked}/content")
            reason = {k.lower(): v for k, v in headers.items()}.get("x-gateway-reason")
            assert status == 403 and reason == "download_disabled", (system, status, body[:200])
            _, _, body = self.get(system, f"/v1/files/{allowed}")
            assert "gateway" in json.loads(body), (system, body[:200])
        self.results["checks"].append("allowed downloads return the 1 KiB body; blocked ones 403 download_disabled; "
                                      "the JSON POST to an API without rules is answered 200")
        # The upstream must hold the whole upload before it answers, or upload throughput is
        # meaningless: send a body in slow pieces and watch for any early byte of an answer.
        early, status = upload_answers_early(self.ports["direct"])
        ok = not early and status == 200
        self.results["checks"].append(
            "the upstream answers an upload only after reading the whole body "
            f"(16 MiB sent in 32 paced pieces: {'answer came early' if early else 'no byte of answer before the last piece'}, "
            f"then {status})"
        )
        assert ok, self.results["checks"][-1]

    # -- request-rate cases ------------------------------------------------------------------

    def script(self, name: str, ids: list[str], suffix: str) -> Path:
        return load.write_script(self.run / f"{name}.lua", ids, fixtures.TOKEN, "/v1/files/", suffix)

    def rate_case(self, case: str, systems: tuple[str, ...], script: Path, connections: int) -> None:
        """Each system `--rounds` times, the order reversed every other round so that a drifting
        machine weighs on all of them alike; the run with the median rate is kept, and each
        gateway's comparisons with the references are taken within each round (`within`)."""
        measured: dict[str, list[load.WrkResult]] = {system: [] for system in systems}
        for round_ in range(self.args.rounds):
            for system in systems if round_ % 2 == 0 else systems[::-1]:
                result = load.wrk(self.url(system), script, connections=connections, seconds=self.args.seconds)
                measured[system].append(result)
                log(f"{case:<22} {system:<16} {result.rps:9.0f} rps  p50 {result.p50_ms:6.2f} ms  "
                    f"p99 {result.p99_ms:6.2f} ms  non-2xx {result.status_errors}  "
                    f"socket errors {result.socket_errors}")
        results = self.results["cases"].setdefault(case, {})
        for system, runs in measured.items():
            results[system] = dict(sorted(runs, key=lambda run: run.rps)[len(runs) // 2].__dict__)
            if system in GATEWAYS:
                # Against each reference measured in the same rounds (run 22's machine drifted
                # by half between rounds, so a ratio of medians from different rounds said more
                # about the drift than about the systems).
                results[system]["within"] = {ref: against(runs, measured[ref]) for ref in REFS if ref in measured}

    def rates(self) -> None:
        small = self.script("small", self.ids.allowed, "/content")
        self.rate_case("small_c32", SYSTEMS, small, 32)
        self.rate_case("small_c1", SYSTEMS, small, 1)
        self.rate_case("blocked_c32", GATEWAYS, self.script("blocked", self.ids.blocked, "/content"), 32)
        self.rate_case("meta_c32", SYSTEMS, self.script("meta", self.ids.allowed, ""), 32)
        post = load.write_script(self.run / "json.lua", [""], fixtures.TOKEN, "/v1/embeddings", "",
                                 fixtures.EMBEDDINGS_BODY)
        self.rate_case("json_c32", SYSTEMS, post, 32)
        self.levers(small)

    def levers(self, small: Path) -> None:
        """Each lever and floor beside the gateway it varies, in `--rounds` alternating rounds:
        its ratio to the gateway is taken within each round (the machine drifts between
        rounds), and the median kept."""
        systems = ("gw-redis", *LEVERS, *FLOORS)
        runs: dict[str, list[load.WrkResult]] = {system: [] for system in systems}
        for round_ in range(self.args.rounds):
            for system in systems if round_ % 2 == 0 else systems[::-1]:
                runs[system].append(load.wrk(self.url(system), small, connections=32, seconds=self.args.seconds))
                log(f"lever {system}: {runs[system][-1].rps:.0f} rps, p99 {runs[system][-1].p99_ms:.2f} ms")
        for system in (*LEVERS, *FLOORS):
            median = sorted(runs[system], key=lambda run: run.rps)[len(runs[system]) // 2]
            self.results["levers"][system] = {**median.__dict__,
                                              "vs_gateway": against(runs[system], runs["gw-redis"])["rps"]}

    # -- list --------------------------------------------------------------------------------

    async def _list_once(self, session: aiohttp.ClientSession, base: str) -> tuple[float, int, int]:
        started = time.perf_counter()
        after: str | None = None
        items = requests = 0
        while True:
            query = f"?limit={fixtures.PAGE}" + (f"&after={after}" if after else "")
            async with session.get(base + "/v1/files" + query) as response:
                assert response.status == 200, (base, response.status)
                body = json.loads(await response.read())
            requests += 1
            items += len(body["data"])
            if not body["has_more"] or not body["data"]:
                break
            after = body["data"][-1]["id"]
        return time.perf_counter() - started, items, requests

    async def _lists(self) -> None:
        headers = {"Authorization": f"Bearer {fixtures.TOKEN}"}
        results = self.results["cases"].setdefault("list", {})
        async with aiohttp.ClientSession(headers=headers) as session:
            for system in SYSTEMS:
                await self._list_once(session, self.url(system))  # warm-up
                runs = [await self._list_once(session, self.url(system)) for _ in range(self.args.list_runs)]
                seconds = statistics.median(run[0] for run in runs)
                results[system] = {"seconds": seconds, "items": runs[0][1], "client_requests": runs[0][2]}
                log(f"list {system:<16} {seconds * 1000:8.1f} ms  {runs[0][1]} items in {runs[0][2]} requests")
        expected = len(self.ids.listed) // 10
        for system in GATEWAYS:
            assert results[system]["items"] == expected, (system, results[system])

    # -- 1 GiB each way ----------------------------------------------------------------------

    def transfers(self) -> None:
        """`--big-runs` rounds of one transfer per system and way, the systems alternating (one
        1 GiB transfer swings by a factor of two between rounds on some machines): the median
        rate is kept, and each gateway's ratio to nginx is taken within each round."""
        results = self.results["cases"].setdefault("big", {})
        runs: dict[tuple[str, str], list[load.Transfer]] = {}
        growth: dict[tuple[str, str], int] = {}
        for round_ in range(self.args.big_runs):
            for direction in ("download", "upload"):
                for system in SYSTEMS if round_ % 2 == 0 else SYSTEMS[::-1]:
                    transfer, grew = self._transfer(system, direction)
                    runs.setdefault((system, direction), []).append(transfer)
                    growth[system, direction] = max(growth.get((system, direction), 0), grew)
                    log(f"1 GiB {direction:<8} {system:<16} {transfer.mib_s:7.0f} MiB/s  "
                        f"RSS growth {grew / 1024 if system in self.pids else float('nan'):.1f} MiB")
        for system in SYSTEMS:
            row: dict[str, Any] = {}
            for direction in ("download", "upload"):
                rates = [transfer.mib_s for transfer in runs[system, direction]]
                nginx = [transfer.mib_s for transfer in runs["nginx", direction]]
                row[direction] = {
                    "mib_s": statistics.median(rates),
                    "vs_nginx": median_ratio(rates, nginx),
                    "rss_growth_kib": growth[system, direction] if system in self.pids else None,
                }
            results[system] = row

    def _transfer(self, system: str, direction: str) -> tuple[load.Transfer, int]:
        """One 1 GiB transfer through `system`, and its process's peak RSS growth (KiB)."""
        pid = self.pids.get(system)
        before = 0
        if pid is not None:
            stack.reset_peak(pid)
            before = stack.rss_kib(pid)
        if direction == "download":
            transfer = load.curl_download(f"{self.url(system)}/v1/files/{self.ids.big}/content", fixtures.TOKEN)
        else:
            transfer, _ = load.curl_upload(f"{self.url(system)}/v1/files", fixtures.TOKEN, self.big_file)
        assert transfer.status == 200 and transfer.nbytes >= self.args.big_mib << 20, (system, transfer)
        return transfer, (stack.peak_kib(pid) - before) if pid is not None else 0

    # -- store -------------------------------------------------------------------------------

    def redis_memory(self) -> None:
        client = redis.Redis(host=HOST, port=self.ports["redis"])
        pipe = client.pipeline(transaction=False)
        for file_id in self.ids.listed:
            pipe.execute_command("MEMORY", "USAGE", PREFIX + file_id, "SAMPLES", "0")
        sizes = [int(size) for size in pipe.execute()]
        client.close()
        self.results["store"]["redis_memory_usage_per_record"] = statistics.fmean(sizes)
        self.results["store"]["redis_memory_usage_sampled"] = len(sizes)

    async def _lookups(self) -> None:
        """`--rounds` rounds of `--lookups` sequential get() calls on random ids per store, the
        stores alternating, the round with the median p99 kept: one round can catch a moment
        of the machine's (run 15's first run gave 1.1 ms; the same lookups alone, 0.2-0.3)."""
        rng = random.Random(7)
        sample = [rng.choice(self.all_ids) for _ in range(self.args.lookups)]
        redis_store = RedisStore(connect(self.redis_url, 1.0))
        sqlite_store = SqliteStore(self.sqlite_path, 1.0)
        await sqlite_store.open()
        stores = {"redis": redis_store, "sqlite": sqlite_store}
        for store in stores.values():
            for file_id in sample[:500]:
                await store.get(file_id)  # warm-up: connection, page cache
        rounds: dict[str, list[tuple[float, float]]] = {name: [] for name in stores}
        for round_ in range(self.args.rounds):
            for name in stores if round_ % 2 == 0 else reversed(stores):
                timings = []
                for file_id in sample:
                    started = time.perf_counter()
                    record = await stores[name].get(file_id)
                    timings.append(time.perf_counter() - started)
                    assert record is not None and record.file_id == file_id
                timings.sort()
                p50, p99 = timings[len(timings) // 2] * 1000, timings[int(len(timings) * 0.99)] * 1000
                rounds[name].append((p50, p99))
                log(f"store {name}: lookup p50 {p50:.3f} ms, p99 {p99:.3f} ms over {len(timings)} lookups")
        for name, measured in rounds.items():
            p50, p99 = sorted(measured, key=lambda pair: pair[1])[len(measured) // 2]
            self.results["store"][f"{name}_lookup_p50_ms"] = p50
            self.results["store"][f"{name}_lookup_p99_ms"] = p99
        await redis_store.close()
        await sqlite_store.close()

    # -- profile -----------------------------------------------------------------------------

    def profile(self, system: str = "gw-redis") -> str:
        raw = self.run / "profile.raw.txt"
        case = self.args.profile_case
        ids = self.ids.blocked if case == "blocked" else self.ids.allowed
        script = self.script(case, ids, "/content")
        seconds = self.args.profile_seconds
        result: dict[str, load.WrkResult] = {}

        def drive() -> None:
            result["wrk"] = load.wrk(self.url(system), script, connections=32, seconds=seconds + 3, warmup=0)

        driver = threading.Thread(target=drive)
        driver.start()
        time.sleep(1)
        subprocess.run(
            ["py-spy", "record", "--pid", str(self.pids[system]), "--duration", str(seconds),
             "--rate", "250", "--format", "raw", "--nonblocking", "--output", str(raw)],
            check=True, capture_output=True,
        )
        driver.join()
        summary = pyspy_summary.summarise(raw.read_text())
        if self.args.profile_out:
            shutil.copy(raw, self.args.profile_out)
        header = (f"py-spy, {seconds}s at 250 Hz on {LABELS[system]} under {case} downloads, c=32 "
                  f"({result['wrk'].rps:.0f} rps while sampled)")
        return header + "\n\n" + summary.table(self.args.profile_top)


def median_ratio(values: list[float], bases: list[float]) -> float:
    """Each value over the base measured in the same round, the median over rounds."""
    return statistics.median(value / base for value, base in zip(values, bases, strict=True))


def against(runs: list[load.WrkResult], bases: list[load.WrkResult]) -> dict[str, float]:
    """One system against another measured in the same rounds: the rate as a ratio, the
    latencies as differences, each the median over rounds."""
    pairs = list(zip(runs, bases, strict=True))
    return {
        "rps": median_ratio([run.rps for run in runs], [base.rps for base in bases]),
        **{key: statistics.median(getattr(run, key) - getattr(base, key) for run, base in pairs)
           for key in ("p50_ms", "p99_ms")},
    }


def upload_answers_early(port: int, total: int = 16 << 20, pieces: int = 32) -> tuple[bool, int]:
    """POST a body in paced pieces; True when any response byte arrives before the last piece."""
    piece = os.urandom(total // pieces)
    with socket.create_connection((HOST, port), timeout=10) as sock:
        sock.sendall(
            f"POST /v1/files HTTP/1.1\r\nHost: {HOST}\r\nAuthorization: Bearer {fixtures.TOKEN}\r\n"
            f"Content-Type: application/octet-stream\r\nContent-Length: {len(piece) * pieces}\r\n"
            "Connection: close\r\n\r\n".encode()
        )
        early = False
        for _ in range(pieces):
            readable, _, _ = select.select([sock], [], [], 0)
            early = early or bool(readable)
            sock.sendall(piece)
            time.sleep(0.02)
        head = sock.recv(64).decode(errors="replace")
    return early, int(head.split()[1]) if head.startswith("HTTP/") else 0


# -- the table -------------------------------------------------------------------------------


def _fmt(value: float, digits: int = 0) -> str:
    return f"{value:,.{digits}f}"


def render(results: dict[str, Any], args: argparse.Namespace) -> str:
    cases = results["cases"]
    store = results["store"]

    def rate_cells(case: str, key: str, digits: int, ratio: bool) -> list[str]:
        data = cases.get(case, {})
        cells = []
        for system in SYSTEMS:
            if system not in data:
                cells.append("—")
                continue
            value = data[system][key]
            text = _fmt(value, digits)
            within = data[system].get("within", {})
            if system in GATEWAYS and ratio and within:
                text += (f" ({within['nginx']['rps']:.2f}× nginx, "
                         f"{within['aiohttp']['rps']:.2f}× aiohttp, within rounds)")
            elif system in GATEWAYS and ratio:  # blocked: no reference answers it; vs small_c32's
                refs = cases["small_c32"]
                text += (f" ({value / refs['nginx'][key]:.2f}× nginx, "
                         f"{value / refs['aiohttp'][key]:.2f}× aiohttp)")
            elif system in GATEWAYS and within:
                text += (f" ({within['direct'][key]:+.2f} vs direct, "
                         f"{within['aiohttp'][key]:+.2f} vs aiohttp, within rounds)")
            cells.append(text)
        return cells

    rows: list[tuple[str, str, list[str]]] = [
        ("allowed small download (1 KiB), c=32", "rps", rate_cells("small_c32", "rps", 0, True)),
        ("", "p50 ms", rate_cells("small_c32", "p50_ms", 2, False)),
        ("", "p99 ms", rate_cells("small_c32", "p99_ms", 2, False)),
        ("allowed small download (1 KiB), c=1", "p50 ms", rate_cells("small_c1", "p50_ms", 2, False)),
        ("", "p99 ms", rate_cells("small_c1", "p99_ms", 2, False)),
        ("blocked download (no_download, no upstream call), c=32", "rps",
         rate_cells("blocked_c32", "rps", 0, True)),
        ("", "p99 ms", rate_cells("blocked_c32", "p99_ms", 2, False)),
        ("retrieve metadata, c=32", "rps", rate_cells("meta_c32", "rps", 0, True)),
        ("", "p99 ms", rate_cells("meta_c32", "p99_ms", 2, False)),
        (f"JSON POST to an API without rules ({len(fixtures.EMBEDDINGS_BODY):,} B, read and checked "
         "for file ids), c=32", "rps", rate_cells("json_c32", "rps", 0, True)),
        ("", "p99 ms", rate_cells("json_c32", "p99_ms", 2, False)),
    ]
    lists = cases["list"]
    list_cells = []
    for system in SYSTEMS:
        ms = lists[system]["seconds"] * 1000
        text = f"{ms:,.0f} ms ({lists[system]['client_requests']} req)"
        if system in GATEWAYS:
            text += f" ({ms / (lists['direct']['seconds'] * 1000):.2f}× direct, {ms / (lists['nginx']['seconds'] * 1000):.2f}× nginx)"
        list_cells.append(text)
    rows.append((f"list with filtering: {lists['gw-redis']['items']:,} visible among {args.listed:,} files",
                 "time", list_cells))
    big = cases["big"]
    for direction in ("download", "upload"):
        cells, rss = [], []
        for system in SYSTEMS:
            value = big[system][direction]["mib_s"]
            text = f"{value:,.0f}"
            if system in GATEWAYS:
                text += (f" ({big[system][direction]['vs_nginx']:.2f}× nginx within rounds, "
                         f"{value / big['aiohttp'][direction]['mib_s']:.2f}× aiohttp)")
            cells.append(text)
            growth = big[system][direction]["rss_growth_kib"]
            rss.append("—" if growth is None else f"{growth / 1024:.1f} MiB")
        rows.append((f"{args.big_mib} MiB {direction}", "MiB/s", cells))
        rows.append(("", "peak RSS growth", rss))
    header = "| case | figure | " + " | ".join(LABELS[s] for s in SYSTEMS) + " |"
    lines = [header, "|" + "---|" * (len(SYSTEMS) + 2)]
    lines += [f"| {case} | {figure} | " + " | ".join(cells) + " |" for case, figure, cells in rows]
    lines.append(
        f"| store ({store['records']:,} records) | Redis bytes/record | | | | "
        f"{store['redis_memory_usage_per_record']:.0f} (MEMORY USAGE, mean of {store['redis_memory_usage_sampled']:,}); "
        f"{store['redis_used_memory_per_record']:.0f} (used_memory delta) | — |"
    )
    lines.append(
        f"| | lookup p50 / p99 ms | | | | {store['redis_lookup_p50_ms']:.3f} / {store['redis_lookup_p99_ms']:.3f} "
        f"| {store['sqlite_lookup_p50_ms']:.3f} / {store['sqlite_lookup_p99_ms']:.3f} |"
    )
    levers = results["levers"]
    if levers:
        lines += ["", "| lever or floor (small download, c=32) | rps | p50 ms | p99 ms "
                  "| vs gateway + Redis, same round | × nginx |", "|---|---:|---:|---:|---:|---:|"]
        nginx = cases["small_c32"]["nginx"]["rps"]
        for system, data in levers.items():
            lines.append(f"| {LABELS[system]} | {data['rps']:,.0f} | {data['p50_ms']:.2f} | {data['p99_ms']:.2f} "
                         f"| {data['vs_gateway']:.2f}× | {data['rps'] / nginx:.2f}× |")
    return "\n".join(lines)


def targets(results: dict[str, Any], size: str = "1 GiB") -> list[tuple[str, str, bool]]:
    cases, store = results["cases"], results["store"]
    out: list[tuple[str, str, bool]] = []

    def add(name: str, measured: str, ok: bool) -> None:
        out.append((name, measured, ok))

    for gw in GATEWAYS:
        label = LABELS[gw]
        small = cases["small_c32"][gw]["within"]
        r_nginx, r_bare = small["nginx"]["rps"], small["aiohttp"]["rps"]
        add(f"{label}: small downloads ≥ 0.30× nginx proxy_pass rps", f"{r_nginx:.2f}×", r_nginx >= 0.30)
        add(f"{label}: small downloads ≥ 0.90× bare aiohttp rps", f"{r_bare:.2f}×", r_bare >= 0.90)
        over_direct = cases["small_c1"][gw]["within"]["direct"]
        d50, d99 = over_direct["p50_ms"], over_direct["p99_ms"]
        add(f"{label}: added latency at c=1 ≤ 1 ms p50", f"+{d50:.2f} ms", d50 <= 1.0)
        add(f"{label}: added latency at c=1 ≤ 3 ms p99", f"+{d99:.2f} ms", d99 <= 3.0)
        blocked = cases["blocked_c32"][gw]["rps"]
        add(f"{label}: blocked downloads ≥ 5,000 rps", f"{blocked:,.0f} rps", blocked >= 5000)
        for direction in ("download", "upload"):
            big = cases["big"]
            growth = big[gw][direction]["rss_growth_kib"] / 1024
            add(f"{label}: {size} {direction} RSS growth < 10 MB", f"{growth:.1f} MiB", growth * 1.048576 < 10)
            ratio = big[gw][direction]["vs_nginx"]
            add(f"{label}: {size} {direction} throughput ≥ nginx proxy_pass", f"{ratio:.2f}×", ratio >= 1.0)
        lst = cases["list"]
        ratio = lst[gw]["seconds"] / lst["direct"]["seconds"]
        add(f"{label}: list ≤ 2× the upstream's own time", f"{ratio:.2f}×", ratio <= 2.0)
    per = store["redis_memory_usage_per_record"]
    add("Redis ≤ 300 bytes per record (MEMORY USAGE)", f"{per:.0f} B", per <= 300)
    for name in ("redis", "sqlite"):
        p99 = store[f"{name}_lookup_p99_ms"]
        add(f"{name} store lookup p99 ≤ 1 ms at {store['records']:,} records", f"{p99:.3f} ms", p99 <= 1.0)
    return out


def machine() -> str:
    cpu = "unknown CPU"
    with open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    versions = []
    for argv in (["nginx", "-v"], ["wrk", "-v"], ["redis-server", "--version"]):
        out = subprocess.run(argv, capture_output=True, text=True)
        versions.append((out.stdout + out.stderr).strip().splitlines()[0])
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / (1 << 30)
    return (f"{os.cpu_count()} CPUs ({cpu}), {mem:.0f} GiB RAM, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}, aiohttp {aiohttp.__version__}; " + "; ".join(versions))


def main() -> int:
    parser = argparse.ArgumentParser(description="files-gateway benchmark (issue 6)")
    parser.add_argument("--seconds", type=int, default=10, help="wrk duration of each measured run")
    parser.add_argument("--rounds", type=int, default=1,
                        help="runs of each rate case per system, alternating; the median is kept")
    parser.add_argument("--records", type=int, default=1_000_000, help="records in each store")
    parser.add_argument("--listed", type=int, default=100_000, help="files in the upstream list")
    parser.add_argument("--big-mib", type=int, default=1024, help="size of the big transfer")
    parser.add_argument("--big-runs", type=int, default=3,
                        help="rounds of one big transfer per system and way, alternating (median kept)")
    parser.add_argument("--list-runs", type=int, default=5)
    parser.add_argument("--lookups", type=int, default=20_000)
    parser.add_argument("--nginx-workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--profile", action="store_true", help="also profile the gateway with py-spy")
    parser.add_argument("--profile-case", choices=("small", "blocked"), default="small",
                        help="the downloads profiled: allowed (small) or refused by policy (blocked)")
    parser.add_argument("--profile-seconds", type=int, default=15)
    parser.add_argument("--profile-top", type=int, default=15)
    parser.add_argument("--profile-out", type=Path, help="keep py-spy's raw collapsed stacks here")
    parser.add_argument("--out", type=Path, help="also write the report (markdown) here")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument("--keep", action="store_true", help="keep the run directory (logs, configs)")
    parser.add_argument("--nice", type=int, default=-10 if os.geteuid() == 0 else 0,
                        help="niceness increment for the bench and everything it starts (shields the "
                             "figures from other work on the machine; the same for every system)")
    args = parser.parse_args()
    if args.nice:
        os.nice(args.nice)
    for tool in ("nginx", "wrk", "redis-server", "redis-cli", "curl", *(["py-spy"] if args.profile else [])):
        if shutil.which(tool) is None:
            print(f"bench: {tool} is missing (apt-get install -y nginx wrk redis-server curl; pip install py-spy)",
                  file=sys.stderr)
            return 2
    started = time.monotonic()
    load_before = Path("/proc/loadavg").read_text().split()[:3]
    run = Path(tempfile.mkdtemp(prefix="fgw-bench-"))
    shm = Path("/dev/shm")
    fast = Path(tempfile.mkdtemp(prefix="fgw-bench-", dir=shm)) if shm.is_dir() else run
    for path in {run, fast}:
        path.chmod(0o755)
    log(f"run directory {run} (bulk files in {fast})")
    profile_text = ""
    try:
        with stack.processes(run) as procs:
            bench = Bench(args, run, fast, procs)
            steps: list[tuple[str, Callable[[], object]]] = [
                ("start", bench.start), ("check", bench.check), ("rates", bench.rates),
                ("list", lambda: asyncio.run(bench._lists())), ("1 GiB transfers", bench.transfers),
                ("redis memory", bench.redis_memory), ("store lookups", lambda: asyncio.run(bench._lookups())),
            ]
            for name, step in steps:
                log(f"step: {name}")
                step()
            if args.profile:
                log("step: profile")
                profile_text = bench.profile()
            results = bench.results
    finally:
        if not args.keep:
            shutil.rmtree(run, ignore_errors=True)
        if fast != run:
            shutil.rmtree(fast, ignore_errors=True)
    results["machine"] = machine()
    results["elapsed_seconds"] = time.monotonic() - started
    results["loadavg_before"] = " ".join(load_before)
    verdicts = targets(results, "1 GiB" if args.big_mib == 1024 else f"{args.big_mib} MiB")
    report = [
        f"Machine: {results['machine']}",
        f"One run, {args.seconds}s wrk per figure after a 2s warm-up"
        + (f", the median of {args.rounds} alternating rounds" if args.rounds > 1 else "")
        + "; wrk -t2 at c=32, -t1 at c=1; "
        f"everything on 127.0.0.1; took {results['elapsed_seconds'] / 60:.1f} min; load average before the run: "
        f"{results['loadavg_before']}; niceness {os.nice(0)}.",
        *(f"Check: {line}" for line in results["checks"]),
        *(["Caution: one round. Shared machines drift by half between rounds (docs/performance.md, "
           "runs 22 to 26), so the verdicts below may be the machine's; rerun with --rounds 3."]
          if args.rounds == 1 else []),
        "",
        render(results, args),
        "",
        "| target | measured | verdict |",
        "|---|---:|---|",
        *(f"| {name} | {measured} | {'met' if ok else '**missed**'} |" for name, measured, ok in verdicts),
    ]
    if profile_text:
        report += ["", profile_text]
    text = "\n".join(report)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
