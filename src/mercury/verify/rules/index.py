"""Indexes the cross-object rules share, each built once per `check_all` call.

A rule that looked up references by scanning `ctx.objects` for every object would be
O(n^2) on a 15,000-object fleet; these helpers walk the objects once and return dicts.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from mercury.builder.model import K8sObject
from mercury.verify.context import VerifyContext
from mercury.verify.rules.base import pod_specs

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod")
UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


@dataclass(frozen=True)
class PodTemplate:
    """One pod spec inside a workload, with the labels its pods will carry."""

    owner: K8sObject
    spec: dict[str, Any]
    labels: dict[str, str]


def pod_templates(ctx: VerifyContext) -> list[PodTemplate]:
    """Every pod template of every workload in the build, in build order."""
    out: list[PodTemplate] = []
    for obj in ctx.of_kind(*WORKLOAD_KINDS):
        for spec in pod_specs(obj):
            out.append(PodTemplate(obj, spec, _template_labels(obj)))
    return out


def _template_labels(obj: K8sObject) -> dict[str, str]:
    if obj.kind == "Pod":
        return dict(obj.labels)
    spec = obj.spec
    if obj.kind == "CronJob":
        spec = spec.get("jobTemplate", {}).get("spec", {})
    meta = spec.get("template", {}).get("metadata", {}) if isinstance(spec, dict) else {}
    labels = meta.get("labels") if isinstance(meta, dict) else None
    return {str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {}


def containers(pod: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Containers and init containers of a pod spec (ephemeral ones cannot be declared)."""
    for key in ("initContainers", "containers"):
        for container in pod.get(key) or []:
            if isinstance(container, dict):
                yield container


def helm_namespaces(ctx: VerifyContext) -> set[str]:
    """Namespaces holding objects the build cannot see: those a HelmRelease installs into
    (charts are not rendered) and those a Kustomization of another source applies into
    (its targetNamespace, else its own namespace)."""
    out: set[str] = {str(ks.target_namespace or ks.namespace) for ks in ctx.external}
    for hr in ctx.of_kind("HelmRelease"):
        out.add(str(hr.spec.get("targetNamespace") or hr.namespace))
        storage = hr.spec.get("storageNamespace")
        if storage:
            out.add(str(storage))
    return out


def names_by_namespace(ctx: VerifyContext, kind: str) -> dict[str, dict[str, K8sObject]]:
    """namespace -> name -> object, for one kind."""
    out: dict[str, dict[str, K8sObject]] = {}
    for obj in ctx.of_kind(kind):
        out.setdefault(obj.namespace, {}).setdefault(obj.name, obj)
    return out


def is_true(value: object) -> bool:
    """YAML booleans arrive as bools or as quoted strings ("true") in CRD parameters."""
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def dig(data: object, *path: str) -> Any:
    """data[path[0]][path[1]]..., or None as soon as a step is missing or not a dict."""
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def helm_value_strings(ctx: VerifyContext) -> set[str]:
    """Every string in every HelmRelease's `values`: a chart creates objects its values
    name (cert-manager webhooks' `issuers: [{name: letsencrypt-production}]`)."""
    cached: set[str] | None = ctx.cache.get("helm_value_strings")
    if cached is None:
        cached = set()
        stack: list[Any] = [hr.spec.get("values") for hr in ctx.of_kind("HelmRelease")]
        while stack:
            item = stack.pop()
            if isinstance(item, dict):
                stack.extend(item.values())
            elif isinstance(item, list):
                stack.extend(item)
            elif isinstance(item, str):
                cached.add(item)
        ctx.cache["helm_value_strings"] = cached
    return cached
