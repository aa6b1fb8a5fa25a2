"""Shared fixtures: a real redis-server, the sandbox upstream and the gateway, over real HTTP."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import openai
import pytest
import yaml
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from gateway.app import create_app
from gateway.audit import AuditSink
from gateway.health import create_admin_app
from gateway.identity import fingerprint
from gateway.sandbox import create_sandbox_app
from gateway.settings import Settings, load_settings
from tests.cli_processes import Processes
from tests.servers import RedisServer, ServerThread

ROOT = Path(__file__).resolve().parent.parent
# Test principals: alice and bob share org acme; carol is in globex; root is an acme admin.
KEYS = {
    "alice": ("sk-alice", "acme", False),
    "bob": ("sk-bob", "acme", False),
    "carol": ("sk-carol", "globex", False),
    "root": ("sk-root", "acme", True),
}


def identity_keys() -> list[dict[str, Any]]:
    return [
        {"sha256": fingerprint(key), "principal": name, "org": org, "admin": admin}
        for name, (key, org, admin) in KEYS.items()
    ]


def policy_file(directory: Path, change: Callable[[dict[str, Any]], None]) -> Path:
    """A copy of the shipped policy with `change` applied, for tests of other policies."""
    policy = yaml.safe_load((ROOT / "config" / "policy.yaml").read_text())
    change(policy)
    path = directory / "policy.yaml"
    path.write_text(yaml.safe_dump(policy))
    return path


def make_settings(upstream: str, store: str, **overrides: Any) -> Settings:
    flags: dict[str, Any] = {
        "upstream.url": upstream,
        "store": store,
        "identity.keys": identity_keys(),
        "listen": "127.0.0.1:0",
        "admin_listen": "127.0.0.1:0",
    }
    flags.update(overrides)
    return load_settings(None, env={}, flags=flags)


@dataclass
class Sandbox:
    server: ServerThread

    @property
    def url(self) -> str:
        return self.server.url()

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.url + path, data=data, method=method,
            headers={"Content-Type": "application/json"} if data else {},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
        return json.loads(raw) if raw else None

    def requests(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/__sandbox/requests"))

    def clear(self) -> None:
        self._call("DELETE", "/__sandbox/requests")

    def seed(self, purpose: str, content: str = "seeded", filename: str = "seed.txt") -> str:
        made = self._call(
            "POST", "/__sandbox/files", {"purpose": purpose, "content": content, "filename": filename}
        )
        return str(made["id"])

    def chatkit_thread(self, user: str, text: str = "hello") -> str:
        """A ChatKit thread of `user`'s, as a ChatKit frontend makes one: no API route can."""
        made = self._call("POST", "/__sandbox/chatkit/threads", {"user": user, "text": text})
        return str(made["id"])

    def live_incoming(self, store: bool = False) -> str:
        """An incoming SIP Live session, as a phone call makes one: no API route can."""
        made = self._call("POST", "/__sandbox/live/incoming", {"store": store})
        return str(made["id"])

    def realtime_incoming(self) -> str:
        """An incoming SIP Realtime call, as a phone call makes one: no API route can."""
        made = self._call("POST", "/__sandbox/realtime/incoming", {})
        return str(made["id"])

    def safety_alert(self, response_id: str, error_type: str = "other") -> dict[str, Any]:
        """A safety alert about that response, as OpenAI's reviewers make one."""
        made = self._call(
            "POST", "/__sandbox/safety/alerts", {"response_id": response_id, "error_type": error_type}
        )
        return dict(made)

    def safety_case(self, entity_identifier: str, notice: str = "warning") -> dict[str, Any]:
        """A safety case (a warning or a deactivation) about that safety identifier."""
        made = self._call(
            "POST", "/__sandbox/safety/cases", {"entity_identifier": entity_identifier, "notice": notice}
        )
        return dict(made)

    def faults(self, faults: dict[str, Any]) -> None:
        self._call("POST", "/__sandbox/faults", faults)


@dataclass
class Gateway:
    server: ServerThread
    sandbox: Sandbox
    settings: Settings
    clients: dict[str, openai.OpenAI] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.server.url(0)

    @property
    def admin_url(self) -> str:
        return self.server.url(1)

    @property
    def app(self) -> web.Application:
        return self.server.apps[0]

    def client(self, who: str) -> openai.OpenAI:
        """One SDK client per principal (or raw key), closed when the gateway stops."""
        if who not in self.clients:
            key = KEYS[who][0] if who in KEYS else who
            self.clients[who] = openai.OpenAI(api_key=key, base_url=self.url + "/v1", max_retries=0)
        return self.clients[who]

    def close(self) -> None:
        for client in self.clients.values():
            client.close()
        self.server.stop()

    def async_client(self, who: str) -> openai.AsyncOpenAI:
        key = KEYS[who][0] if who in KEYS else who
        return openai.AsyncOpenAI(api_key=key, base_url=self.url + "/v1", max_retries=0)

    def metrics(self) -> str:
        with urllib.request.urlopen(self.admin_url + "/metrics", timeout=10) as response:
            return str(response.read().decode())

    def metric(self, name: str, **labels: str) -> float:
        """The value of one sample scraped from the admin listener (0 when absent)."""
        for family in text_string_to_metric_families(self.metrics()):
            for sample in family.samples:
                if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                    return float(sample.value)
        return 0.0


class MemorySink:
    """Keeps audit events in memory, so a test can read what was written."""

    name = "memory"

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def write(self, event: Mapping[str, Any]) -> None:
        self.events.append(dict(event))


def start_gateway(
    sandbox: Sandbox, settings: Settings, audit_sinks: list[AuditSink] | None = None
) -> ServerThread:
    app_holder: list[web.Application] = []

    def gateway_app() -> web.Application:
        app = create_app(settings, audit_sinks=audit_sinks)
        app_holder.append(app)
        return app

    return ServerThread(gateway_app, lambda: create_admin_app(app_holder[0])).start()


@pytest.fixture
def processes() -> Iterator[Processes]:
    """`files-gateway` commands run as real processes; all are stopped after the test."""
    running = Processes()
    yield running
    running.stop_all()


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    server = ServerThread(create_sandbox_app).start()
    yield Sandbox(server)
    server.stop()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of the test's own, for tests that pause or kill it."""
    server = RedisServer(tmp_path).start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "redis"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'records.db'}"
    redis_server: RedisServer = request.getfixturevalue("redis_server")
    return redis_server.url


class GatewayFactory(Protocol):
    # `sinks` and `store` are typed Any so that callers may also pass settings as **{...}.
    def __call__(
        self, change: Callable[[dict[str, Any]], None] | None = None, /, *,
        sinks: Any = None, store: Any = None, **overrides: Any,
    ) -> Gateway: ...


@pytest.fixture
def make_gateway(sandbox: Sandbox, tmp_path: Path) -> Iterator[GatewayFactory]:
    """Gateways in front of the test's sandbox, closed after the test. `change` edits a copy of
    the shipped policy; `store` defaults to one SQLite file the test's gateways share."""
    started: list[Gateway] = []

    def make(
        change: Callable[[dict[str, Any]], None] | None = None, /, *,
        sinks: list[AuditSink] | None = None, store: str | None = None, **overrides: Any,
    ) -> Gateway:
        if change is not None:
            directory = tmp_path / f"policy{len(started)}"
            directory.mkdir()
            overrides["policy"] = str(policy_file(directory, change))
        settings = make_settings(
            sandbox.url, store or f"sqlite:///{tmp_path / 'records.db'}", **overrides
        )
        running = Gateway(start_gateway(sandbox, settings, sinks), sandbox, settings)
        started.append(running)
        return running

    yield make
    for running in started:
        running.close()


@pytest.fixture
def gateway(make_gateway: GatewayFactory, store_url: str) -> Gateway:
    return make_gateway(store=store_url)


@pytest.fixture
def sqlite_gateway(make_gateway: GatewayFactory) -> Gateway:
    return make_gateway()
