"""deploy/kubernetes: the base and each lane's overlay render with kubectl's kustomize, every
document they render is valid for the named Kubernetes version (and a broken one is not), and
what the pods are told agrees with the image and the server they run: the user, the port, the
probes' paths and the scrape annotations are read from the Dockerfile, the server's routes and
deploy/monitoring, never written here a second time.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import kubernetes_validate  # type: ignore[import-untyped]  # ships no type information
import pytest
import yaml
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.testclient import TestClient

from conveyor.serve.app import create_app
from conveyor.serve.settings import ServeSettings
from tests.conftest import ROOT
from tests.deploy.kubernetes import (
    BASE,
    KUBERNETES_VERSION,
    LANES,
    MANIFESTS,
    OVERLAYS,
    Document,
    by_kind,
    container,
    copy_manifests,
    differences,
    pod_spec,
    render,
    validate,
)
from tests.monitoring.deployed import SCRAPE_CONFIG, relabel
from tests.serve.image_layout import instructions
from tests.serve.tiny_model import ModelFiles, write_model_files

KINDS = {"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"}
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
IMAGE = "Deployment.spec.template.spec.containers[0].image"
# What a lane changes in the base: its namespace, the image it pins, how far it scales. Two
# lanes may run the same image (production is a promotion of staging's), and differ in the rest.
INTENDED = {
    *(f"{kind}.metadata.namespace" for kind in KINDS),
    IMAGE,
    "HorizontalPodAutoscaler.spec.minReplicas",
    "HorizontalPodAutoscaler.spec.maxReplicas",
}


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[Document]]:
    """The base and each overlay, rendered once: "base" and the lane names."""
    found = {"base": render(ROOT / BASE)}
    found.update((lane, render(ROOT / OVERLAYS / lane)) for lane in LANES)
    return found


@pytest.fixture(scope="module")
def dockerfile() -> dict[str, str]:
    """The Dockerfile's last USER, EXPOSE and HEALTHCHECK (the final stage's)."""
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    return dict(instructions(text))


def test_the_overlays_are_the_lanes() -> None:
    present = {path.parent.name for path in (ROOT / OVERLAYS).glob("*/kustomization.yaml")}
    assert present == set(LANES)


@pytest.mark.parametrize("name", ["base", *LANES])
def test_every_rendered_document_is_valid_for_the_named_kubernetes_version(
    rendered: dict[str, list[Document]], name: str
) -> None:
    documents = rendered[name]
    assert {document["kind"] for document in documents} == KINDS
    for document in documents:
        validate(document)


@pytest.mark.parametrize(
    ("file", "old", "new", "message"),
    [
        pytest.param(  # strict: an unknown field is an error, not ignored as the API would
            "base/deployment.yaml", "readOnlyRootFilesystem:", "readOnlyRootFileSystem:",
            "'readOnlyRootFileSystem' was unexpected", id="misspelt-field",
        ),
        pytest.param(
            "base/hpa.yaml", "averageUtilization: 70", "averageUtilization: seventy",
            "'seventy' is not of type 'integer'", id="wrong-type",
        ),
        pytest.param(  # the API version Kubernetes 1.25 stopped serving
            "base/pdb.yaml", "apiVersion: policy/v1", "apiVersion: policy/v1beta1",
            "Couldn't find schema for kind PodDisruptionBudget with api version policy/v1beta1",
            id="removed-api-version",
        ),
        pytest.param(  # a lane's own patch is checked as the base is
            "overlays/production/autoscaling.yaml", "maxReplicas:", "maxReplica:",
            "'maxReplica' was unexpected", id="misspelt-field-in-an-overlay",
        ),
    ],
)  # fmt: skip
def test_a_broken_manifest_fails_the_same_validation(
    tmp_path: Path, file: str, old: str, new: str, message: str
) -> None:
    copy = copy_manifests(tmp_path)
    path = copy / MANIFESTS / file
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{file} no longer holds {old!r}: update this test"
    path.write_text(text.replace(old, new), encoding="utf-8")
    lane = file.split("/")[1] if file.startswith("overlays/") else LANES[0]
    documents = render(copy / OVERLAYS / lane)
    with pytest.raises(
        (kubernetes_validate.ValidationError, kubernetes_validate.SchemaNotFoundError)
    ) as caught:
        for document in documents:
            validate(document)
    assert message in caught.value.message


@pytest.mark.parametrize("lane", LANES)
def test_each_lane_runs_the_base_image_pinned_by_digest(
    rendered: dict[str, list[Document]], lane: str
) -> None:
    """The overlay's `images:` entry names the base's image (else kustomize would silently
    leave it unpinned) and renders as NAME@sha256:DIGEST."""
    kustomization = yaml.safe_load((ROOT / OVERLAYS / lane / "kustomization.yaml").read_text())
    (entry,) = kustomization["images"]
    assert entry["name"] == container(rendered["base"])["image"]
    assert DIGEST.fullmatch(entry["digest"])
    assert container(rendered[lane])["image"] == f"{entry['newName']}@{entry['digest']}"


def _seconds(duration: str) -> int:
    """A Dockerfile duration (`10s`, `1m30s`) in seconds."""
    parts = re.findall(r"(\d+)([hms])", duration)
    assert parts and "".join(n + u for n, u in parts) == duration, f"unreadable: {duration}"
    return sum(int(number) * {"h": 3600, "m": 60, "s": 1}[unit] for number, unit in parts)


def _port(documents: list[Document], port: int | str) -> int:
    """A probe's or Service's port: a number, or the name of one of the container's ports."""
    if isinstance(port, int):
        return port
    (number,) = [p["containerPort"] for p in container(documents)["ports"] if p["name"] == port]
    assert isinstance(number, int)
    return number


@pytest.mark.parametrize("name", ["base", *LANES])
def test_the_pods_user_port_and_liveness_are_the_images(
    rendered: dict[str, list[Document]], dockerfile: dict[str, str], name: str
) -> None:
    documents = rendered[name]
    server = container(documents)
    user, _, group = dockerfile["USER"].partition(":")
    context = pod_spec(documents)["securityContext"]
    assert (context["runAsUser"], context["runAsGroup"]) == (int(user), int(group or user))
    exposed = int(dockerfile["EXPOSE"])
    environment = {variable["name"]: variable["value"] for variable in server["env"]}
    assert int(environment["CONVEYOR_PORT"]) == exposed
    assert [port["containerPort"] for port in server["ports"]] == [exposed]
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert _port(documents, server[probe]["httpGet"]["port"]) == exposed, probe
    service = by_kind(documents)["Service"]["spec"]["ports"]
    assert [_port(documents, port["targetPort"]) for port in service] == [exposed]
    annotations = by_kind(documents)["Deployment"]["spec"]["template"]["metadata"]["annotations"]
    assert int(annotations["prometheus.io/port"]) == exposed
    # Kubernetes restarts the container as the image's HEALTHCHECK would mark it unhealthy.
    options = dict(re.findall(r"--([a-z-]+)=(\S+)", dockerfile["HEALTHCHECK"].split(" CMD ")[0]))
    liveness = server["livenessProbe"]
    assert liveness["periodSeconds"] == _seconds(options["interval"])
    assert liveness["timeoutSeconds"] == _seconds(options["timeout"])
    assert liveness["failureThreshold"] == int(options["retries"])


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> ModelFiles:
    return write_model_files(tmp_path_factory.mktemp("model"))


class Served(NamedTuple):
    settings: ServeSettings
    app: Starlette
    client: TestClient


@pytest.fixture(scope="module")
def served(rendered: dict[str, list[Document]], tiny_model: ModelFiles) -> Iterator[Served]:
    """The server configured by the base's environment (the model files aside), started."""
    variables = {item["name"]: item["value"] for item in container(rendered["base"])["env"]}
    settings = ServeSettings.from_environment(
        {
            **variables,
            "CONVEYOR_MODEL_PATH": str(tiny_model.model),
            "CONVEYOR_SIGNATURE_PATH": str(tiny_model.signature),
        }
    )
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Served(settings, app, client)


def test_the_probes_and_the_scrape_path_are_the_servers_routes(
    rendered: dict[str, list[Document]], served: Served
) -> None:
    """Liveness asks the route that only says the process runs, readiness the one that says
    the model serves: a probe on a missing path would restart or starve every pod."""
    settings, app, client = served
    assert settings.workers == 1, "one server process per pod: the autoscaler adds pods"
    handlers = {
        route.path: route.endpoint.__name__
        for route in app.routes
        if isinstance(route, Route) and "GET" in (route.methods or ())
    }
    server = container(rendered["base"])
    probes = {probe: server[probe]["httpGet"]["path"] for probe in ("startupProbe",
              "livenessProbe", "readinessProbe")}  # fmt: skip
    assert handlers.get(probes["livenessProbe"]) == "health"
    assert handlers.get(probes["startupProbe"]) == "health"
    assert handlers.get(probes["readinessProbe"]) == "ready"
    for probe, path in probes.items():
        assert client.get(path).status_code == 200, probe
    assert client.get(probes["readinessProbe"]).json()["status"] == "ready"
    annotations = by_kind(rendered["base"])["Deployment"]["spec"]["template"]["metadata"]
    scraped = client.get(annotations["annotations"]["prometheus.io/path"])
    assert scraped.status_code == 200
    assert "conveyor_model_info" in scraped.text


def _sanitised(name: str) -> str:
    """A label or annotation name as Prometheus's Kubernetes discovery spells it."""
    return re.sub(r"[^a-zA-Z0-9_]", "_", name)


def test_prometheus_scrapes_the_pods_on_the_servers_port_and_path(
    rendered: dict[str, list[Document]],
) -> None:
    """The pod job of deploy/monitoring/prometheus-scrape.yml, relabelling a pod of this
    Deployment as Kubernetes discovery presents it (one target per container port)."""
    config = yaml.safe_load(SCRAPE_CONFIG.read_text(encoding="utf-8"))
    (job,) = [job for job in config["scrape_configs"] if "kubernetes_sd_configs" in job]
    template = by_kind(rendered["base"])["Deployment"]["spec"]["template"]
    (port,) = container(rendered["base"])["ports"]
    meta = "__meta_kubernetes_pod_"
    pod = {
        "__address__": f"10.1.2.3:{port['containerPort']}",
        "__metrics_path__": job.get("metrics_path", "/metrics"),
    }
    for kind in ("annotation", "label"):
        for key, value in template["metadata"][f"{kind}s"].items():
            pod[f"{meta}{kind}_{_sanitised(key)}"] = value
    target = relabel(job["relabel_configs"], pod)
    assert target is not None, "the scrape job drops these pods"
    assert target["__address__"] == f"10.1.2.3:{port['containerPort']}"
    assert target["__metrics_path__"] == template["metadata"]["annotations"]["prometheus.io/path"]


@pytest.mark.parametrize("name", ["base", *LANES])
def test_the_pod_runs_unprivileged_on_a_read_only_root(
    rendered: dict[str, list[Document]], name: str
) -> None:
    """Kubernetes's "restricted" Pod Security Standard, and no writable path: the image
    writes nothing (no volume for /tmp), nor talks to the Kubernetes API."""
    pod = pod_spec(rendered[name])
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert not {"hostNetwork", "hostPID", "hostIPC", "volumes"} & pod.keys()
    context = container(rendered[name])["securityContext"]
    assert context["allowPrivilegeEscalation"] is False
    assert context["readOnlyRootFilesystem"] is True
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert "volumeMounts" not in container(rendered[name])


@pytest.mark.parametrize("name", ["base", *LANES])
def test_the_autoscaler_budget_and_service_select_the_deployments_pods(
    rendered: dict[str, list[Document]], name: str
) -> None:
    kinds = by_kind(rendered[name])
    deployment = kinds["Deployment"]
    labels: dict[str, Any] = deployment["spec"]["template"]["metadata"]["labels"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= labels.items()
    assert kinds["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"] == selector
    assert kinds["Service"]["spec"]["selector"].items() <= labels.items()
    assert "replicas" not in deployment["spec"], "the autoscaler owns the count"
    autoscaler = kinds["HorizontalPodAutoscaler"]["spec"]
    target = autoscaler["scaleTargetRef"]
    assert (target["apiVersion"], target["kind"], target["name"]) == (
        deployment["apiVersion"], "Deployment", deployment["metadata"]["name"],
    )  # fmt: skip
    (metric,) = autoscaler["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert metric["resource"]["target"]["type"] == "Utilization"
    assert container(rendered[name])["resources"]["requests"]["cpu"], "utilisation needs it"
    assert 1 <= autoscaler["minReplicas"] <= autoscaler["maxReplicas"]


def test_the_lanes_differ_from_the_base_and_each_other_only_where_intended(
    rendered: dict[str, list[Document]],
) -> None:
    for lane in LANES:
        changed = set(differences(rendered["base"], rendered[lane]))
        assert changed == INTENDED, (
            f"{lane}: unintended {changed - INTENDED}, missing {INTENDED - changed}"
        )
        assert {document["metadata"]["namespace"] for document in rendered[lane]} == {
            f"conveyor-{lane}"
        }
    between = set(differences(rendered["staging"], rendered["production"])) - {IMAGE}
    assert between == INTENDED - {IMAGE}, f"unintended {between - INTENDED}"
    staging, production = (by_kind(rendered[lane]) for lane in LANES)
    small, large = (kinds["HorizontalPodAutoscaler"]["spec"] for kinds in (staging, production))
    assert small["minReplicas"] < large["minReplicas"]
    assert small["maxReplicas"] < large["maxReplicas"]
    assert large["minReplicas"] >= 2, "production survives the loss of one pod"


def test_the_docs_name_the_kubernetes_version_the_manifests_are_validated_for() -> None:
    named = "Kubernetes " + ".".join(KUBERNETES_VERSION.split(".")[:2])
    for document in ("docs/kubernetes.md", "README.md"):
        assert named in (ROOT / document).read_text(encoding="utf-8"), document
