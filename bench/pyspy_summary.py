"""Summarise a py-spy `--format raw` (collapsed stacks) profile: self time, inclusive time, packages."""

from __future__ import annotations

import re
import sys
from collections import Counter
from dataclasses import dataclass

_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")
# Coarse buckets for self time, first match wins; keys are prefixes of py-spy's short file names.
PACKAGES = (
    ("aiohttp/web_", "aiohttp server"),
    ("aiohttp/client", "aiohttp client"),
    ("aiohttp/connector", "aiohttp client"),
    ("aiohttp/", "aiohttp (shared: parser, writer, streams)"),
    ("redis/", "redis-py"),
    ("prometheus_client/", "prometheus_client (metrics)"),
    ("structlog/", "structlog (audit)"),
    ("logging/", "logging (request log)"),
    ("json/", "json"),
    ("gateway/", "gateway code"),
    ("asyncio/", "asyncio event loop and transports"),
    ("selectors.py", "asyncio event loop and transports"),
    ("uvloop/", "asyncio event loop and transports"),
    ("multidict/", "multidict / yarl"),
    ("yarl/", "multidict / yarl"),
)
# Frames every sample shares (interpreter start-up, the loop itself): left out of inclusive time.
BOILERPLATE = ("<frozen", "asyncio/", "selectors.py", "gateway/cli.py", "gateway/serve.py",
               "gateway/__main__.py", "runpy.py", "threading.py", "concurrent/")


def normalise(path: str) -> str:
    """py-spy prints short names (`asyncio/events.py`); drop any absolute prefix that remains."""
    for marker in ("site-packages/", "dist-packages/"):
        if marker in path:
            return path.split(marker, 1)[1]
    if path.startswith("/") and "/gateway/" in path:
        return "gateway/" + path.split("/gateway/", 1)[1]
    match = re.search(r"/lib/python3\.\d+/(.*)$", path)
    return match.group(1) if match else path


def package(file: str) -> str:
    for key, name in PACKAGES:
        if file.startswith(key):
            return name
    top = file.split("/", 1)[0].removesuffix(".py")
    return "other stdlib" if top in sys.stdlib_module_names else "other"


@dataclass
class Summary:
    samples: int
    self_time: Counter[str]
    inclusive: Counter[str]
    packages: Counter[str]

    def table(self, top: int = 15) -> str:
        def pct(count: int) -> str:
            return f"{100 * count / max(1, self.samples):5.1f}%"

        lines = [f"{self.samples} samples with Python frames (idle time not sampled)", "", "| self | function |", "|---:|---|"]
        lines += [f"| {pct(c)} | `{name}` |" for name, c in self.self_time.most_common(top)]
        lines += ["", "| inclusive | function |", "|---:|---|"]
        lines += [f"| {pct(c)} | `{name}` |" for name, c in self.inclusive.most_common(top)]
        lines += ["", "| self, by package | package |", "|---:|---|"]
        lines += [f"| {pct(c)} | {name} |" for name, c in self.packages.most_common()]
        return "\n".join(lines)


def summarise(raw: str) -> Summary:
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    samples = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = []
        for frame in stack.split(";"):
            match = _FRAME.match(frame.strip())
            if match is None:
                continue
            file = normalise(match.group("file"))
            frames.append((f"{match.group('func')} ({file})", file))
        if not frames:
            continue
        samples += count
        leaf_name, leaf_file = frames[-1]
        self_time[leaf_name] += count
        packages[package(leaf_file)] += count
        for name in {name for name, file in frames if not file.startswith(BOILERPLATE)}:
            inclusive[name] += count
    return Summary(samples, self_time, inclusive, packages)


if __name__ == "__main__":
    with open(sys.argv[1]) as handle:
        print(summarise(handle.read()).table(int(sys.argv[2]) if len(sys.argv) > 2 else 15))
