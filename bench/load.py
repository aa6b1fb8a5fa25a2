"""Load generation: wrk (from Debian) for request rates, curl for the 1 GiB transfers."""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

# What the openai SDK (3.51, sync client) sends with every call besides Authorization and Accept
# (shared/reference/openai-api-facts.md): every proxy in the bench filters the same headers.
SDK_HEADERS = {
    "User-Agent": "OpenAI/Python 3.51.0",
    "Accept-Encoding": "gzip, deflate",
    "x-stainless-lang": "python",
    "x-stainless-package-version": "3.51.0",
    "x-stainless-os": "Linux",
    "x-stainless-arch": "x64",
    "x-stainless-runtime": "CPython",
    "x-stainless-runtime-version": "3.11.7",
    "x-stainless-async": "false",
    "x-stainless-retry-count": "0",
    "x-stainless-read-timeout": "600",
}
LUA = """\
local ids = {{ {ids} }}
local n, i = #ids, 0
wrk.headers["Authorization"] = "Bearer {token}"
{headers}
function setup(thread)
  thread:set("offset", math.random(n))
end
function init(args)
  i = offset or 0
end
local body = {body}
function request()
  i = i % n + 1
  return wrk.format(body and "POST" or "GET", "{prefix}" .. ids[i] .. "{suffix}", nil, body)
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {{"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"status_errors":%d,' ..
    '"socket_errors":%d}}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status, e.connect + e.read + e.write + e.timeout))
end
"""


@dataclass(frozen=True)
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    status_errors: int
    socket_errors: int


def sdk_headers(suffix: str) -> dict[str, str]:
    """The SDK's headers for a path ending in `suffix`, Authorization aside."""
    return {**SDK_HEADERS, "Accept": "application/binary" if suffix == "/content" else "application/json"}


def write_script(
    path: Path, ids: list[str], token: str, prefix: str, suffix: str, body: str | None = None
) -> Path:
    """Requests as the SDK sends them: `files.content` asks for application/binary, the rest
    for application/json; with `body` (ASCII: a Lua string literal), a JSON POST."""
    quoted = ", ".join(json.dumps(i) for i in ids)
    sent = sdk_headers(suffix) | ({"Content-Type": "application/json"} if body else {})
    headers = "\n".join(
        f"wrk.headers[{json.dumps(name)}] = {json.dumps(value)}" for name, value in sent.items()
    )
    path.write_text(LUA.format(ids=quoted, token=token, prefix=prefix, suffix=suffix, headers=headers,
                               body=json.dumps(body) if body else "nil"))
    return path


def wrk(
    url: str, script: Path, *, connections: int, seconds: int, threads: int | None = None,
    warmup: int = 2,
) -> WrkResult:
    """One warm-up run (connections opened, caches filled), then the measured run."""
    threads = threads or min(2, connections)
    base = ["wrk", f"-t{threads}", f"-c{connections}", "--latency", "--timeout", "5s", "-s", str(script)]
    if warmup:
        subprocess.run([*base, f"-d{warmup}s", url], check=True, capture_output=True)
    out = subprocess.run(
        [*base, f"-d{seconds}s", url], check=True, capture_output=True, text=True
    ).stdout
    match = re.search(r"^WRKJSON (\{.*\})$", out, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"wrk printed no summary:\n{out}")
    data = json.loads(match.group(1))
    return WrkResult(
        rps=data["requests"] / (data["duration_us"] / 1e6),
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        requests=data["requests"],
        status_errors=data["status_errors"],
        socket_errors=data["socket_errors"],
    )


@dataclass(frozen=True)
class Transfer:
    status: int
    seconds: float
    nbytes: int

    @property
    def mib_s(self) -> float:
        return self.nbytes / self.seconds / (1 << 20)


def curl_download(url: str, token: str) -> Transfer:
    out = subprocess.run(
        ["curl", "-sS", "-o", "/dev/null", "-H", f"Authorization: Bearer {token}",
         "-w", "%{http_code} %{time_total} %{size_download}", url],
        check=True, capture_output=True, text=True,
    ).stdout.split()
    return Transfer(int(out[0]), float(out[1]), int(out[2]))


def curl_upload(url: str, token: str, path: Path, *, limit_rate: str | None = None) -> tuple[Transfer, float]:
    """Multipart upload, `purpose` before `file` (the SDK's order); returns (transfer, ttfb)."""
    argv = [
        "curl", "-sS", "-o", "/dev/null", "-H", f"Authorization: Bearer {token}", "-H", "Expect:",
        "-F", "purpose=batch", "-F", f"file=@{path};type=application/octet-stream",
        "-w", "%{http_code} %{time_total} %{size_upload} %{time_starttransfer}", url,
    ]
    if limit_rate:
        argv[1:1] = ["--limit-rate", limit_rate]
    out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout.split()
    return Transfer(int(out[0]), float(out[1]), int(out[2])), float(out[3])
