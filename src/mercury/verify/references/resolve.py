"""Walk every table row over the build and record each reference that resolves to nothing.

One pass over the objects: each object is walked only by the rows of its kind, and each
name is looked up in the `Targets` index by (kind, namespace, name), so the cost is
O(objects x rows of their kind), not O(objects^2). The result is computed once per run
and shared by every rule that reports a part of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import yaml

from mercury.builder.model import K8sObject
from mercury.verify.context import VerifyContext
from mercury.verify.findings import Severity
from mercury.verify.references.paths import Match, Trie, walk, walk_all
from mercury.verify.references.table import CLUSTER, CLUSTER_SCOPED, Row, rows_by_kind, sub_id
from mercury.verify.references.targets import Targets
from mercury.verify.rules.index import is_true

CACHE_KEY = "reference-table"
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
SHOWN = 6  # how many existing names a message lists


@dataclass(frozen=True)
class Broken:
    """One reference that resolves to nothing: both ends and what is wrong."""

    rule: str
    sub: str
    obj: K8sObject
    path: str
    target: str  # Kind/namespace/name (or a local description)
    problem: str
    severity: Severity | None = None

    @property
    def message(self) -> str:
        return f"{self.obj.ref} {self.path} -> {self.target}: {self.problem}"


def targets(ctx: VerifyContext) -> Targets:
    found = ctx.cache.get("reference-targets")
    if found is None:
        found = ctx.cache["reference-targets"] = Targets(ctx)
    assert isinstance(found, Targets)
    return found


def broken_references(ctx: VerifyContext) -> list[Broken]:
    """Every broken reference of the table, the selectors and the implicit host names."""
    cached = ctx.cache.get(CACHE_KEY)
    if cached is not None:
        return list(cached)
    from mercury.verify.references.implicit import broken_hosts
    from mercury.verify.references.selectors import broken_selectors

    index = targets(ctx)
    dispatch = _compiled()
    out: list[Broken] = []
    for obj in ctx.objects:
        compiled = dispatch.get(obj.kind)
        if compiled is None:
            continue
        rows, trie = compiled
        for i, match in walk_all(obj.body, trie):
            row = rows[i]
            if not row.groups or obj.group.startswith(row.groups):
                out.extend(_check_match(row, match, obj, index))
    out.extend(broken_selectors(ctx, index))
    out.extend(broken_hosts(ctx, index))
    ctx.cache[CACHE_KEY] = out
    return list(out)


@lru_cache(maxsize=1)
def _compiled() -> dict[str, tuple[list[Row], Trie]]:
    """Source kind -> (its reported rows, their paths as one trie)."""
    out: dict[str, tuple[list[Row], Trie]] = {}
    for kind, rows in rows_by_kind().items():
        mine = [r for r in rows if r.reported_here]
        trie = Trie()
        for i, row in enumerate(mine):
            trie.add(row.path, i)
        out[kind] = (mine, trie)
    return out


def _check_match(row: Row, match: Match, obj: K8sObject, index: Targets) -> list[Broken]:
    if not isinstance(match.value, (str, int)) or match.value in ("", None):
        return []
    if row.when is not None and not row.when(match):
        return []
    if row.optional and is_true(match.parent.get(row.optional)):
        return []
    value = str(match.value)
    if "${" in value:
        return []  # left for unsubstituted-var
    kind = str(match.parent.get(row.kind_field) or row.default_kind or row.target[0]) \
        if row.kind_field else row.target[0]
    if kind not in row.target:
        return []
    if kind.startswith("@"):
        problem = _local(kind, value, match, obj)
        if problem:
            return [Broken(row.rule, sub_id(kind), obj, match.path, problem[0], problem[1],
                           row.severity)]
        return []
    out: list[Broken] = []
    for ns, name in (row.transform(value, obj.namespace) if row.transform
                     else [(None, value)]):
        broken = _resolve(row, kind, ns, name, match, obj, index)
        if broken is not None:
            out.append(broken)
    return out


def _namespace(row: Row, kind: str, match: Match, obj: K8sObject) -> str:
    if kind in CLUSTER_SCOPED or row.namespace == CLUSTER:
        return ""
    if row.namespace.startswith("field:"):
        return str(match.parent.get(row.namespace[6:]) or obj.namespace)
    if row.namespace.startswith("fixed:"):
        return row.namespace[6:]
    return obj.namespace


def _resolve(row: Row, kind: str, ns: str | None, name: str, match: Match, obj: K8sObject,
             index: Targets) -> Broken | None:
    if ns == "*":  # `<namespace>-<name>` of a Traefik annotation
        for candidate in index.namespaces:
            if name.startswith(f"{candidate}-") and index.get(
                    kind, candidate, name[len(candidate) + 1:]):
                return None
        if not index.checkable(kind, obj.namespace):
            return None
        return Broken(row.rule, sub_id(kind), obj, match.path, f"{kind} {name}@kubernetescrd",
                      f"no {kind} <namespace>-<name> matches (in {obj.namespace}: "
                      f"{_listing(index.names(kind, obj.namespace))})", row.severity)
    namespace = ns if ns is not None else _namespace(row, kind, match, obj)
    target = f"{kind}/{namespace}/{name}" if namespace else f"{kind}/{name}"
    found = index.get(kind, namespace, name)
    if not found:
        if not index.checkable(kind, namespace):
            return None
        where = f"in {namespace}" if namespace else "in the cluster"
        return Broken(row.rule, sub_id(kind), obj, match.path, target,
                      f"not found ({kind} {where}: {_listing(index.names(kind, namespace))})",
                      row.severity)
    if row.keys:
        keys = [str(m.value) for m in walk(match.parent, row.keys) if m.value is not None]
        if any(k.keys is None for k in found):
            return None
        have = frozenset().union(*(k.keys or frozenset() for k in found))
        missing = [k for k in keys if k not in have]
        if missing:
            return Broken(row.rule, sub_id(kind), obj, match.path, target,
                          f"has no key '{missing[0]}' (keys: {_listing(sorted(have))})",
                          row.severity)
    return None


def _listing(names: list[str]) -> str:
    if not names:
        return "none"
    shown = ", ".join(names[:SHOWN])
    return shown + (f" and {len(names) - SHOWN} more" if len(names) > SHOWN else "")


def _local(kind: str, value: str, match: Match, obj: K8sObject) -> tuple[str, str] | None:
    """(target, problem) when a reference inside the object itself names nothing."""
    if kind == "@container-port":
        container: dict[str, Any] = next(
            (a for a in reversed(match.ancestors) if "image" in a), {})
        names = sorted(str(p.get("name")) for p in container.get("ports") or []
                       if isinstance(p, dict) and p.get("name"))
        if value not in names:
            return (f"port '{value}' of container {container.get('name')}",
                    f"the container names no such port (ports: {_listing(names)})")
        return None
    if kind == "@volume":
        pod: dict[str, Any] = next(
            (a for a in reversed(match.ancestors) if "containers" in a), {})
        names = sorted(str(v.get("name")) for v in pod.get("volumes") or []
                       if isinstance(v, dict))
        if value not in names:
            return (f"volume '{value}' of the pod spec",
                    f"the pod declares no such volume (volumes: {_listing(names)})")
        return None
    if kind == "@external-cluster":
        names = sorted(str(e.get("name")) for e in obj.spec.get("externalClusters") or []
                       if isinstance(e, dict))
        if value not in names:
            return (f"externalClusters '{value}' of {obj.ref}",
                    f"no such spec.externalClusters entry (entries: {_listing(names)})")
        return None
    if kind == "@spc-object":
        fetched = spc_object_names(obj)
        if fetched is not None and value not in fetched:
            return (f"object '{value}' of {obj.ref} spec.parameters.objects",
                    f"the SecretProviderClass fetches no object of that name or alias "
                    f"(objects: {_listing(sorted(fetched))}): the Secret is never synced")
        return None
    return None


def spc_object_names(spc: K8sObject) -> frozenset[str] | None:
    """objectName and objectAlias of each entry of parameters.objects (None: unparseable)."""
    raw = (spc.spec.get("parameters") or {}).get("objects")
    if not isinstance(raw, str) or "${" in raw:
        return None
    return _object_names(raw)


@lru_cache(maxsize=4096)
def _object_names(raw: str) -> frozenset[str] | None:
    try:
        doc: Any = yaml.load(raw, _LOADER)
    except yaml.YAMLError:
        return None
    items = doc.get("array") if isinstance(doc, dict) else doc
    if not isinstance(items, list):
        return None
    names: set[str] = set()
    for item in items:
        try:
            entry = yaml.load(item, _LOADER) if isinstance(item, str) else item
        except yaml.YAMLError:
            return None
        if isinstance(entry, dict):
            for key in ("objectName", "objectAlias"):
                if entry.get(key):
                    names.add(str(entry[key]))
    return frozenset(names)
