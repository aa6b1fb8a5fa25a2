"""deploy/k8s: valid for Kubernetes 1.30, raw and rendered, and true to the gateway (issue #7).

Built-in kinds are checked against the Kubernetes 1.30 OpenAPI schemas that kubernetes-validate
ships (offline, strict: an unknown field fails). Custom resources (the Prometheus Operator's
ServiceMonitor) are checked against the structure below. Overlays are rendered with the real
kustomize, built into kubectl.
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
import yaml
from kubernetes_validate import utils as kv  # type: ignore[import-untyped]

from gateway.settings import CONFIG_ENV, ENV_VARS, load_settings

ROOT = Path(__file__).resolve().parent.parent
K8S = ROOT / "deploy" / "k8s"
KUBERNETES = "1.30"
UID = 10001  # the Dockerfile's USER
ADMIN_PORT = 9090
OVERLAYS = ["egress", "sidecar"]

_DURATION = (
    r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?"
    r"(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"
)
_LABELS = {"type": "object", "additionalProperties": {"type": "string"}}
_SELECTOR = {
    "type": "object",
    "additionalProperties": False,
    "properties": {"matchLabels": _LABELS, "matchExpressions": {"type": "array"}},
}
# The fields of monitoring.coreos.com/v1 ServiceMonitor that the manifests may use, with the
# CRD's own types and patterns; anything else is a typo the operator would silently drop.
SERVICE_MONITOR: dict[str, Any] = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "ServiceMonitor"},
        "metadata": {
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"},
                "namespace": {"type": "string"},
                "labels": _LABELS,
                "annotations": _LABELS,
            },
        },
        "spec": {
            "type": "object",
            "required": ["selector", "endpoints"],
            "additionalProperties": False,
            "properties": {
                "jobLabel": {"type": "string"},
                "selector": _SELECTOR,
                "namespaceSelector": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "any": {"type": "boolean"},
                        "matchNames": {"type": "array", "items": {"type": "string"}},
                    },
                },
                "endpoints": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["port"],
                        "additionalProperties": False,
                        "properties": {
                            "port": {"type": "string"},
                            "path": {"type": "string", "pattern": "^/"},
                            "scheme": {"enum": ["http", "https"]},
                            "interval": {"type": "string", "pattern": _DURATION},
                            "scrapeTimeout": {"type": "string", "pattern": _DURATION},
                            "honorLabels": {"type": "boolean"},
                            "relabelings": {"type": "array"},
                            "metricRelabelings": {"type": "array"},
                        },
                    },
                },
            },
        },
    },
}
CUSTOM_RESOURCES = {("monitoring.coreos.com/v1", "ServiceMonitor"): SERVICE_MONITOR}


def validate(doc: dict[str, Any]) -> None:
    """Raise unless doc is a valid Kubernetes 1.30 object or a well-formed custom resource."""
    custom = CUSTOM_RESOURCES.get((doc.get("apiVersion", ""), doc.get("kind", "")))
    if custom is not None:
        jsonschema.validate(doc, custom)
        return
    assert kv.validate(doc, f"{KUBERNETES}.0", strict=True) == KUBERNETES


def kustomizations() -> list[Path]:
    return sorted(path.parent for path in K8S.rglob("kustomization.yaml"))


def _kustomization(directory: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((directory / "kustomization.yaml").read_text())
    return data


def raw_manifests() -> list[Path]:
    """The files that kustomizations list as resources (directories are other kustomizations)."""
    found = set()
    for directory in kustomizations():
        for entry in _kustomization(directory).get("resources", []):
            path = (directory / entry).resolve()
            if path.is_file():
                found.add(path)
    return sorted(found)


@functools.cache
def render(directory: Path) -> tuple[dict[str, Any], ...]:
    """Render a kustomization with kubectl's built-in kustomize (or a standalone kustomize)."""
    kubectl, kustomize = shutil.which("kubectl"), shutil.which("kustomize")
    assert kubectl or kustomize, "kubectl or kustomize must be installed to render deploy/k8s"
    command = [kubectl, "kustomize"] if kubectl else [str(kustomize), "build"]
    out = subprocess.run(
        [*command, str(directory)], check=True, capture_output=True, text=True, timeout=120
    ).stdout
    return tuple(doc for doc in yaml.safe_load_all(out) if doc)


def overlay(name: str) -> tuple[dict[str, Any], ...]:
    return render(K8S / "overlays" / name)


def one(docs: tuple[dict[str, Any], ...], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind and name in (None, d["metadata"]["name"])]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def pod_templates(docs: tuple[dict[str, Any], ...]) -> Iterator[dict[str, Any]]:
    for doc in docs:
        if doc["kind"] in {"Deployment", "StatefulSet", "DaemonSet", "Job"}:
            template: dict[str, Any] = doc["spec"]["template"]
            yield template


def all_containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    spec = pod["spec"]
    return [*spec.get("initContainers", []), *spec["containers"]]


def gateway_container(pod: dict[str, Any]) -> dict[str, Any]:
    found = [c for c in all_containers(pod) if "files-gateway" in c["image"]]
    assert len(found) == 1
    return found[0]


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in container.get("env", [])}


def env_value(container: dict[str, Any], name: str) -> str:
    value: str = env_of(container)[name]["value"]
    return value


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def gateway_pods() -> Iterator[tuple[str, dict[str, Any]]]:
    for name in OVERLAYS:
        for pod in pod_templates(overlay(name)):
            if any("files-gateway" in c["image"] for c in all_containers(pod)):
                yield name, pod


def test_every_file_under_deploy_k8s_is_used() -> None:
    """Every file under deploy/k8s is a kustomization, a resource it lists, or a generator input."""
    used = {directory / "kustomization.yaml" for directory in kustomizations()}
    used.update(raw_manifests())
    for directory in kustomizations():
        for generator in _kustomization(directory).get("configMapGenerator", []):
            used.update((directory / f).resolve() for f in generator.get("files", []))
        for entry in _kustomization(directory).get("resources", []):
            assert (directory / entry).exists(), f"{directory}: missing resource {entry}"
    assert {p.resolve() for p in K8S.rglob("*") if p.is_file()} == used


@pytest.mark.parametrize("path", raw_manifests(), ids=lambda p: str(p.relative_to(K8S)))
def test_raw_manifest_is_valid(path: Path) -> None:
    """Each raw manifest, as written, is a valid Kubernetes 1.30 object or custom resource."""
    docs = [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    assert docs
    for doc in docs:
        validate(doc)


@pytest.mark.parametrize(
    "directory", kustomizations(), ids=lambda p: str(p.relative_to(K8S)) or "."
)
def test_rendered_kustomization_is_valid(directory: Path) -> None:
    """Each kustomization renders, and every object it renders is valid for Kubernetes 1.30."""
    docs = render(directory)
    assert docs
    for doc in docs:
        validate(doc)


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        (
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "x"},
                "spec": {"ports": [{"port": 80}], "selectr": {"a": "b"}},
            },
            "selectr",
        ),
        (
            {
                "apiVersion": "monitoring.coreos.com/v1",
                "kind": "ServiceMonitor",
                "metadata": {"name": "x"},
                "spec": {"selector": {}, "endpoints": [{"port": "admin", "intervall": "30s"}]},
            },
            "intervall",
        ),
    ],
    ids=["builtin", "custom"],
)
def test_validation_rejects_a_misspelled_field(doc: dict[str, Any], field: str) -> None:
    """The validators are strict: a misspelled field fails, built-in kind or custom resource."""
    with pytest.raises(jsonschema.ValidationError, match=field):
        validate(doc)


def test_unknown_kind_fails_validation() -> None:
    """A kind with neither a Kubernetes schema nor a structure here fails rather than passes."""
    with pytest.raises(kv.SchemaNotFoundError):
        validate({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "x"}})


@pytest.mark.parametrize("name", OVERLAYS)
def test_pods_meet_restricted_pod_security(name: str) -> None:
    """Every container runs non-root, on a read-only root, with no escalation or capabilities."""
    templates = list(pod_templates(overlay(name)))
    assert templates
    for pod in templates:
        spec = pod["spec"]
        assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        assert spec["automountServiceAccountToken"] is False
        for container in all_containers(pod):
            context = container["securityContext"]
            assert context["runAsNonRoot"] is True
            assert context["readOnlyRootFilesystem"] is True
            assert context["allowPrivilegeEscalation"] is False
            assert context["capabilities"]["drop"] == ["ALL"]
            for kind in ("requests", "limits"):
                assert set(container["resources"][kind]) >= {"cpu", "memory"}


def test_gateway_runs_as_the_image_user() -> None:
    """The gateway containers run as uid 10001, the Dockerfile's USER, which owns its volumes."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(rf"^USER {UID}:{UID}$", dockerfile, re.M)
    for _, pod in gateway_pods():
        context = gateway_container(pod)["securityContext"]
        assert (context["runAsUser"], context["runAsGroup"]) == (UID, UID)
        assert pod["spec"]["securityContext"]["fsGroup"] == UID


def test_probes_ask_the_admin_listener() -> None:
    """Liveness asks /healthz and readiness /readyz, on the port the admin listener binds."""
    for _, pod in gateway_pods():
        container = gateway_container(pod)
        admin = env_value(container, "FILES_GATEWAY_ADMIN_LISTEN")
        assert admin == f"0.0.0.0:{ADMIN_PORT}"  # the kubelet probes the pod's IP
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
            get = container[probe]["httpGet"]
            assert get["path"] == path
            assert ports.get(get["port"], get["port"]) == ADMIN_PORT
        assert container["startupProbe"]["httpGet"]["path"] in {"/healthz", "/readyz"}


def test_grace_period_covers_the_drain() -> None:
    """SIGKILL comes only after preStop plus the gateway's shutdown timeout, which stays < 30 s."""
    for _, pod in gateway_pods():
        container = gateway_container(pod)
        timeout = float(env_value(container, "FILES_GATEWAY_SHUTDOWN_TIMEOUT"))
        pre_stop = container.get("lifecycle", {}).get("preStop", {}).get("sleep", {})
        assert timeout < 30
        assert pod["spec"]["terminationGracePeriodSeconds"] >= (
            pre_stop.get("seconds", 0) + timeout + 1
        )


def test_secrets_come_only_from_secret_references() -> None:
    """The Redis URL and the upstream key come from Secrets; no manifest holds a key or a URL."""
    for _, pod in gateway_pods():
        env = env_of(gateway_container(pod))
        store = env["FILES_GATEWAY_STORE"]["valueFrom"]["secretKeyRef"]
        assert store["name"] == "files-gateway-redis" and "optional" not in store
        upstream = env["FILES_GATEWAY_UPSTREAM_API_KEY"]["valueFrom"]["secretKeyRef"]
        assert upstream["optional"] is True  # without it, clients' own keys go upstream
        for container in all_containers(pod):
            for item in container.get("env", []):
                if re.search(r"KEY|TOKEN|PASSWORD|STORE", item["name"]):
                    assert "value" not in item, item["name"]


def test_writable_paths_are_volumes() -> None:
    """The spool dir is an emptyDir mount; config and policy come read-only from the ConfigMap."""
    for name, pod in gateway_pods():
        container = gateway_container(pod)
        volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
        mounts = {m["mountPath"]: volumes[m["name"]] for m in container["volumeMounts"]}
        assert "emptyDir" in mounts[env_value(container, "FILES_GATEWAY_SPOOL_DIR")]
        config_map = one(overlay(name), "ConfigMap")
        for variable, key in (
            ("FILES_GATEWAY_CONFIG", "config.yaml"),
            ("FILES_GATEWAY_POLICY", "policy.yaml"),
        ):
            path = Path(env_value(container, variable))
            assert path.name == key and key in config_map["data"]
            volume = mounts[str(path.parent)]
            assert volume["configMap"]["name"] == config_map["metadata"]["name"]
        writable = [m for m in container["volumeMounts"] if not m.get("readOnly")]
        assert all("emptyDir" in volumes[m["name"]] for m in writable)


@pytest.mark.parametrize("name", OVERLAYS)
def test_shipped_config_and_policy_load(name: str, tmp_path: Path) -> None:
    """The rendered config.yaml and policy.yaml load as the gateway's settings, with no problem."""
    config_map = one(overlay(name), "ConfigMap")
    for key, text in config_map["data"].items():
        (tmp_path / key).write_text(text)
    ((_, pod),) = [(n, p) for n, p in gateway_pods() if n == name]
    env = {k: v["value"] for k, v in env_of(gateway_container(pod)).items() if "value" in v}
    env.update(
        FILES_GATEWAY_STORE="redis://redis.example:6379/0",
        FILES_GATEWAY_POLICY=str(tmp_path / "policy.yaml"),
    )
    settings = load_settings(config_file=tmp_path / "config.yaml", env=env)
    assert settings.store_url.startswith("redis://")


def test_policy_in_the_configmap_is_the_shipped_policy() -> None:
    """deploy/k8s/base/policy.yaml is a copy of config/policy.yaml, byte for byte."""
    assert (K8S / "base" / "policy.yaml").read_bytes() == (
        ROOT / "config" / "policy.yaml"
    ).read_bytes()


def test_egress_has_replicas_service_pdb_and_hpa() -> None:
    """Egress runs 2+ replicas behind a Service, with a PDB and a CPU HPA over the same pods."""
    docs = overlay("egress")
    deployment = one(docs, "Deployment", "files-gateway")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["replicas"] >= 2
    container = gateway_container(deployment["spec"]["template"])
    assert env_value(container, "FILES_GATEWAY_LISTEN") == "0.0.0.0:8080"
    service = one(docs, "Service", "files-gateway")
    assert selects(service["spec"]["selector"], labels)
    ports = {p["name"] for p in container["ports"]}
    assert [p["targetPort"] for p in service["spec"]["ports"]] == ["http"] and "http" in ports
    pdb = one(docs, "PodDisruptionBudget")
    assert selects(pdb["spec"]["selector"]["matchLabels"], labels)
    hpa = one(docs, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "files-gateway",
    }
    assert hpa["spec"]["minReplicas"] >= 2
    assert [m["resource"]["name"] for m in hpa["spec"]["metrics"]] == ["cpu"]


@pytest.mark.parametrize("name", OVERLAYS)
def test_metrics_are_scraped_by_operator_and_annotations(name: str) -> None:
    """A ServiceMonitor reaches the admin port through a Service; pods carry scrape annotations."""
    docs = overlay(name)
    monitor = one(docs, "ServiceMonitor")
    services = [
        s
        for s in docs
        if s["kind"] == "Service"
        and selects(monitor["spec"]["selector"]["matchLabels"], s["metadata"]["labels"])
    ]
    assert len(services) == 1
    ports = {p["name"]: p for p in services[0]["spec"]["ports"]}
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["path"] == "/metrics"
    assert ports[endpoint["port"]]["targetPort"] in {ADMIN_PORT, "admin"}
    pods = [p for n, p in gateway_pods() if n == name]
    assert pods
    for pod in pods:
        assert selects(services[0]["spec"]["selector"], pod["metadata"]["labels"])
        assert pod["metadata"]["annotations"] == {
            "prometheus.io/scrape": "true",
            "prometheus.io/port": str(ADMIN_PORT),
            "prometheus.io/path": "/metrics",
        }


def test_sidecar_is_native_and_reached_on_loopback() -> None:
    """The sidecar is an init container with restartPolicy Always; the app uses 127.0.0.1:8080."""
    deployment = one(overlay("sidecar"), "Deployment")
    spec = deployment["spec"]["template"]["spec"]
    (sidecar,) = spec["initContainers"]
    assert "files-gateway" in sidecar["image"] and sidecar["restartPolicy"] == "Always"
    assert env_value(sidecar, "FILES_GATEWAY_LISTEN") == "127.0.0.1:8080"
    (app,) = spec["containers"]
    assert env_value(app, "OPENAI_BASE_URL") == "http://127.0.0.1:8080/v1"
    config_map = one(overlay("sidecar"), "ConfigMap")
    assert yaml.safe_load(config_map["data"]["config.yaml"])["identity"]["mode"] == "static"


def test_every_variable_used_is_a_setting() -> None:
    """Each FILES_GATEWAY_* name in the Dockerfile and manifests is a documented setting."""
    known = set(ENV_VARS) | {CONFIG_ENV}
    texts = [(ROOT / "Dockerfile").read_text()]
    texts += [p.read_text() for p in K8S.rglob("*.yaml")]
    used = {name for text in texts for name in re.findall(r"FILES_GATEWAY_[A-Z_]+", text)}
    assert used and used <= known, used - known


def test_deploy_doc_lists_every_variable() -> None:
    """docs/deploy.md has one table row for every FILES_GATEWAY_* variable, and no others."""
    text = (ROOT / "docs" / "deploy.md").read_text()
    rows = re.findall(r"^\| `(FILES_GATEWAY_[A-Z_]+)` \|", text, re.M)
    assert sorted(rows) == sorted(set(ENV_VARS) | {CONFIG_ENV})
