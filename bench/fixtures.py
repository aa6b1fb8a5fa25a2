"""What the bench serves and stores: ids, records, nginx's pages and config, the gateway config.

Records are written with the project's own store classes and FileRecord.to_json (bulk filler
rows reuse one FileRecord's JSON with the id swapped, which is byte-for-byte what to_json gives).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import random
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path

from gateway.records import NO_DOWNLOAD, FileRecord
from gateway.store.redis import PREFIX
from gateway.store.sqlite import SqliteStore

TOKEN = "sk-bench-alice"
PRINCIPAL, ORG = "alice", "acme"
OTHER_OWNER, OTHER_ORG = "key:5e0c1f2a9b7d", "other"
POLICY_VERSION = "2026-11-26"
# What an SDK sends to an API the gateway has no rules for (embeddings): about 1 KiB of JSON,
# ASCII (it is written into wrk's Lua script as a string literal).
EMBEDDINGS_BODY = json.dumps({
    "model": "text-embedding-3-small", "encoding_format": "float",
    "input": [f"Row {row}: the quarterly figures for region {row} rose by {row * 7 % 31} per cent."
              for row in range(14)],
}, separators=(",", ":"))
CREATED_AT = 1_767_000_000
PAGE = 10_000


@dataclass(frozen=True)
class Ids:
    allowed: list[str]   # alice's batch files: downloads and retrieves are allowed
    blocked: list[str]   # alice's files flagged no_download: refused with no upstream call
    listed: list[str]    # the 100k files of the upstream list, every 10th one alice's org
    filler: list[str]    # other orgs' records, so the store holds `total` records
    big: str             # the 1 GiB file


def make_ids(*, hot: int = 1000, listed: int = 100_000, total: int = 1_000_000) -> Ids:
    """OpenAI-shaped ids (`file-` and 22 url-safe characters), the same on every run."""
    rng = random.Random(6)

    def one() -> str:
        token = base64.urlsafe_b64encode(rng.randbytes(17)).decode()[:22]
        return "file-" + token

    allowed = [one() for _ in range(hot)]
    blocked = [one() for _ in range(hot)]
    listed_ids = [one() for _ in range(listed)]
    big = one()
    filler = [one() for _ in range(max(0, total - 2 * hot - listed - 1))]
    return Ids(allowed, blocked, listed_ids, filler, big)


def visible(index: int) -> bool:
    """10k of the 100k listed files belong to the caller's org."""
    return index % 10 == 0


def _record(file_id: str, *, mine: bool, flags: frozenset[str] = frozenset()) -> FileRecord:
    return FileRecord(
        file_id=file_id,
        owner=PRINCIPAL if mine else OTHER_OWNER,
        org=ORG if mine else OTHER_ORG,
        purpose="batch",
        flags=flags,
        created_at=CREATED_AT,
        policy_version=POLICY_VERSION,
    )


def records_json(ids: Ids) -> list[tuple[str, str]]:
    """(file_id, the JSON the store keeps) for every record of the run."""
    rows = [(i, _record(i, mine=True).to_json()) for i in ids.allowed]
    rows += [(i, _record(i, mine=True, flags=frozenset({NO_DOWNLOAD})).to_json()) for i in ids.blocked]
    rows += [(i, _record(i, mine=visible(n)).to_json()) for n, i in enumerate(ids.listed)]
    rows.append((ids.big, _record(ids.big, mine=True).to_json()))
    placeholder = "file-" + "X" * 22
    template = _record(placeholder, mine=False).to_json()
    head, tail = template.split(placeholder)
    rows += [(i, head + i + tail) for i in ids.filler]
    return rows


def populate_redis(port: int, rows: list[tuple[str, str]]) -> None:
    """SET every record under the store's own key prefix, through `redis-cli --pipe`."""
    def resp(*parts: str) -> bytes:
        out = [f"*{len(parts)}\r\n".encode()]
        for part in parts:
            raw = part.encode()
            out.append(b"$%d\r\n%s\r\n" % (len(raw), raw))
        return b"".join(out)

    payload = b"".join(resp("SET", PREFIX + file_id, data) for file_id, data in rows)
    subprocess.run(
        ["redis-cli", "-h", "127.0.0.1", "-p", str(port), "--pipe"], input=payload, check=True,
        stdout=subprocess.DEVNULL,
    )


def populate_sqlite(path: Path, rows: list[tuple[str, str]]) -> None:
    """Create the schema with the project's SqliteStore, then bulk insert in one transaction."""
    async def create() -> None:
        store = SqliteStore(path, 1.0)
        await store.open()
        await store.close()

    asyncio.run(create())
    with sqlite3.connect(path) as db:
        db.executemany("INSERT OR REPLACE INTO files (file_id, data) VALUES (?, ?)", rows)
    sqlite3.connect(path).close()


def file_object(file_id: str, size: int = 1024) -> dict[str, object]:
    return {
        "object": "file", "id": file_id, "purpose": "batch", "filename": "input.jsonl",
        "bytes": size, "created_at": CREATED_AT, "expires_at": None, "status": "processed",
        "status_details": None,
    }


def write_www(www: Path, ids: Ids, big_bytes: int) -> None:
    """The upstream's static content: a 1 KiB file, the 1 GiB file, the 100k-file list pages."""
    (www / "pages").mkdir(parents=True, exist_ok=True)
    (www / "small.bin").write_bytes(hashlib.sha256(b"bench").digest() * 32)
    block = random.Random(1).randbytes(1 << 20)
    with open(www / "big.bin", "wb") as big:
        for _ in range(big_bytes >> 20):
            big.write(block)
    after = ""
    for start in range(0, len(ids.listed), PAGE):
        chunk = ids.listed[start : start + PAGE]
        page = {
            "object": "list", "data": [file_object(i) for i in chunk], "first_id": chunk[0],
            "last_id": chunk[-1], "has_more": start + PAGE < len(ids.listed),
        }
        (www / "pages" / f"page_{after}.json").write_text(json.dumps(page, separators=(",", ":")))
        after = chunk[-1]


NGINX_CONF = """\
{user}worker_processes {workers};
daemon off;
pid {run}/nginx.pid;
error_log {run}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_requests 1000000;
    keepalive_timeout 75s;
    client_body_temp_path {fast}/nginx-body;
    proxy_temp_path {fast}/nginx-proxy;
    fastcgi_temp_path {fast}/nginx-fastcgi;
    uwsgi_temp_path {fast}/nginx-uwsgi;
    scgi_temp_path {fast}/nginx-scgi;
    types {{ application/octet-stream bin; application/json json; }}
    default_type application/octet-stream;

    # The upstream: a fast stand-in for the OpenAI Files API.
    server {{
        listen 127.0.0.1:{upstream_port};
        client_max_body_size 0;
        root {www};
        location = /v1/files {{
            if ($request_method = POST) {{ rewrite ^ /_upload last; }}
            default_type application/json;
            # Pre-generated pages of the 100k-file list, keyed by the `after` cursor.
            try_files /pages/page_$arg_after.json =404;
        }}
        location = /_upload {{
            internal;
            # proxy_request_buffering on (the default) reads the whole body before the sink is
            # called, so the file object is answered only after every byte arrived.
            proxy_request_buffering on;
            proxy_pass http://127.0.0.1:{sink_port}/;
        }}
        # An API the gateway has no rules for: it reads and checks the JSON body, then sends it.
        location = /v1/embeddings {{
            default_type application/json;
            return 200 '{{"object":"list","data":[{{"object":"embedding","index":0,"embedding":[0.0125,-0.0078]}}],"model":"text-embedding-3-small","usage":{{"prompt_tokens":160,"total_tokens":160}}}}';
        }}
        location = /v1/files/{big}/content {{ alias {www}/big.bin; }}
        location ~ "^/v1/files/[A-Za-z0-9_-]+/content$" {{ try_files /small.bin =404; }}
        location ~ "^/v1/files/(?<fid>[A-Za-z0-9_-]+)$" {{
            default_type application/json;
            return 200 '{{"object":"file","id":"$fid","purpose":"batch","filename":"input.jsonl","bytes":1024,"created_at":{created},"expires_at":null,"status":"processed","status_details":null}}';
        }}
    }}

    # Answers an upload with a fresh file object once the upstream server has the whole body.
    server {{
        listen 127.0.0.1:{sink_port};
        client_max_body_size 0;
        location / {{
            default_type application/json;
            return 200 '{{"object":"file","id":"file-$request_id","purpose":"batch","filename":"upload.bin","bytes":$content_length,"created_at":{created},"expires_at":null,"status":"processed","status_details":null}}';
        }}
    }}

    # The reference: the plain proxy a user could run instead of the gateway.
    upstream files_api {{
        server 127.0.0.1:{upstream_port};
        keepalive 64;
    }}
    server {{
        listen 127.0.0.1:{proxy_port};
        client_max_body_size 0;
        location / {{
            proxy_pass http://files_api;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_request_buffering off;   # stream uploads, as the gateway does
            proxy_max_temp_file_size 0;    # stream downloads through memory buffers, no disk
        }}
    }}
}}
"""


def nginx_conf(
    *, run: Path, fast: Path, www: Path, big: str, upstream_port: int, sink_port: int,
    proxy_port: int, workers: int,
) -> str:
    return NGINX_CONF.format(
        user="user root;\n" if os.geteuid() == 0 else "", workers=workers, run=run, fast=fast,
        www=www, big=big, upstream_port=upstream_port, sink_port=sink_port,
        proxy_port=proxy_port, created=CREATED_AT,
    )


def gateway_config(max_upload: int) -> str:
    digest = hashlib.sha256(TOKEN.encode()).hexdigest()
    return (
        "identity:\n"
        "  keys:\n"
        f"    - {{sha256: \"{digest}\", principal: {PRINCIPAL}, org: {ORG}}}\n"
        "limits:\n"
        f"  max_upload_bytes: {max_upload}\n"
    )
