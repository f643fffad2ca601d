"""Which Flux Kustomizations a repository declares, in dependency order.

Two sources: `azurerm_kubernetes_flux_configuration` resources in Terraform (this
repository's way) and `kustomize.toolkit.fluxcd.io` Kustomization objects in YAML (any
Flux repo, e.g. `clusters/<env>/*.yaml`). When both declare the same name, Terraform
wins: it is what creates the objects on AKS, a YAML twin is usually a stale copy (the
dropped one is reported in the notes).

With several environments in YAML (`clusters/staging`, `clusters/production`), a
Kustomization belongs to env E when E is one of its file's path segments; without a
match for the chosen env everything is kept and duplicate names keep the first file.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from mercury.builder.model import FluxKustomization, Origin
from mercury.builder.scan import YamlDoc, repo_index
from mercury.builder.terraform import default_environment, discover_terraform


def resolve_environment(root: Path, env: str | None) -> str | None:
    """--env, else the first environment of platform.yaml, else var.environment's default."""
    if env:
        return env
    platform = root / "platform.yaml"
    if platform.is_file():
        try:
            data = yaml.load(platform.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
        except (OSError, yaml.YAMLError):
            data = None
        envs = data.get("environments") if isinstance(data, dict) else None
        if isinstance(envs, dict) and envs:
            return str(next(iter(envs)))
    return default_environment(root)


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


def _yaml_kustomizations(root: Path, env: str | None) -> tuple[list[FluxKustomization],
                                                                list[str]]:
    index = repo_index(root)
    notes = list(index.errors)
    docs = index.flux_kustomizations
    if not env:
        env = _guess_env(docs)
        if env:
            notes.append(f"Kustomizations are declared per environment; using {env!r} "
                         "(pass --env to choose)")
    if env:
        matching = [d for d in docs if env in Path(d.file).parts]
        if matching:
            names = {(d.body or {}).get("metadata", {}).get("name") for d in matching}
            # keep env-specific files plus shared ones that no env-specific file overrides
            docs = [d for d in docs if d in matching
                    or (d.body or {}).get("metadata", {}).get("name") not in names]
    out: list[FluxKustomization] = []
    seen: dict[str, str] = {}
    for doc in docs:
        ks = from_yaml_doc(doc)
        if not ks.name:
            continue
        if ks.name in seen:
            notes.append(f"{doc.file}:{doc.line}: Kustomization {ks.name} also declared in "
                         f"{seen[ks.name]}; using the first (pass --env to choose)")
            continue
        seen[ks.name] = f"{doc.file}:{doc.line}"
        out.append(ks)
    return out, notes


def _guess_env(docs: list[YamlDoc]) -> str | None:
    """For `clusters/a/x.yaml` + `clusters/b/x.yaml` declaring the same name: "a"."""
    by_name: dict[str, list[YamlDoc]] = {}
    for doc in docs:
        name = (doc.body or {}).get("metadata", {}).get("name")
        by_name.setdefault(str(name), []).append(doc)
    for group in by_name.values():
        if len(group) > 1:
            first, second = Path(group[0].file).parts, Path(group[1].file).parts
            for a, b in zip(first[:-1], second[:-1], strict=False):
                if a != b:
                    return a
    return None


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


def discover(root: Path, env: str | None) -> tuple[list[FluxKustomization], list[str]]:
    """(Kustomizations in dependency order, notes about what was skipped or dropped)."""
    env = resolve_environment(root, env)
    from_tf, notes = discover_terraform(root, env)
    from_yaml, yaml_notes = _yaml_kustomizations(root, env)
    notes += yaml_notes
    tf_names = {ks.name for ks in from_tf}
    for ks in from_yaml:
        if ks.name in tf_names:
            notes.append(f"{ks.origin.file}:{ks.origin.line}: Kustomization {ks.name} is also "
                         "declared in Terraform; using the Terraform declaration")
    merged = from_tf + [ks for ks in from_yaml if ks.name not in tf_names]
    return order_by_dependencies(merged), notes


def discover_kustomizations(root: Path, env: str | None = None) -> list[FluxKustomization]:
    """Every Flux Kustomization of `root` for `env` (default environment when None)."""
    return discover(root, env)[0]
