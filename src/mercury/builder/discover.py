"""The typed view of a Flux Kustomization object, and the order Kustomizations run in.

`from_body` reads every field mercury models (path, dependsOn with namespaces, sourceRef,
postBuild, patches, components, prefix/suffix, commonMetadata, images) in one place;
which Kustomizations exist is the reconciliation walk's business (builder.reconcile).
"""

from __future__ import annotations

import re
from typing import Any

from mercury.builder.model import FluxKustomization, Origin
from mercury.builder.scan import YamlDoc

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s)")


def _seconds(value: Any) -> int | None:
    if not isinstance(value, str) or not value:
        return None
    parts = _DURATION.findall(value)
    if not parts or "".join(n + u for n, u in parts) != value:
        return None
    scale = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    return int(sum(float(n) * scale[u] for n, u in parts))


def _dict(parent: dict[str, Any], key: str) -> dict[str, Any]:
    value = parent.get(key)
    return value if isinstance(value, dict) else {}


def _list(parent: dict[str, Any], key: str) -> list[Any]:
    value = parent.get(key)
    return value if isinstance(value, list) else []


def _str_map(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(k): "" if v is None else str(v) for k, v in value.items()}


def from_body(body: dict[str, Any], origin: Origin) -> FluxKustomization:
    """A Flux Kustomization object (as declared, or as its parent's build produced it)."""
    meta = _dict(body, "metadata")
    spec = _dict(body, "spec")
    post = _dict(spec, "postBuild")
    refs = _list(post, "substituteFrom")
    namespace = str(meta.get("namespace") or "flux-system")
    source = _dict(spec, "sourceRef")
    common = _dict(spec, "commonMetadata")
    depends = []
    for dep in _list(spec, "dependsOn"):
        if isinstance(dep, dict) and dep.get("name"):
            dep_ns = dep.get("namespace")
            depends.append(f"{dep_ns}/{dep['name']}" if dep_ns else str(dep["name"]))
    return FluxKustomization(
        name=str(meta.get("name", "")),
        path=str(spec.get("path") or ".").removeprefix("./").strip("/") or ".",
        namespace=namespace,
        depends_on=depends,
        substitute=_str_map(post.get("substitute")),
        substitute_from=[(str(r.get("kind", "")), str(r.get("name", "")),
                          r.get("optional") is True) for r in refs if isinstance(r, dict)],
        target_namespace=spec.get("targetNamespace") or None,
        prune=spec.get("prune") is True,
        origin=origin,
        interval_seconds=_seconds(spec.get("interval")),
        declared_in="yaml",
        has_post_build="postBuild" in spec,
        source=(str(source.get("kind") or "GitRepository"),
                str(source.get("namespace") or namespace), str(source.get("name")))
        if source.get("name") else None,
        patches=[p for p in _list(spec, "patches") if isinstance(p, dict)],
        components=[str(c) for c in _list(spec, "components") if isinstance(c, str)],
        name_prefix=spec.get("namePrefix") or None,
        name_suffix=spec.get("nameSuffix") or None,
        common_labels=_str_map(common.get("labels")),
        common_annotations=_str_map(common.get("annotations")),
        images=[i for i in _list(spec, "images") if isinstance(i, dict)],
    )


def from_yaml_doc(doc: YamlDoc) -> FluxKustomization:
    return from_body(doc.body or {}, Origin(doc.file, doc.line))


def _parents(items: list[FluxKustomization]) -> dict[str, list[str]]:
    """Kustomization -> the Kustomizations whose path holds its declaration (they apply
    it, so they come first: flux-system before the rest)."""
    out: dict[str, list[str]] = {}
    for ks in items:
        if ks.declared_in != "yaml" or not ks.origin.file:
            continue
        out[ks.name] = [p.name for p in items if p is not ks and p.path != "." and
                        ks.origin.file.startswith(p.path.rstrip("/") + "/")]
    return out


def order_by_dependencies(items: list[FluxKustomization]) -> list[FluxKustomization]:
    """Topological order (dependsOn first, and the Kustomization that applies another's
    declaration before it), stable in declared order; unknown deps are ignored and
    members of a cycle keep their declared order at the end."""
    names = {ks.name for ks in items}
    parents = _parents(items)
    pending = list(items)
    done: set[str] = set()
    ordered: list[FluxKustomization] = []
    while pending:
        ready = next((ks for ks in pending
                      if all(d in done or d not in names
                             for d in [*ks.depends_on, *parents.get(ks.name, [])])), None)
        if ready is None:  # a cycle: emit the rest as declared
            ordered.extend(pending)
            break
        ordered.append(ready)
        done.add(ready.name)
        pending.remove(ready)
    return ordered
