"""Reference rules for pod specs: ConfigMaps, PVCs and ServiceAccounts they name exist.

Namespaces a HelmRelease installs into are skipped: charts create objects the build
cannot see, and a guess there would be a false alarm.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from mercury.verify.context import VerifyContext
from mercury.verify.findings import Finding
from mercury.verify.rules.base import Rule
from mercury.verify.rules.index import (
    PodTemplate,
    containers,
    dig,
    helm_namespaces,
    is_true,
    names_by_namespace,
    pod_templates,
)

ALWAYS_CONFIGMAPS = frozenset({"kube-root-ca.crt"})  # published into every namespace


def _checked_templates(ctx: VerifyContext) -> Iterator[PodTemplate]:
    open_ns = helm_namespaces(ctx)
    for tpl in pod_templates(ctx):
        if tpl.owner.namespace not in open_ns:
            yield tpl


def configmap_uses(pod: dict[str, object]) -> Iterator[tuple[str, str | None, str]]:
    """(ConfigMap name, key or None, where) for every non-optional ConfigMap reference."""
    for c in containers(pod):
        for env in c.get("env") or []:
            ref = dig(env, "valueFrom", "configMapKeyRef")
            if isinstance(ref, dict) and ref.get("name") and not is_true(ref.get("optional")):
                yield str(ref["name"]), str(ref.get("key")), f"container {c.get('name')} env " \
                                                             f"{env.get('name')}"
        for env_from in c.get("envFrom") or []:
            ref = dig(env_from, "configMapRef")
            if isinstance(ref, dict) and ref.get("name") and not is_true(ref.get("optional")):
                yield str(ref["name"]), None, f"container {c.get('name')} envFrom"
    for vol in pod.get("volumes") or []:  # type: ignore[attr-defined]
        selectors = [dig(vol, "configMap")] + [dig(s, "configMap")
                                               for s in dig(vol, "projected", "sources") or []]
        for sel in selectors:
            if not isinstance(sel, dict) or not sel.get("name") or is_true(sel.get("optional")):
                continue
            keys = [i.get("key") for i in sel.get("items") or [] if isinstance(i, dict)]
            for key in keys or [None]:
                yield str(sel["name"]), key, f"volume {dig(vol, 'name')}"


class ConfigMapRefRule(Rule):
    """A pod spec reads a ConfigMap (or a key of it) that the build does not contain: the
    pod stays in CreateContainerConfigError.
    """

    id = "configmap-ref"
    summary = "a referenced ConfigMap or ConfigMap key does not exist"
    hint = "add the ConfigMap (e.g. a configMapGenerator) or fix the name/key, or mark it optional"
    tags = ("references",)

    def check_all(self, ctx: VerifyContext) -> Iterable[Finding]:
        maps = names_by_namespace(ctx, "ConfigMap")
        for tpl in _checked_templates(ctx):
            owner = tpl.owner
            for name, key, where in configmap_uses(tpl.spec):
                if name in ALWAYS_CONFIGMAPS:
                    continue
                cm = maps.get(owner.namespace, {}).get(name)
                subject = f"{owner.kind} {owner.namespace}/{owner.name} ({where}) reads"
                if cm is None:
                    yield self.finding(owner, f"{subject} ConfigMap {owner.namespace}/{name}, "
                                              "which does not exist")
                    continue
                keys = {*(cm.body.get("data") or {}), *(cm.body.get("binaryData") or {})}
                if key is not None and key not in keys:
                    yield self.finding(owner, f"{subject} key '{key}' of ConfigMap "
                                              f"{owner.namespace}/{name}, which has only "
                                              f"{', '.join(sorted(keys)) or 'no keys'}")


class PvcRefRule(Rule):
    """A pod spec mounts a PersistentVolumeClaim that does not exist: the pod stays Pending."""

    id = "pvc-ref"
    summary = "a referenced PersistentVolumeClaim does not exist"
    hint = "declare the PVC in the same namespace or fix claimName"
    tags = ("references", "storage")

    def check_all(self, ctx: VerifyContext) -> Iterable[Finding]:
        claims = names_by_namespace(ctx, "PersistentVolumeClaim")
        for tpl in _checked_templates(ctx):
            owner = tpl.owner
            for vol in tpl.spec.get("volumes") or []:
                claim = dig(vol, "persistentVolumeClaim", "claimName")
                if claim and str(claim) not in claims.get(owner.namespace, {}):
                    yield self.finding(owner, f"{owner.kind} {owner.namespace}/{owner.name} "
                                              f"mounts PersistentVolumeClaim "
                                              f"{owner.namespace}/{claim}, which does not exist")


class ServiceAccountRefRule(Rule):
    """A pod spec runs as a ServiceAccount that does not exist: the ReplicaSet cannot create
    pods ("serviceaccount not found"). `default` always exists; CNPG creates one named
    after each Cluster.
    """

    id = "service-account-ref"
    summary = "a referenced ServiceAccount does not exist"
    hint = "declare the ServiceAccount in the same namespace or fix serviceAccountName"
    tags = ("references",)

    def check_all(self, ctx: VerifyContext) -> Iterable[Finding]:
        accounts = names_by_namespace(ctx, "ServiceAccount")
        clusters = names_by_namespace(ctx, "Cluster")
        for tpl in _checked_templates(ctx):
            owner = tpl.owner
            name = tpl.spec.get("serviceAccountName") or tpl.spec.get("serviceAccount")
            if not name or name == "default":
                continue
            ns = owner.namespace
            if str(name) in accounts.get(ns, {}) or str(name) in clusters.get(ns, {}):
                continue
            yield self.finding(owner, f"{owner.kind} {ns}/{owner.name} runs as ServiceAccount "
                                      f"{ns}/{name}, which does not exist")
