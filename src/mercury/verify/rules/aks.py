"""AKS-specific behaviour the manifests must fit: the Flux extension's multi-tenancy lockdown.

The `microsoft.flux` cluster extension enforces Flux multi-tenancy unless its
configuration setting `multiTenancy.enforce` is `"false"`: kustomize- and
helm-controller then run with `--default-service-account=flux-applier` and
`--no-cross-namespace-refs=true`. `flux-applier` exists only in the Flux
configuration's namespace, so a HelmRelease or Kustomization elsewhere without its own
`serviceAccountName` is never applied, and a sourceRef/dependsOn into another namespace
is refused. Plain Flux accepts both, so nothing else catches it before the cluster.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from mercury.builder.model import K8sObject
from mercury.verify.context import VerifyContext
from mercury.verify.findings import Finding
from mercury.verify.rules.base import Rule
from mercury.verify.rules.tfresources import TfResource, resources

EXTENSION = "azurerm_kubernetes_cluster_extension"
FLUX_CONFIG = "azurerm_kubernetes_flux_configuration"
ENFORCE = "multiTenancy.enforce"
FLUX_KINDS = {("helm.toolkit.fluxcd.io", "HelmRelease"),
              ("kustomize.toolkit.fluxcd.io", "Kustomization")}


@dataclass(frozen=True)
class _Config:
    namespace: str
    layers: frozenset[str]  # the names of its kustomizations blocks
    resource: TfResource


def enforces_multitenancy(ext: TfResource) -> bool | None:
    """True/False for a microsoft.flux extension, None when not knowable offline."""
    settings = ext.body.get("configuration_settings") or {}
    if not isinstance(settings, dict):
        return None  # an expression (e.g. a variable): do not guess
    value = settings.get(ENFORCE, settings.get(f'"{ENFORCE}"'))
    if value is None:
        return True  # the extension's default
    text = str(value).strip().lower()
    if text in {"false", "true"}:
        return text == "true"
    return None


def _configs(ctx: VerifyContext) -> list[_Config]:
    assert ctx.terraform is not None
    out = []
    for res in resources(ctx.terraform, FLUX_CONFIG):
        names = frozenset(str(k.get("name", "")) for k in res.body.get("kustomizations") or []
                          if isinstance(k, dict))
        out.append(_Config(str(res.body.get("namespace", "flux-system")), names, res))
    return out


def _cross_namespace_refs(obj: K8sObject) -> Iterator[tuple[str, str]]:
    """(field, namespace) of every reference that leaves the object's namespace."""
    spec = obj.spec
    refs: list[tuple[str, Any]] = [("spec.sourceRef", spec.get("sourceRef")),
                                   ("spec.chartRef", spec.get("chartRef"))]
    chart = (spec.get("chart") or {}).get("spec") or {}
    refs.append(("spec.chart.spec.sourceRef", chart.get("sourceRef")))
    for i, dep in enumerate(spec.get("dependsOn") or []):
        refs.append((f"spec.dependsOn[{i}]", dep))
    for field, ref in refs:
        if isinstance(ref, dict) and ref.get("namespace") and ref["namespace"] != obj.namespace:
            yield field, str(ref["namespace"])


class AksFluxMultitenancy(Rule):
    """With the AKS Flux extension's multi-tenancy lockdown on (the default), every
    HelmRelease and Flux Kustomization the configuration applies must live in the
    configuration's namespace or name its own `serviceAccountName`, and must not refer
    to another namespace.

    Bad: `microsoft.flux` extension without `configuration_settings`, and a HelmRelease
    `traefik/traefik` with no `serviceAccountName` (it impersonates `traefik/flux-applier`,
    which does not exist, and never installs).
    Good: `configuration_settings = { "multiTenancy.enforce" = "false" }` when the platform
    operator owns every Flux object, or the HelmReleases and their sources in
    `flux-system` with `targetNamespace`.
    """

    id = "aks-flux-multitenancy"
    summary = "a Flux object the AKS extension's multi-tenancy lockdown would refuse to apply"
    hint = ('set configuration_settings = { "multiTenancy.enforce" = "false" } on the '
            "microsoft.flux extension, or move the object into the configuration namespace")
    tags = ("terraform", "flux", "aks")
    subs = frozenset({"impersonation", "cross-namespace-ref"})

    def check_all(self, ctx: VerifyContext) -> Iterator[Finding]:
        if ctx.terraform is None:
            return
        extensions = [e for e in resources(ctx.terraform, EXTENSION)
                      if str(e.body.get("extension_type", "")).lower() == "microsoft.flux"]
        locked = [e for e in extensions if enforces_multitenancy(e) is True]
        if not locked:
            return  # no extension, lockdown off, or not knowable offline
        ext = locked[0]
        configs = _configs(ctx)
        for build in ctx.builds:
            ks = build.kustomization
            if ks.declared_in != "terraform":
                continue
            owners = [c for c in configs if ks.name in c.layers] or configs[:1]
            if not owners:
                continue
            home = owners[0].namespace
            for obj in build.objects:
                if (obj.group, obj.kind) not in FLUX_KINDS:
                    continue
                yield from self._check(obj, home, ext)

    def _check(self, obj: K8sObject, home: str, ext: TfResource) -> Iterator[Finding]:
        where = f"{ext.address} ({ext.file}:{ext.line or '?'})"
        if obj.namespace != home and not obj.spec.get("serviceAccountName"):
            yield self.finding(
                obj, f"{obj.kind} {obj.namespace}/{obj.name} has no serviceAccountName and "
                     f"is outside the Flux configuration's namespace {home}: with the "
                     f"multi-tenancy lockdown of {where} the controller impersonates "
                     f"{obj.namespace}/flux-applier, which exists only in {home}, so it is "
                     "never applied", sub="impersonation")
        for field, namespace in _cross_namespace_refs(obj):
            yield self.finding(
                obj, f"{obj.kind} {obj.namespace}/{obj.name} {field} points into namespace "
                     f"{namespace}: the multi-tenancy lockdown of {where} refuses "
                     "cross-namespace references", sub="cross-namespace-ref")
