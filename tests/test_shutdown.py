"""Graceful shutdown on SIGTERM: readiness off, no new connections, in-flight streams finish."""

from __future__ import annotations

import hashlib
import http.client
import io
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
import yaml

from tests.cli_processes import Processes
from tests.conftest import Sandbox, identity_keys
from tests.http import call
from tests.servers import free_port, wait_for_port

SIZE = 48 * 1024 * 1024



def slow_download(port: int, path: str, result: dict[str, object],
                  started: threading.Event) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("GET", path, headers={"Authorization": "Bearer sk-alice"})
    response = conn.getresponse()
    digest = hashlib.sha256()
    result["status"] = response.status
    while chunk := response.read(1024 * 1024):
        digest.update(chunk)
        started.set()
        time.sleep(0.05)  # a slow reader keeps the stream in flight through the drain
    result["sha256"] = digest.hexdigest()
    conn.close()


def slow_upload(port: int, result: dict[str, object], started: threading.Event) -> None:
    boundary = "drainboundary"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"u\"\r\n"
            "\r\n").encode()

    def body() -> Iterator[bytes]:
        yield head
        for index in range(20):
            time.sleep(0.1)
            if index == 3:
                started.set()
            yield b"u" * 65536
        yield f"\r\n--{boundary}--\r\n".encode()

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("POST", "/v1/files", body=body(), encode_chunked=True, headers={
        "Authorization": "Bearer sk-alice",
        "Content-Type": f"multipart/form-data; boundary={boundary}"})
    response = conn.getresponse()
    result["status"] = response.status
    result["body"] = response.read()
    conn.close()


def test_sigterm_drains_in_flight_streams(
    sandbox: Sandbox, processes: Processes, tmp_path: Path
) -> None:
    """SIGTERM: /readyz 503, new connections refused, in-flight transfers complete, exit 0."""
    config = tmp_path / "g.yaml"
    config.write_text(yaml.safe_dump({"identity": {"keys": identity_keys()},
                                      "shutdown_timeout_seconds": 20}))
    port, admin = free_port(), free_port()
    gateway = processes.spawn(
        "serve", "--config", str(config), "--upstream", sandbox.url, "--listen",
        f"127.0.0.1:{port}", "--admin-listen", f"127.0.0.1:{admin}", cwd=tmp_path)
    wait_for_port(port)
    data = hashlib.sha256(b"drain").digest() * (SIZE // 32)
    client = openai.OpenAI(api_key="sk-alice", base_url=f"http://127.0.0.1:{port}/v1",
                           max_retries=0)
    file_id = client.files.create(file=("big.bin", io.BytesIO(data)), purpose="batch").id
    client.close()
    assert call(f"http://127.0.0.1:{admin}", "GET", "/readyz").status == 200

    download: dict[str, object] = {}
    upload: dict[str, object] = {}
    in_flight = [threading.Event(), threading.Event()]
    threads = [
        threading.Thread(target=slow_download, args=(port, f"/v1/files/{file_id}/content",
                                                      download, in_flight[0])),
        threading.Thread(target=slow_upload, args=(port, upload, in_flight[1])),
    ]
    for thread in threads:
        thread.start()
    for event in in_flight:  # both transfers are under way before the signal
        assert event.wait(timeout=30)
    gateway.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    assert call(f"http://127.0.0.1:{admin}", "GET", "/readyz").status == 503
    with pytest.raises(OSError):
        call(f"http://127.0.0.1:{port}", "GET", "/v1/files", {"Authorization": "Bearer sk-alice"},
             timeout=2)
    for thread in threads:
        thread.join(timeout=60)
    assert download == {"status": 200, "sha256": hashlib.sha256(data).hexdigest()}
    assert upload["status"] == 200, upload
    assert gateway.wait(timeout=30) == 0
