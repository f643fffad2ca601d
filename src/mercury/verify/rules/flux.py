"""Flux rules: dependsOn targets exist and form no cycle, chart sources exist, no `${VAR}`
survives post-build substitution.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator
from typing import Any

from mercury.builder.model import FluxKustomization, K8sObject
from mercury.verify.context import VerifyContext
from mercury.verify.findings import Finding
from mercury.verify.rules.base import Rule
from mercury.verify.rules.index import dig

Node = tuple[str, str]  # (namespace, name)


def _ks_finding(rule: Rule, ks: FluxKustomization, message: str) -> Finding:
    """A finding about a Kustomization declared outside the build (e.g. in Terraform)."""
    base = rule.finding(None, message, file=ks.origin.file, line=ks.origin.line)
    return dataclasses.replace(base, object=str(ks.ref), kustomization=ks.name)


def _cycles(graph: dict[Node, list[Node]]) -> list[list[Node]]:
    """Strongly connected components that form a cycle (Tarjan, iterative), each sorted."""
    index: dict[Node, int] = {}
    low: dict[Node, int] = {}
    stack: list[Node] = []
    on_stack: set[Node] = set()
    out: list[list[Node]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work: list[tuple[Node, Iterator[Node]]] = [(root, iter(graph[root]))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in graph:
                    continue
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(graph[child])))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component: list[Node] = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    component.append(top)
                    if top == node:
                        break
                if len(component) > 1 or node in graph[node]:
                    out.append(sorted(component))
    return out


class FluxDependsOnRule(Rule):
    """A Flux Kustomization or HelmRelease dependsOn names nothing, or the dependencies form
    a cycle. Flux then waits forever: the dependent layer never becomes ready.
    """

    id = "flux-depends-on"
    summary = "Flux dependsOn names a missing Kustomization/HelmRelease or forms a cycle"
    hint = "fix the name in dependsOn (same namespace unless namespace is set) or break the cycle"
    tags = ("flux",)

    def check_all(self, ctx: VerifyContext) -> Iterable[Finding]:
        yield from self._kustomizations(ctx)
        yield from self._graph(ctx, {(o.namespace, o.name): (o, self._deps(o))
                                     for o in ctx.of_kind("HelmRelease")}, "HelmRelease")

    @staticmethod
    def _deps(obj: K8sObject) -> list[Node]:
        return [(str(d.get("namespace") or obj.namespace), str(d.get("name")))
                for d in obj.spec.get("dependsOn") or [] if isinstance(d, dict)]

    def _kustomizations(self, ctx: VerifyContext) -> Iterable[Finding]:
        nodes: dict[Node, tuple[K8sObject | FluxKustomization, list[Node]]] = {}
        for ks in ctx.kustomizations:
            deps = [(d.rpartition("/")[0] or ks.namespace, d.rpartition("/")[2])
                    for d in ks.depends_on]
            nodes[(ks.namespace, ks.name)] = (ks, deps)
        aliases = {(ks.namespace, ks.object_name): (ks.namespace, ks.name)
                   for ks in ctx.kustomizations if ks.object_name != ks.name}
        for obj in ctx.of_kind("Kustomization"):
            if obj.group.startswith("kustomize.toolkit.fluxcd.io"):
                nodes.setdefault((obj.namespace, obj.name), (obj, self._deps(obj)))
        # on AKS a YAML Kustomization names a Terraform one by its object name,
        # `<configuration>-<name>`
        for node, (subject, deps) in nodes.items():
            nodes[node] = (subject, [aliases.get(d, d) for d in deps])
        yield from self._graph(ctx, nodes, "Kustomization")

    def _graph(self, ctx: VerifyContext, nodes: dict[Node, tuple[Any, list[Node]]],
               kind: str) -> Iterable[Finding]:
        def report(subject: K8sObject | FluxKustomization, message: str) -> Finding:
            if isinstance(subject, FluxKustomization):
                return _ks_finding(self, subject, message)
            return self.finding(subject, message)

        for (ns, name), (subject, deps) in nodes.items():
            for dep in deps:
                if dep not in nodes:
                    yield report(subject, f"{kind} {ns}/{name} depends on {kind} "
                                          f"{dep[0]}/{dep[1]}, which does not exist")
        graph = {node: [d for d in deps if d in nodes] for node, (_, deps) in nodes.items()}
        for cycle in _cycles(graph):
            chain = " -> ".join(f"{n}" for _, n in [*cycle, cycle[0]])
            first = cycle[0]
            yield report(nodes[first][0], f"{kind} {first[0]}/{first[1]} is in a dependency "
                                          f"cycle: {chain}")


class HelmSourceRule(Rule):
    """A HelmRelease's chart source (HelmRepository, GitRepository, Bucket, OCIRepository or
    HelmChart via spec.chartRef) does not exist, so the chart is never fetched.
    """

    id = "helm-source"
    summary = "HelmRelease chart source does not exist"
    hint = "declare the source (e.g. a HelmRepository) or fix sourceRef kind/name/namespace"
    tags = ("flux", "helm")

    def check_object(self, obj: K8sObject, ctx: VerifyContext) -> Iterable[Finding]:
        if obj.kind != "HelmRelease":
            return
        ref = dig(obj.spec, "chart", "spec", "sourceRef") or obj.spec.get("chartRef")
        if not isinstance(ref, dict) or not ref.get("name") or not ref.get("kind"):
            return
        kind, name = str(ref["kind"]), str(ref["name"])
        namespace = str(ref.get("namespace") or obj.namespace)
        if kind == "GitRepository" and namespace == "flux-system":
            return  # the bootstrap source: created by flux bootstrap / the AKS extension
        if ctx.get(kind, namespace, name) is None:
            known = sorted(f"{o.namespace}/{o.name}" for o in ctx.of_kind(kind))
            yield self.finding(obj, f"HelmRelease {obj.namespace}/{obj.name} takes its chart from "
                                    f"{kind} {namespace}/{name}, which does not exist "
                                    f"(existing {kind} objects: {', '.join(known) or 'none'})")


def _terraform_checked_layers(ctx: VerifyContext) -> set[str]:
    """Names of Terraform-declared layers whose post_build map is known offline."""
    if ctx.terraform is None:
        return set()
    from mercury.verify.rules.terraform import flux_layers

    return {layer.name for layer in flux_layers(ctx.terraform) if layer.provided is not None}


class UnsubstitutedVarRule(Rule):
    """A `${VAR}` is left in an object of a Kustomization that uses postBuild substitution,
    and neither its `substitute` map nor the `substituteFrom` ConfigMaps/Secrets of the
    build define VAR: Flux replaces it with an empty string. Reported once per
    Kustomization and variable, at the first line that uses it. Only Kustomizations with
    postBuild are checked (elsewhere `${...}` is literal text); `$${VAR}` (an escape),
    `${VAR:=default}`, objects with substitute: disabled, keys of SOPS Secrets and
    substituteFrom objects the build does not contain (values unknown) are fine.
    Layers declared in Terraform whose substitute map is known offline are left to
    `substitution-missing`, which reports each variable once for all of them.
    """

    id = "unsubstituted-var"
    summary = "a ${VAR} survives Flux post-build substitution"
    hint = "add the variable to the Kustomization's postBuild.substitute (or substituteFrom)"
    tags = ("flux",)

    def check_all(self, ctx: VerifyContext) -> Iterable[Finding]:
        checked_in_terraform = _terraform_checked_layers(ctx)
        for build in ctx.builds:
            ks = build.kustomization
            if not ks.has_post_build or ks.name in checked_in_terraform:
                continue
            reported: set[str] = set()
            for obj in build.objects:
                for var in build.unresolved.get(str(obj.ref), []):
                    if var in reported or var in ks.substitute:
                        continue
                    reported.add(var)
                    line = _use_line(ctx, obj, var)
                    yield self.finding(
                        obj, f"{obj.kind} {obj.namespace}/{obj.name} uses ${{{var}}}, which "
                             f"Flux Kustomization {ks.name} does not provide (postBuild "
                             "substitute/substituteFrom): Flux substitutes an empty string",
                        line=line)


def _use_line(ctx: VerifyContext, obj: K8sObject, var: str) -> int | None:
    """The line of the object's source file that uses `${var}` (else the object's line)."""
    from mercury.verify.manifest_vars import file_vars

    if not obj.origin.file:
        return obj.origin.line
    uses = file_vars(ctx.root, ctx.root / obj.origin.file, ctx.cache.setdefault("vars", {}))
    use = uses.get(var)
    return use.line if use is not None else obj.origin.line
