"""Selectors as references: a PodDisruptionBudget or NetworkPolicy whose label selector
matches no pod in its namespace protects (or opens) nothing, silently.

The pods of a namespace are its workloads' templates plus the pods operators create:
CNPG instances and jobs (`cnpg.io/cluster`, with role labels of any value), Pooler pods,
and cert-manager's HTTP-01 solver pods where a certificate is requested.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from mercury.builder.model import K8sObject
from mercury.verify.context import VerifyContext
from mercury.verify.references.paths import walk
from mercury.verify.references.resolve import Broken
from mercury.verify.references.targets import Targets
from mercury.verify.rules.index import dig, pod_templates

SELECTOR_PATHS = {
    "PodDisruptionBudget": ["spec.selector"],
    "NetworkPolicy": ["spec.podSelector", "spec.ingress[*].from[*].podSelector",
                      "spec.egress[*].to[*].podSelector"],
}
CNPG_WILD = frozenset({"role", "cnpg.io/instanceRole", "cnpg.io/instanceName", "cnpg.io/jobRole",
                       "cnpg.io/podRole", "cnpg.io/poolerName"})


@dataclass(frozen=True)
class Pods:
    """Labels some pod carries; `wild` keys are present with a value not known offline."""

    owner: str
    labels: dict[str, str]
    wild: frozenset[str] = field(default_factory=frozenset)


def _matches(selector: dict[str, Any], pods: Pods) -> bool:
    for key, value in (selector.get("matchLabels") or {}).items():
        key = str(key)
        if key in pods.wild:
            continue
        if pods.labels.get(key) != str(value):
            return False
    for expr in selector.get("matchExpressions") or []:
        if not isinstance(expr, dict):
            continue
        key, op = str(expr.get("key")), str(expr.get("operator"))
        values = {str(v) for v in expr.get("values") or []}
        present = key in pods.labels or key in pods.wild
        if key in pods.wild and op in ("In", "NotIn", "Exists"):
            continue
        label = pods.labels.get(key)
        if op == "In" and label not in values:
            return False
        if op == "NotIn" and label in values:
            return False
        if op == "Exists" and not present:
            return False
        if op == "DoesNotExist" and present:
            return False
    return True


def pods_by_namespace(ctx: VerifyContext) -> dict[str, list[Pods]]:
    out: dict[str, list[Pods]] = {}
    for tpl in pod_templates(ctx):
        out.setdefault(tpl.owner.namespace, []).append(
            Pods(f"{tpl.owner.kind} {tpl.owner.name}", tpl.labels))
    for cluster in ctx.of_kind("Cluster"):
        if cluster.group.startswith("postgresql.cnpg.io"):
            labels = {"cnpg.io/cluster": cluster.name}
            labels.update({str(k): str(v) for k, v in (dig(
                cluster.spec, "inheritedMetadata", "labels") or {}).items()})
            out.setdefault(cluster.namespace, []).append(
                Pods(f"CNPG Cluster {cluster.name}", labels, CNPG_WILD))
    for pooler in ctx.of_kind("Pooler"):
        labels = {"cnpg.io/poolerName": pooler.name}
        labels.update({str(k): str(v) for k, v in (dig(
            pooler.spec, "template", "metadata", "labels") or {}).items()})
        out.setdefault(pooler.namespace, []).append(
            Pods(f"CNPG Pooler {pooler.name}", labels, CNPG_WILD - {"cnpg.io/poolerName"}))
    requesting = {o.namespace for o in ctx.of_kind("Certificate")} | {
        o.namespace for o in ctx.of_kind("Ingress")
        if any(a.startswith("cert-manager.io/") for a in o.annotations)}
    for ns in requesting:
        out.setdefault(ns, []).append(Pods(
            "cert-manager HTTP-01 solver", {"acme.cert-manager.io/http01-solver": "true"},
            frozenset({"acme.cert-manager.io/http-domain", "acme.cert-manager.io/http-token"})))
    return out


def _selectors(obj: K8sObject) -> Iterator[tuple[str, dict[str, Any]]]:
    for path in SELECTOR_PATHS.get(obj.kind, ()):
        for match in walk(obj.body, path):
            if not isinstance(match.value, dict):
                continue
            if ("from[" in match.path or "to[" in match.path) and (
                    "namespaceSelector" in match.parent):
                continue  # pods of other namespaces: the reachability check's business
            if match.value.get("matchLabels") or match.value.get("matchExpressions"):
                yield match.path, match.value


def broken_selectors(ctx: VerifyContext, index: Targets) -> list[Broken]:
    pods = pods_by_namespace(ctx)
    out: list[Broken] = []
    for obj in ctx.of_kind(*SELECTOR_PATHS):
        if not index.checkable("Pod", obj.namespace):
            continue
        here = pods.get(obj.namespace, [])
        for path, selector in _selectors(obj):
            if any(_matches(selector, p) for p in here):
                continue
            shown = ", ".join(f"{k}={v}" for k, v in sorted(
                (selector.get("matchLabels") or {}).items()))
            if selector.get("matchExpressions"):
                shown = f"{shown}, matchExpressions" if shown else "matchExpressions"
            owners = ", ".join(sorted({p.owner for p in here})) or "none"
            out.append(Broken("reference-missing", "selector", obj, path,
                              f"pods {obj.namespace}/{{{shown}}}",
                              f"the selector matches no pod in namespace {obj.namespace} "
                              f"(pods from: {owners})"))
    return out
