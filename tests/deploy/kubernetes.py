"""The Kubernetes manifests in deploy/kubernetes as the tests read them: rendered by kubectl's
built-in kustomize, validated against the API schemas of one named Kubernetes version.

- `ensure_kubectl()`: the first call of a session runs scripts/kubernetes-tools.sh, which
  installs kubectl when it is missing (Debian's `kubernetes-client`) and names it.
- `render(directory)`: `kubectl kustomize` of a base or overlay, as documents.
- `validate(document)`: kubernetes-validate's strict check against KUBERNETES_VERSION's schemas
  (an unknown field fails, not only a wrong type), the one check every manifest test uses.
- `differences(a, b)`: where two renderings differ, as paths, to hold the lanes to the
  differences they are meant to have.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]  # ships no type information
import yaml

from tests.conftest import ROOT
from tests.tools import ToolsError, install_tool

KUBERNETES_VERSION = "1.33.0"
"""The Kubernetes release whose API schemas the manifests must satisfy (docs/kubernetes.md)."""
MANIFESTS = Path("deploy") / "kubernetes"
BASE = MANIFESTS / "base"
OVERLAYS = MANIFESTS / "overlays"
LANES = ("staging", "production")
KUBERNETES_TOOLS = ROOT / "scripts" / "kubernetes-tools.sh"
PIN_IMAGE = Path("scripts") / "pin-image.sh"

Document = dict[str, Any]


class KubernetesToolsError(ToolsError):
    """kubectl could not be found or installed."""


@functools.cache
def ensure_kubectl() -> str:
    """Run scripts/kubernetes-tools.sh once per session; the kubectl it settled on."""
    return install_tool(KUBERNETES_TOOLS, "kubectl", KubernetesToolsError)


def render(directory: Path) -> list[Document]:
    """`kubectl kustomize directory`: the documents it would apply, in its order."""
    done = subprocess.run(
        [ensure_kubectl(), "kustomize", str(directory)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, f"kubectl kustomize {directory} failed:\n{done.stderr}"
    return [document for document in yaml.safe_load_all(done.stdout) if document]


def validate(document: Mapping[str, Any]) -> None:
    """Raise kubernetes_validate.ValidationError (or SchemaNotFoundError for a kind the
    schemas do not know) unless `document` is valid for KUBERNETES_VERSION."""
    kubernetes_validate.validate(dict(document), KUBERNETES_VERSION, strict=True)


def by_kind(documents: list[Document]) -> dict[str, Document]:
    """The documents by kind; each kind appears once in these manifests."""
    kinds = [document["kind"] for document in documents]
    assert len(set(kinds)) == len(kinds), f"a kind appears twice: {kinds}"
    return {document["kind"]: document for document in documents}


def pod_spec(documents: list[Document]) -> Document:
    spec: Document = by_kind(documents)["Deployment"]["spec"]["template"]["spec"]
    return spec


def container(documents: list[Document]) -> Document:
    """The Deployment's one container."""
    containers = pod_spec(documents)["containers"]
    assert len(containers) == 1, "the pod runs one container: the server"
    only: Document = containers[0]
    return only


def copy_manifests(destination: Path) -> Path:
    """deploy/kubernetes and scripts/pin-image.sh, laid out as in the repository, so a test can
    change them; returns the copy's root."""
    shutil.copytree(ROOT / MANIFESTS, destination / MANIFESTS)
    (destination / PIN_IMAGE).parent.mkdir(parents=True)
    shutil.copy2(ROOT / PIN_IMAGE, destination / PIN_IMAGE)
    return destination


def differences(before: Any, after: Any, path: str = "") -> Iterator[str]:
    """The paths (`Kind.a.b[0].c`, from a list of documents) where `after` differs from
    `before`: a key added, removed or changed, or a list of another length."""
    if isinstance(before, list) and isinstance(after, list) and path == "":
        yield from differences(by_kind(before), by_kind(after), path)
    elif isinstance(before, dict) and isinstance(after, dict):
        for key in sorted(before.keys() | after.keys()):
            inner = f"{path}.{key}" if path else key
            if key not in before or key not in after:
                yield inner
            else:
                yield from differences(before[key], after[key], inner)
    elif isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        for index, (one, other) in enumerate(zip(before, after, strict=True)):
            yield from differences(one, other, f"{path}[{index}]")
    elif before != after:
        yield path


def image_names(root: Path) -> set[str]:
    """Every image name the manifests under `root` hold: the base container's, and each
    overlay's `images:` name (which must match it) and newName (what it becomes)."""
    deployment = yaml.safe_load((root / BASE / "deployment.yaml").read_text(encoding="utf-8"))
    names = {item["image"] for item in deployment["spec"]["template"]["spec"]["containers"]}
    for kustomization in (root / OVERLAYS).glob("*/kustomization.yaml"):
        for entry in yaml.safe_load(kustomization.read_text(encoding="utf-8"))["images"]:
            names |= {entry["name"], entry["newName"]}
    return names
