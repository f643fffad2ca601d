"""Build what Flux would apply: kustomize, postBuild substitution, origins, redaction.

A failed build never raises: it becomes BuildResult.error (one line) with the tool's
output in error_detail, so `verify` can report it next to everything else.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from mercury.builder.discover import discover
from mercury.builder.kustomize import (
    kustomize_build,
    parse_documents,
    pop_origin,
    split_documents,
)
from mercury.builder.model import BuildResult, FluxKustomization, K8sObject, Origin
from mercury.builder.scan import RepoIndex, find_origin, line_in_file, repo_index
from mercury.builder.substitute import (
    DISABLE_KEY,
    SubstitutionError,
    check_var_names,
    is_disabled,
    substitute,
)
from mercury.errors import InputError, ToolError

# Kinds kustomize/Flux never namespace (targetNamespace leaves them alone).
CLUSTER_SCOPED = frozenset({
    "Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding",
    "StorageClass", "PersistentVolume", "PriorityClass", "IngressClass", "RuntimeClass",
    "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration", "APIService",
    "CSIDriver", "VolumeSnapshotClass", "ClusterIssuer", "ClusterSecretStore",
    "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding", "Node",
})


def _one_line(text: str, root: Path) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    line = (lines[0] if lines else "no output").removeprefix("error: ")
    line = line.replace(f"{root.resolve()}/", "").replace(str(root.resolve()), ".")
    return line if len(line) <= 300 else line[:297] + "..."


def _redact(body: dict[str, Any]) -> list[str]:
    """Blank Secret values (keys stay, so "data committed" stays visible)."""
    wiped: list[str] = []
    for field in ("data", "stringData"):
        values = body.get(field)
        if isinstance(values, dict):
            for key, value in values.items():
                if value not in (None, ""):
                    wiped.append(f"{field}.{key}")
                values[key] = ""
    return wiped


def _substitute_docs(docs: list[str], variables: dict[str, str]) -> dict[int, list[str]]:
    """Substitute in place (per document, like Flux); returns doc index -> unset names."""
    unresolved: dict[int, list[str]] = {}
    for n, doc in enumerate(docs):
        if "$" not in doc:
            continue
        if DISABLE_KEY in doc and is_disabled(parse_documents([doc])[0] or {}):
            continue
        docs[n], missing = substitute(doc, variables)
        if missing:
            unresolved[n] = missing
    return unresolved


def _origin(body: dict[str, Any], obj: K8sObject, base: str, root: str,
            index: RepoIndex, ks: FluxKustomization, rel_cache: dict[str, str]) -> Origin:
    source = pop_origin(body, base)
    if source is not None:
        rel = rel_cache.get(source)
        if rel is None:
            rel = rel_cache[source] = Path(os.path.relpath(source, root)).as_posix()
        if not rel.startswith(".."):
            return Origin(rel, line_in_file(index, rel, obj.kind, obj.name))
    doc = find_origin(index, obj.kind, obj.name, obj.namespace, ks.path)
    return Origin(doc.file, doc.line) if doc is not None else Origin()


def build_objects(stream: str, base: str, ks: FluxKustomization, root: Path,
                  index: RepoIndex, result: BuildResult) -> None:
    """Fill `result` from kustomize output: substitute, parse, locate, redact."""
    docs = split_documents(stream)
    unresolved: dict[int, list[str]] = {}
    if ks.has_post_build:
        check_var_names(ks.substitute)
        unresolved = _substitute_docs(docs, ks.substitute)
    seen: set[tuple[str, str, str, str]] = set()
    rel_cache: dict[str, str] = {}
    resolved_root = str(root.resolve())
    for n, body in enumerate(parse_documents(docs)):
        if not isinstance(body, dict):
            continue
        obj = K8sObject(body=body, kustomization=ks.name)
        key = (obj.group, obj.kind, obj.namespace, obj.name)
        if key in seen:  # what kustomize reports when the build was fanned out
            raise InputError(f"may not add resource with an already registered id: {obj.ref}")
        seen.add(key)
        if ks.target_namespace and obj.kind not in CLUSTER_SCOPED:
            body.setdefault("metadata", {})["namespace"] = ks.target_namespace
        obj.origin = _origin(body, obj, base, resolved_root, index, ks, rel_cache)
        if obj.kind == "Secret" and obj.api_version == "v1":
            obj.redacted = _redact(body)
        if n in unresolved:
            result.unresolved[str(obj.ref)] = unresolved[n]
        result.objects.append(obj)


def build_kustomization(root: Path, ks: FluxKustomization,
                        index: RepoIndex | None = None) -> BuildResult:
    """Build one Flux Kustomization; every failure ends up in BuildResult.error."""
    started = time.perf_counter()
    result = BuildResult(kustomization=ks)
    path = root / ks.path
    try:
        if not path.is_dir():
            raise InputError(f"path ./{ks.path} does not exist")
        stream, base = kustomize_build(path)
        build_objects(stream, base, ks, root, index or repo_index(root), result)
    except ToolError as exc:
        result.error = f"kustomize build of ./{ks.path} failed: {_one_line(exc.stderr, root)}"
        result.error_detail = exc.stderr or exc.stdout
    except InputError as exc:
        result.error = str(exc)
    except SubstitutionError as exc:
        result.error = f"postBuild substitution failed: {exc}"
    except ValueError as exc:  # YAML broken by a substituted value
        result.error = f"postBuild substitution produced invalid YAML: {exc}"
    if result.error:
        result.objects = []
        result.unresolved = {}
    result.seconds = time.perf_counter() - started
    return result


def build_repo(root: Path, *, env: str | None = None, only: str | None = None,
               values: dict[str, str] | None = None) -> list[BuildResult]:
    """One BuildResult per Flux Kustomization of `root`, in dependency order.

    `values` override substitution values (for Kustomizations with a postBuild).
    Repository-level notes (skipped Terraform files, dropped duplicates) are attached
    to the first result's `notes`.
    """
    if not root.is_dir():
        raise InputError(f"repository not found: {root}")
    kustomizations, notes = discover(root, env)
    if only is not None:
        known = [ks.name for ks in kustomizations]
        kustomizations = [ks for ks in kustomizations if ks.name == only]
        if not kustomizations:
            raise InputError(f"unknown Kustomization {only!r} "
                             f"(known: {', '.join(known) or 'none'})")
    for ks in kustomizations:
        if values and ks.has_post_build:
            ks.substitute.update(values)
    index = repo_index(root)
    workers = max(1, min(4, os.cpu_count() or 2, len(kustomizations)))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(lambda ks: build_kustomization(root, ks, index),
                                kustomizations))
    if results:
        results[0].notes.extend(notes)
    return results


def build_path(path: Path, *, values: dict[str, str] | None = None,
               root: Path | None = None) -> BuildResult:
    """Build one directory directly (no discovery); substitute only with `values`."""
    if not path.is_dir():
        raise InputError(f"not a directory: {path}")
    target = path.resolve()
    base = root.resolve() if root is not None else target
    if not target.is_relative_to(base):
        base = target
    rel = os.path.relpath(target, base)
    ks = FluxKustomization(name=target.name, path=rel, substitute=dict(values or {}),
                           has_post_build=bool(values))
    index = repo_index(base)
    return build_kustomization(base, ks, index)

