"""Namespace rules: every namespace an object lives in is created by some layer, and by a
layer the object's layer depends on (or the same one), so the first apply succeeds.
"""

from __future__ import annotations

from collections.abc import Iterable

from mercury.builder.model import K8sObject
from mercury.verify.context import VerifyContext
from mercury.verify.findings import Finding, Severity
from mercury.verify.rules.base import Rule
from mercury.verify.rules.index import dig, is_true

ALWAYS = frozenset({"default", "kube-system", "kube-public", "kube-node-lease", "flux-system"})


def layer_ancestors(ctx: VerifyContext) -> dict[str, set[str]]:
    """Flux Kustomization name -> every Kustomization that runs before it, transitively:
    what it depends on, and the parent that applies it (a parent applies its Namespaces
    before the child Kustomization object, so the child reconciles after them)."""
    # on AKS a YAML Kustomization names a Terraform one `<configuration>-<name>`
    alias = {ks.object_name: ks.name for ks in ctx.kustomizations}
    direct = {ks.name: {alias.get(n, n) for n in (d.rpartition("/")[2] for d in ks.depends_on)}
                       | ({ks.parent.rpartition("/")[2]} if ks.parent else set())
              for ks in ctx.kustomizations}
    out: dict[str, set[str]] = {}

    def visit(name: str, trail: frozenset[str]) -> set[str]:
        if name in out:
            return out[name]
        seen: set[str] = set()
        for dep in direct.get(name, ()):
            if dep not in trail:  # cycles are flux-depends-on's business
                seen |= {dep} | visit(dep, trail | {dep})
        out[name] = seen
        return seen

    for name in direct:
        visit(name, frozenset({name}))
    return out


def namespace_creators(ctx: VerifyContext) -> dict[str, set[str]]:
    """namespace -> layers that create it (Namespace objects, HelmRelease createNamespace);
    the AKS Flux extension creates its configuration's namespace before any layer runs."""
    out: dict[str, set[str]] = {}
    for ks in ctx.kustomizations:
        if ks.declared_in == "terraform":
            out.setdefault(ks.namespace, set()).update(k.name for k in ctx.kustomizations)
    for ns in ctx.of_kind("Namespace"):
        out.setdefault(ns.name, set()).add(ns.kustomization)
    for hr in ctx.of_kind("HelmRelease"):
        target = hr.spec.get("targetNamespace")
        if target and is_true(dig(hr.spec, "install", "createNamespace")):
            out.setdefault(str(target), set()).add(hr.kustomization)
    return out


def _namespaces_used(obj: K8sObject) -> list[str]:
    used = [obj.namespace] if obj.namespace else []
    if obj.kind == "HelmRelease" and obj.spec.get("targetNamespace") and not is_true(
            dig(obj.spec, "install", "createNamespace")):
        used.append(str(obj.spec["targetNamespace"]))
    return used


class NamespaceMissingRule(Rule):
    """An object lives in (or a HelmRelease installs into) a namespace no layer creates: the
    apply fails with "namespaces not found". Sub-id `namespace-missing[order]` (warning):
    the namespace is created by a layer the object's layer does not depend on, so the first
    reconciliation can fail until the other layer happens to run first.
    """

    id = "namespace-missing"
    subs = frozenset({"order"})
    summary = "object in a namespace that no layer (or only a later layer) creates"
    hint = "add a Namespace object to the layer (or to a layer it dependsOn)"
    tags = ("namespaces", "flux")

    def check_all(self, ctx: VerifyContext) -> Iterable[Finding]:
        creators = namespace_creators(ctx)
        ancestors = layer_ancestors(ctx)
        reported: set[tuple[str, str]] = set()
        for obj in ctx.objects:
            for ns in _namespaces_used(obj):
                if ns in ALWAYS or (ns, obj.kustomization) in reported:
                    continue
                layers = creators.get(ns)
                what = f"{obj.kind} {obj.namespace}/{obj.name}" if obj.namespace else \
                    f"{obj.kind} {obj.name}"
                if not layers:
                    if (ns, "") not in reported:
                        reported.add((ns, ""))
                        yield self.finding(obj, f"{what} (Kustomization {obj.kustomization}) "
                                                f"uses namespace {ns}, which no layer creates")
                    continue
                mine = {obj.kustomization} | ancestors.get(obj.kustomization, set())
                if not layers & mine:
                    reported.add((ns, obj.kustomization))
                    yield self.finding(
                        obj, f"{what} is applied by Kustomization {obj.kustomization}, but "
                             f"namespace {ns} is created by {', '.join(sorted(layers))}, which "
                             f"{obj.kustomization} does not depend on", sub="order",
                        severity=Severity.WARNING,
                        hint=f"add dependsOn: {sorted(layers)[0]} to Kustomization "
                             f"{obj.kustomization}, or move the Namespace into it")
