"""Flux rules: dependsOn targets exist and form no cycle, chart sources exist, no `${VAR}`
survives post-build substitution.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Iterator
from typing import Any

from mercury.builder.model import FluxKustomization, K8sObject
from mercury.verify.context import VerifyContext
from mercury.verify.findings import Finding, Severity
from mercury.verify.rules.base import Rule
from mercury.verify.rules.index import dig

Node = tuple[str, str]  # (namespace, name)
_VAR = re.compile(r"(?<!\$)\$\{([_a-zA-Z][_a-zA-Z0-9]*)\}")
SUBSTITUTE_ANNOTATION = "kustomize.toolkit.fluxcd.io/substitute"


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
        for obj in ctx.of_kind("Kustomization"):
            if obj.group.startswith("kustomize.toolkit.fluxcd.io"):
                nodes.setdefault((obj.namespace, obj.name), (obj, self._deps(obj)))
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


def _strings(data: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(data, str):
        yield path, data
    elif isinstance(data, dict):
        for key, value in data.items():
            yield from _strings(value, f"{path}.{key}" if path else str(key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            yield from _strings(value, f"{path}[{i}]")


def _terraform_checked_layers(ctx: VerifyContext) -> set[str]:
    """Names of Terraform-declared layers whose post_build map is known offline."""
    if ctx.terraform is None:
        return set()
    from mercury.verify.rules.terraform import flux_layers

    return {layer.name for layer in flux_layers(ctx.terraform) if layer.provided is not None}


class UnsubstitutedVarRule(Rule):
    """A `${VAR}` is left in an object of a layer that uses postBuild substitution, and the
    layer's substitute map does not define VAR: Flux replaces it with an empty string.
    Only layers with postBuild are checked (elsewhere `${...}` is literal text); `$${VAR}`
    (escaped), `${VAR:=default}` and objects with substitute: disabled are fine. When the
    layer also reads substituteFrom the variable may come from there: a warning.
    Layers declared in Terraform whose substitute map is known offline are left to
    `substitution-missing`, which reports each variable once, at the line that uses it,
    instead of once per object (a base file shared by 1,000 tenants).
    """

    id = "unsubstituted-var"
    summary = "a ${VAR} survives Flux post-build substitution"
    hint = "add the variable to the Flux configuration's post_build substitute map (Terraform)"
    tags = ("flux",)

    def check_all(self, ctx: VerifyContext) -> Iterable[Finding]:
        checked_in_terraform = _terraform_checked_layers(ctx)
        for build in ctx.builds:
            ks = build.kustomization
            if not (ks.has_post_build or ks.substitute or ks.substitute_from):
                continue
            if ks.name in checked_in_terraform:
                continue
            severity = Severity.WARNING if ks.substitute_from else None
            for obj in build.objects:
                if obj.annotations.get(SUBSTITUTE_ANNOTATION) == "disabled":
                    continue
                missing: dict[str, str] = {}
                for path, text in _strings(obj.body, ""):
                    for var in _VAR.findall(text):
                        if var not in ks.substitute:
                            missing.setdefault(var, path)
                for var in build.unresolved.get(str(obj.ref), []):
                    if var not in ks.substitute:
                        missing.setdefault(var, "a field the build reported")
                for var, path in missing.items():
                    yield self.finding(
                        obj, f"{obj.kind} {obj.namespace}/{obj.name} uses ${{{var}}} at {path}, "
                             f"which the postBuild.substitute of Kustomization {ks.name} does not "
                             "define (Flux substitutes an empty string"
                             + (", unless substituteFrom provides it)" if severity else ")"),
                        severity=severity)
