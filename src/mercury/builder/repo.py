"""Build what Flux would apply: kustomize, postBuild substitution, origins, redaction.

A failed build never raises: it becomes BuildResult.error (one line) with the tool's
output in error_detail, so `verify` can report it next to everything else.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

from mercury.builder.inputs import KUSTOMIZATION_FILES, generated_resources, has_kustomization
from mercury.builder.kustomize import (
    Overlay,
    cause_line,
    kustomize_build,
    parse_documents,
    pop_origin,
    split_documents,
)
from mercury.builder.model import BuildResult, FluxKustomization, K8sObject, Origin
from mercury.builder.offline import mirror, remote_refs
from mercury.builder.reconcile import Reconciled, reconcile
from mercury.builder.scan import RepoIndex, find_origin, line_in_file, repo_index
from mercury.builder.sops import generated_from_sops
from mercury.builder.sourceignore import SourceIgnore
from mercury.builder.substitute import (
    DISABLE_KEY,
    SubstitutionError,
    check_var_names,
    is_disabled,
    substitute,
)
from mercury.errors import InputError, ToolError


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
        for n, names in list(unresolved.items()):
            # values Flux has but mercury cannot see: SOPS keys, objects not in the build
            names = [v for v in names if v not in ks.substitute_opaque]
            if names and ks.substitute_complete:
                unresolved[n] = names
            else:
                del unresolved[n]
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
        obj.origin = _origin(body, obj, base, resolved_root, index, ks, rel_cache)
        if isinstance(body.get("sops"), dict):
            del body["sops"]  # Flux decrypts before applying: keys stay, values are secret
            obj.encrypted = True
        elif obj.kind == "Secret" and obj.origin.file and \
                Path(obj.origin.file).name in KUSTOMIZATION_FILES:
            obj.encrypted = generated_from_sops(root / obj.origin.file, obj.name)
        if obj.kind == "Secret" and obj.api_version == "v1":
            wiped = _redact(body)
            obj.redacted = [] if obj.encrypted else wiped
        if n in unresolved:
            result.unresolved[str(obj.ref)] = unresolved[n]
        result.objects.append(obj)


def build_kustomization(root: Path, ks: FluxKustomization,
                        index: RepoIndex | None = None) -> BuildResult:
    """Build one Flux Kustomization; every failure ends up in BuildResult.error."""
    started = time.perf_counter()
    result = BuildResult(kustomization=ks)
    path = root / ks.path
    index = index or repo_index(root)
    try:
        if not path.is_dir():
            raise InputError(f"path ./{ks.path} does not exist")
        overlay = overlay_of(root, ks)
        try:
            stream, base = kustomize_build(path, overlay=overlay, ignore=_ignore(root))
            build_objects(stream, base, ks, root, index, result)
        except ToolError:
            remote = remote_refs(path, overlay.components if overlay else ())
            if not remote:
                raise
            _build_offline(root, ks, index, result)
            result.remote = remote
    except ToolError as exc:
        result.error = (f"kustomize build of ./{ks.path} failed: "
                        f"{cause_line(exc.stderr or exc.stdout, root)}")
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


def _build_offline(root: Path, ks: FluxKustomization, index: RepoIndex,
                   result: BuildResult) -> None:
    """The build without its remote references (builder.offline), origins kept."""
    with tempfile.TemporaryDirectory(prefix="mercury-offline-") as tmp:
        scratch = Path(tmp)
        components = tuple((root / ks.path / c).resolve() for c in ks.components)
        mirror(root, scratch, ((root / ks.path).resolve(), *components))
        (scratch / ks.path).mkdir(parents=True, exist_ok=True)
        result.objects.clear()
        stream, base = kustomize_build(scratch / ks.path, overlay=overlay_of(scratch, ks),
                                       ignore=SourceIgnore(scratch))
        build_objects(stream, base, ks, scratch, index, result)


def overlay_of(root: Path, ks: FluxKustomization) -> Overlay | None:
    """The Flux spec fields that change the build, or None when there are none."""
    overlay = Overlay(
        namespace=ks.target_namespace, name_prefix=ks.name_prefix, name_suffix=ks.name_suffix,
        patches=tuple(ks.patches),
        components=tuple((root / ks.path / c).resolve() for c in ks.components),
        labels=tuple(sorted(ks.common_labels.items())),
        annotations=tuple(sorted(ks.common_annotations.items())), images=tuple(ks.images))
    return None if overlay == Overlay() else overlay


_IGNORES: dict[Path, SourceIgnore] = {}


def _ignore(root: Path) -> SourceIgnore:
    resolved = root.resolve()
    if resolved not in _IGNORES:
        _IGNORES.clear()
        _IGNORES[resolved] = SourceIgnore(resolved)
    return _IGNORES[resolved]


def reconcile_repo(root: Path, *, env: str | None = None, include_all: bool = False,
                   values: dict[str, str] | None = None,
                   strict_platform: bool = False) -> Reconciled:
    """Every Kustomization the roots of `env` reach, built (see builder.reconcile)."""
    if not root.is_dir():
        raise InputError(f"repository not found: {root}")
    index = repo_index(root)
    return reconcile(root, lambda ks: build_kustomization(root, ks, index), env=env,
                     include_all=include_all, values=values,
                     strict_platform=strict_platform)


def build_repo(root: Path, *, env: str | None = None, only: str | None = None,
               values: dict[str, str] | None = None,
               include_all: bool = False) -> list[BuildResult]:
    """One BuildResult per Flux Kustomization reached from the roots, in dependency order.

    `values` override substitution values (for Kustomizations with a postBuild).
    Repository-level notes (skipped Terraform files, dropped duplicates) are attached
    to the first result's `notes`.
    """
    found = reconcile_repo(root, env=env, include_all=include_all, values=values)
    results = found.results
    if only is not None:
        known = [r.kustomization.name for r in results]
        results = [r for r in results if r.kustomization.name == only]
        if not results:
            raise InputError(f"unknown Kustomization {only!r} "
                             f"(known: {', '.join(known) or 'none'})")
    if results:
        results[0].notes.extend(found.notes)
    return results


def discover_kustomizations(root: Path, env: str | None = None) -> list[FluxKustomization]:
    """Every Flux Kustomization the roots of `env` reach, in dependency order (as the
    reconciliation walk finds them, children from their parents' builds)."""
    return [r.kustomization for r in reconcile_repo(root, env=env).results]


def build_path(path: Path, *, values: dict[str, str] | None = None,
               root: Path | None = None) -> BuildResult:
    """Build one directory directly (no discovery); substitute only with `values`."""
    if not path.is_dir():
        raise InputError(f"not a directory: {path}")
    target = path.resolve()
    if not has_kustomization(target) and not generated_resources(target):
        raise InputError("nothing to build: no kustomization.yaml and no Kubernetes "
                         "manifest here", file=str(path))
    base = root.resolve() if root is not None else target
    if not target.is_relative_to(base):
        base = target
    rel = os.path.relpath(target, base)
    ks = FluxKustomization(name=target.name, path=rel, substitute=dict(values or {}),
                           has_post_build=bool(values))
    index = repo_index(base)
    return build_kustomization(base, ks, index)

