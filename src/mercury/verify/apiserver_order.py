"""In which order, and how few times, built objects go to the API server.

Flux applies Kustomizations in `dependsOn` order, and inside one it applies in stages
(fluxcd/pkg/ssa `ApplyAllStaged`): cluster definitions (CRDs, Namespaces) first, then
class objects (StorageClass, IngressClass, ...), then the rest. The check follows that:
a layer's CRDs are served before its custom resources are judged.

Objects that differ only by namespace and name get the same verdict (names are masked
keeping length and character classes, see `schemas._shape_key`), unless their namespaces
carry different Pod Security labels: one object per shape is sent, 1,000 tenants cost
what one does.
"""

from __future__ import annotations

import base64
import copy
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from mercury.builder.model import BuildResult, K8sObject
from mercury.verify.schemas import _shape_key

PSA_PREFIX = "pod-security.kubernetes.io/"
DEFINITIONS = frozenset({"CustomResourceDefinition", "Namespace"})
# pod-bearing kinds: where their pod template lives
TEMPLATE_PATHS: dict[str, tuple[str, ...]] = {
    "Deployment": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "ReplicaSet": ("spec", "template"),
    "ReplicationController": ("spec", "template"),
    "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
    "PodTemplate": ("template",),
}
# admission plugins that would refuse the probe Pod before Pod Security sees it; they
# judge references (PriorityClass, RuntimeClass), which the probe is not about
_PROBE_DROP = ("priorityClassName", "priority", "runtimeClassName", "nodeName")
PROBE_NAME = "mercury-pod-security-probe"


def layer_order(builds: Sequence[BuildResult]) -> list[BuildResult]:
    """Builds in `dependsOn` order (stable; a cycle or unknown name keeps file order)."""
    by_name = {b.kustomization.name: b for b in builds}
    done: set[str] = set()
    out: list[BuildResult] = []
    visiting: set[str] = set()

    def visit(build: BuildResult) -> None:
        name = build.kustomization.name
        if name in done or name in visiting:
            return
        visiting.add(name)
        for dep in build.kustomization.depends_on:
            dep_name = dep.rpartition("/")[2]
            if dep_name in by_name:
                visit(by_name[dep_name])
        visiting.discard(name)
        done.add(name)
        out.append(build)

    for build in builds:
        visit(build)
    return out


def stage(obj: K8sObject) -> int:
    """0: cluster definitions (applied for real), 1: class objects, 2: everything else."""
    if obj.kind in DEFINITIONS and obj.group in ("", "apiextensions.k8s.io"):
        return 0
    if obj.kind.endswith("Class") and not obj.namespace:
        return 1
    return 2


def staged(objects: Iterable[K8sObject]) -> list[list[K8sObject]]:
    """The objects of one layer split into Flux's three apply stages (empty ones kept)."""
    stages: list[list[K8sObject]] = [[], [], []]
    for obj in objects:
        stages[stage(obj)].append(obj)
    return stages


def psa_labels(labels: Mapping[str, Any] | None) -> tuple[tuple[str, str], ...]:
    """The Pod Security labels of a namespace, the only ones admission reads."""
    return tuple(sorted((str(k), str(v)) for k, v in (labels or {}).items()
                        if str(k).startswith(PSA_PREFIX)))


def enforce_level(labels: Mapping[str, Any] | None) -> str:
    """The namespace's enforced Pod Security level (`privileged` when unlabelled)."""
    return str((labels or {}).get(f"{PSA_PREFIX}enforce") or "privileged")


def shape_groups(objects: Iterable[K8sObject],
                 namespace_labels: Mapping[str, Mapping[str, Any]]) -> list[list[K8sObject]]:
    """Objects with the same masked shape and the same namespace Pod Security labels,
    first-seen first; the first of each group is its representative."""
    groups: dict[tuple[bytes, tuple[tuple[str, str], ...]], list[K8sObject]] = {}
    for obj in objects:
        key = (_shape_key(obj.body), psa_labels(namespace_labels.get(obj.namespace)))
        groups.setdefault(key, []).append(obj)
    return list(groups.values())


def pod_template(obj: K8sObject) -> dict[str, Any] | None:
    """The pod template of a workload (None for kinds without one)."""
    path = TEMPLATE_PATHS.get(obj.kind)
    if path is None:
        return None
    node: Any = obj.body
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else None


def probe_pod(obj: K8sObject) -> dict[str, Any] | None:
    """A Pod made from a workload's template, for Pod Security admission.

    The API server only warns about a workload's template (and only for the `warn`
    level); the Pods its controller creates are what `enforce` refuses, so the check
    dry-runs one such Pod.
    """
    template = pod_template(obj)
    if template is None or not isinstance(template.get("spec"), dict):
        return None
    meta = template.get("metadata")
    meta = meta if isinstance(meta, dict) else {}
    spec = copy.deepcopy(template["spec"])
    for key in _PROBE_DROP:
        spec.pop(key, None)
    metadata: dict[str, Any] = {"name": PROBE_NAME, "namespace": obj.namespace or "default"}
    for key in ("labels", "annotations"):
        if isinstance(meta.get(key), dict):
            metadata[key] = meta[key]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}


# Secret types whose value the server parses: a wiped ("") value would be refused for
# being empty, which is the redaction's doing, not the repository's.
_PARSED_SECRET_VALUES = {
    ("kubernetes.io/dockerconfigjson", ".dockerconfigjson"): '{"auths":{}}',
    ("kubernetes.io/dockercfg", ".dockercfg"): "{}",
}


def sendable(obj: K8sObject) -> dict[str, Any]:
    """The body to send: the object itself, but a redacted Secret's parsed values made
    well-formed placeholders (the build wipes Secret values before any check sees them)."""
    if obj.kind != "Secret" or obj.api_version != "v1":
        return obj.body
    kind = str(obj.body.get("type") or "")
    body: dict[str, Any] | None = None
    for (secret_type, key), placeholder in _PARSED_SECRET_VALUES.items():
        if kind != secret_type:
            continue
        for field, value in (("data", base64.b64encode(placeholder.encode()).decode()),
                             ("stringData", placeholder)):
            values = obj.body.get(field)
            if isinstance(values, dict) and values.get(key) == "":
                body = body or copy.deepcopy(obj.body)
                body[field][key] = value
    return body or obj.body
