"""Discovery by reconciliation: walk the Kustomization tree from the roots, as Flux does.

Roots are what nothing in the repository applies: the Terraform flux configuration's
kustomizations, and YAML Flux Kustomizations that no other Kustomization's path reads
(`clusters/<name>/flux-system` applies itself: a root). Every other Kustomization is
taken from its parent's *built* output, after the parent's patches, components,
substitution, targetNamespace and kustomize transformers, so it is checked as Flux
would create it. Declarations no root reaches (archives, other clusters, templates) are
skipped and counted; `include_all` builds them too.

A root under `clusters/<name>/` belongs to environment <name>; the others to every one.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from mercury.builder.discover import from_yaml_doc, order_by_dependencies
from mercury.builder.environment import EnvChoice, resolve_environment
from mercury.builder.inputs import walk
from mercury.builder.model import BuildResult, FluxKustomization
from mercury.builder.scan import YamlDoc, repo_index
from mercury.builder.scope import cluster_scoped_kinds
from mercury.builder.terraform import discover_terraform

FLUX_GROUP = "kustomize.toolkit.fluxcd.io"
Key = tuple[str, str]  # (namespace, name)
Builder = Callable[[FluxKustomization], BuildResult]


@dataclass
class Reconciled:
    """What a walk from the roots reached."""

    results: list[BuildResult] = field(default_factory=list)
    environment: EnvChoice = field(default_factory=lambda: EnvChoice(None))
    skipped: list[YamlDoc] = field(default_factory=list)  # declared, reached by no root
    external: list[FluxKustomization] = field(default_factory=list)  # other sources
    notes: list[str] = field(default_factory=list)


def cluster_of(file: str) -> str | None:
    """`clusters/<name>/...` -> name (a cluster root is an environment)."""
    parts = Path(file).parts
    if "clusters" in parts[:-2]:
        return parts[parts.index("clusters") + 1]
    return None


def same_repo(url: str) -> str:
    """A Git URL reduced to host/path: `ssh://git@github.com/a/b.git` == `https://github.com/a/b`."""
    url = re.sub(r"^[a-z+]+://", "", url.strip().lower())
    url = re.sub(r"^[^@/]+@", "", url).replace(":", "/", 1) if "@" in url.split("/")[0] \
        else url
    return url.removesuffix("/").removesuffix(".git")


def own_source(docs: list[YamlDoc]) -> tuple[str, str, str] | None:
    """The GitRepository that is this repository: the one most declarations use (the
    bootstrap source, `flux-system` on a tie)."""
    counts: dict[tuple[str, str, str], int] = {}
    for doc in docs:
        source = from_yaml_doc(doc).source
        if source is not None and source[0] == "GitRepository":
            counts[source] = counts.get(source, 0) + 1
    if not counts:
        return None
    return max(counts, key=lambda s: (counts[s], s[2] == "flux-system", s))


def yaml_roots(root: Path, docs: list[YamlDoc], own: tuple[str, str, str] | None,
               applied_paths: tuple[str, ...] = ()) -> list[YamlDoc]:
    """The declared Flux Kustomizations Flux starts from.

    A bootstrap Kustomization reads its own file (`clusters/<name>/flux-system`, path
    `./clusters/<name>`): where the repository has one, only those are roots and a
    declaration they do not reach is never applied (a file no kustomization lists).
    Without one (the bootstrap is elsewhere: a FluxInstance, Terraform, a placeholder
    gotk-sync.yaml), every Kustomization no other one of this repository's source reads
    is a root; a `clusters/<name>/` without a bootstrap of its own keeps that rule.
    `applied_paths` are what other roots (Terraform's) apply: a declaration there is
    their child, not a root.
    """
    memo: dict[Path, object] = {}
    resolved = root.resolve()
    read_by_other: set[tuple[str, int]] = set()
    self_applying: set[tuple[str, int]] = set()
    files_of: dict[str, list[YamlDoc]] = {}
    for doc in docs:
        files_of.setdefault(doc.file, []).append(doc)
    candidates = [d for d in docs if _reconcilable(d)]
    for path in applied_paths:
        for file in walk(root / path, memo).files:  # type: ignore[arg-type]
            rel = file.relative_to(resolved).as_posix() if file.is_relative_to(resolved) else ""
            read_by_other |= {(d.file, d.line) for d in files_of.get(rel, ())}
    for doc in candidates:
        ks = from_yaml_doc(doc)
        if own is not None and ks.source != own:
            continue  # a Kustomization of another source reads another tree
        for file in walk(root / ks.path, memo).files:  # type: ignore[arg-type]
            try:
                rel = file.relative_to(resolved).as_posix()
            except ValueError:
                continue
            for other in files_of.get(rel, ()):
                if other is doc:
                    self_applying.add((doc.file, doc.line))
                else:
                    read_by_other.add((other.file, other.line))
    bootstrapped = {cluster_of(f) for f, _ in self_applying}
    return [d for d in candidates if (d.file, d.line) in self_applying
            or ((d.file, d.line) not in read_by_other and cluster_of(d.file) is not None
                and cluster_of(d.file) not in bootstrapped)
            or ((d.file, d.line) not in read_by_other and not self_applying)]


def _reconcilable(doc: YamlDoc) -> bool:
    """A named Kustomization with a sourceRef (not a patch, not a template)."""
    body = doc.body or {}
    spec = body.get("spec")
    meta = body.get("metadata")
    return isinstance(meta, dict) and bool(meta.get("name")) and isinstance(spec, dict) \
        and "sourceRef" in spec


def reconcile(root: Path, build: Builder, *, env: str | None = None,
              include_all: bool = False, values: dict[str, str] | None = None,
              workers: int = 4, strict_platform: bool = False) -> Reconciled:
    """Build every Kustomization the roots of `env` reach, level by level."""
    index = repo_index(root)
    out = Reconciled(notes=list(index.errors))
    own = own_source(index.flux_kustomizations)
    root_docs = yaml_roots(root, index.flux_kustomizations, own)
    clusters = sorted({c for d in root_docs if (c := cluster_of(d.file))})
    out.environment = choice = resolve_environment(root, env, clusters,
                                                    strict=strict_platform)
    if choice.defaulted and len(choice.known) > 1:
        out.notes.append(f"environment {choice.name} (of {', '.join(choice.known)}; "
                         "pass --env to choose)")
    tf_roots, tf_notes = discover_terraform(root, choice.name)
    out.notes += tf_notes
    if tf_roots:  # what Terraform's roots apply are their children
        root_docs = yaml_roots(root, index.flux_kustomizations, own,
                               tuple(ks.path for ks in tf_roots))
    roots = list(tf_roots)
    taken = {(ks.namespace, ks.name) for ks in roots}
    for doc in root_docs:
        cluster = cluster_of(doc.file)
        if clusters and cluster is not None and cluster != choice.name:
            continue
        ks = from_yaml_doc(doc)
        if (ks.namespace, ks.name) in taken:
            out.notes.append(f"{doc.file}:{doc.line}: Kustomization {ks.name} is also "
                             "declared elsewhere (Terraform or another file); using the first")
            continue
        taken.add((ks.namespace, ks.name))
        roots.append(ks)
    walker = _Walk(root, build, values or {}, workers, out)
    walker.git_urls.update(index.git_urls)
    if own is not None and (own[1], own[2]) in index.git_urls:
        walker.own_urls.add(same_repo(index.git_urls[(own[1], own[2])]))
    if own is not None:
        walker.own_sources.add(own)
    walker.run(roots)
    unreached = [d for d in index.flux_kustomizations if not walker.reached_doc(d)]
    if include_all:
        extra = [from_yaml_doc(d) for d in unreached]
        walker.run([ks for ks in extra if ks.name and (ks.namespace, ks.name) not in walker.seen])
    else:
        out.skipped = unreached
    _unnamespace_cluster_scoped(walker.results)
    out.results = [walker.results[key] for key in _order(walker)]
    return out


def _order(walker: _Walk) -> list[Key]:
    ordered = order_by_dependencies([r.kustomization for r in walker.results.values()])
    return [(ks.namespace, ks.name) for ks in ordered]


class _Walk:
    """Breadth-first: a level's builds feed the next level's substituteFrom values."""

    def __init__(self, root: Path, build: Builder, values: dict[str, str], workers: int,
                 out: Reconciled) -> None:
        self.root, self.build, self.values, self.workers, self.out = \
            root, build, values, workers, out
        self.results: dict[Key, BuildResult] = {}
        self.seen: set[Key] = set()
        self.origins: set[tuple[str | None, str]] = set()
        # (kind, namespace, name) -> (known values, keys without a known value)
        self.data: dict[tuple[str, str, str], tuple[dict[str, str], set[str]]] = {}
        self.own_sources: set[tuple[str, str, str]] = set()
        self.own_urls: set[str] = set()
        self.git_urls: dict[Key, str] = {}

    def reached_doc(self, doc: YamlDoc) -> bool:
        return (doc.file, doc.name) in self.origins or (doc.file, f"@{doc.line}") in self.origins

    def run(self, roots: list[FluxKustomization]) -> None:
        for ks in roots:
            if ks.declared_in == "terraform" and ks.config:
                self.own_sources.add(("GitRepository", ks.namespace, ks.config))
        level = [ks for ks in roots if self._admit(ks)]
        while level:
            built: list[BuildResult] = []
            for wave in _waves(level):
                for ks in wave:
                    self._provide(ks)
                workers = max(1, min(self.workers, os.cpu_count() or 2, len(wave)))
                with ThreadPoolExecutor(max_workers=workers) as pool:
                    done = list(pool.map(self.build, wave))
                for result in done:
                    ks = result.kustomization
                    self.results[(ks.namespace, ks.name)] = result
                    self._collect(result)
                built += done
            level = []
            for result in built:
                for child in self._children(result):
                    if self._admit(child):
                        level.append(child)

    def _admit(self, ks: FluxKustomization) -> bool:
        key = (ks.namespace, ks.name)
        if key in self.seen:
            return False
        self.seen.add(key)
        self.origins.add((ks.origin.file, ks.name))
        self.origins.add((ks.origin.file, f"@{ks.origin.line}"))
        external = self._external(ks)
        if external:
            self.out.external.append(ks)
            return False
        return True

    def _external(self, ks: FluxKustomization) -> bool:
        if ks.source is None or ks.source in self.own_sources:
            return False
        kind, namespace, name = ks.source
        if kind != "GitRepository":
            return True
        url = self.git_urls.get((namespace, name))
        if url is not None:
            return same_repo(url) not in self.own_urls
        return not (self.root / ks.path).is_dir()  # unknown source: this repo if it fits

    def _children(self, result: BuildResult) -> list[FluxKustomization]:
        from mercury.builder.discover import from_body

        out = []
        for obj in result.objects:
            if obj.kind == "Kustomization" and obj.group == FLUX_GROUP:
                child = from_body(obj.body, obj.origin)
                child.parent = str(result.kustomization.ref)
                if child.name:
                    out.append(child)
        return out

    def _collect(self, result: BuildResult) -> None:
        for obj in result.objects:
            if obj.kind == "GitRepository" and obj.group.startswith("source.toolkit.fluxcd.io"):
                url = str(obj.spec.get("url") or "")
                self.git_urls[(obj.namespace, obj.name)] = url
                if ("GitRepository", obj.namespace, obj.name) in self.own_sources:
                    self.own_urls.add(same_repo(url))
            elif obj.kind == "ConfigMap":
                values = {str(k): str(v) for k, v in (obj.body.get("data") or {}).items()}
                self.data[("ConfigMap", obj.namespace, obj.name)] = (values, set())
            elif obj.kind == "Secret":
                keys = {str(k) for field_ in ("data", "stringData")
                        for k in (obj.body.get(field_) or {})}
                self.data[("Secret", obj.namespace, obj.name)] = ({}, keys)

    def _provide(self, ks: FluxKustomization) -> None:
        """postBuild values: substituteFrom objects of the build, then substitute, then
        --values (for Kustomizations with a postBuild only)."""
        if not ks.has_post_build:
            return
        merged: dict[str, str] = {}
        for kind, name, optional in ks.substitute_from:
            found = self.data.get((kind, ks.namespace, name))
            if found is None:
                if not optional:
                    ks.substitute_complete = False
                continue
            merged.update(found[0])
            ks.substitute_opaque |= found[1]
        merged.update(ks.substitute)
        merged.update(self.values)
        ks.substitute = merged


def _waves(level: list[FluxKustomization]) -> list[list[FluxKustomization]]:
    """A level split so that what a Kustomization dependsOn is built before it (its
    ConfigMaps feed the dependent's substituteFrom, as in the cluster)."""
    keys = {(ks.namespace, ks.name) for ks in level}

    def deps(ks: FluxKustomization) -> set[Key]:
        out = set()
        for dep in ks.depends_on:
            ns, _, name = dep.rpartition("/")
            out.add((ns or ks.namespace, name))
        return out & keys

    pending, done, waves = list(level), set[Key](), []
    while pending:
        wave = [ks for ks in pending if deps(ks) <= done] or pending  # a cycle: all at once
        waves.append(wave)
        done |= {(ks.namespace, ks.name) for ks in wave}
        pending = [ks for ks in pending if all(ks is not w for w in wave)]
    return waves


def _unnamespace_cluster_scoped(results: dict[Key, BuildResult]) -> None:
    """kustomize's `namespace:` stamps every kind it does not know; the API server
    ignores a namespace on cluster-scoped kinds, so the model does too."""
    objects = [o for r in results.values() for o in r.objects]
    scoped = cluster_scoped_kinds(objects)
    for obj in objects:
        if obj.kind in scoped and obj.namespace:
            obj.body["metadata"].pop("namespace", None)
