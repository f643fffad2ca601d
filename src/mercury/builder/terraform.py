"""Flux Kustomizations declared in Terraform (`azurerm_kubernetes_flux_configuration`).

Every `kustomizations { ... }` block becomes a FluxKustomization. Its path and
`post_build.substitute` map are evaluated with the small HCL evaluator (hcl_eval):
variables from defaults (`var.environment` from --env), locals from the module's
`locals` blocks; values only `terraform apply` knows become deterministic samples, and
the expression each variable came from is kept in `substitute_source`.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hcl2

from mercury.builder.hcl_eval import HclEvalError, Scope, Unknown, evaluate_hcl2, to_str
from mercury.builder.model import FluxKustomization, Origin
from mercury.builder.samples import sample_value
from mercury.builder.scan import iter_repo_files

FLUX_RESOURCE = "azurerm_kubernetes_flux_configuration"


@dataclass
class TerraformParse:
    files: dict[str, dict[str, Any]] = field(default_factory=dict)  # repo-relative -> hcl2
    errors: dict[str, str] = field(default_factory=dict)  # repo-relative -> message
    texts: dict[str, str] = field(default_factory=dict)


_CACHE: dict[tuple[Any, ...], TerraformParse] = {}
_LOCK = threading.Lock()


def _parse(root: Path) -> TerraformParse:
    files = sorted(iter_repo_files(root, (".tf",)))
    key = (str(root.resolve()), *((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in files))
    with _LOCK:
        if key in _CACHE:
            return _CACHE[key]
    result = TerraformParse()
    for path in files:
        rel = path.relative_to(root).as_posix()
        try:
            text = path.read_text(encoding="utf-8")
            result.texts[rel] = text
            result.files[rel] = hcl2.loads(text)  # type: ignore[attr-defined]
        except Exception as exc:  # python-hcl2 raises lark errors of many kinds
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            result.errors[rel] = f"cannot parse: {first}"
    with _LOCK:
        _CACHE[key] = result
    return result


def load_terraform(root: Path) -> dict[str, dict[str, Any]]:
    """Every parseable .tf file of the repo: repo-relative path -> python-hcl2 dict."""
    return _parse(root).files


def terraform_errors(root: Path) -> dict[str, str]:
    """The .tf files python-hcl2 could not parse (skipped, never fatal)."""
    return _parse(root).errors


def _blocks(parsed: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    out = parsed.get(kind) or []
    return out if isinstance(out, list) else [out]


def module_scope(root: Path, module_dir: str, env: str | None) -> Scope:
    """Variables (defaults, `environment` = env) and locals of one Terraform directory."""
    parse = _parse(root)
    variables: dict[str, Any] = {}
    locals_src: dict[str, Any] = {}
    for rel, parsed in parse.files.items():
        if Path(rel).parent.as_posix() != module_dir:
            continue
        for block in _blocks(parsed, "variable"):
            for name, body in block.items():
                if isinstance(body, dict) and "default" in body:
                    variables[name] = body["default"]
        for block in _blocks(parsed, "locals"):
            locals_src.update(block)
    if env is not None:
        variables["environment"] = env
    return Scope(variables, locals_src, (root / module_dir).resolve())


def default_environment(root: Path) -> str | None:
    """`var.environment`'s default in any Terraform directory that declares it."""
    for parsed in load_terraform(root).values():
        for block in _blocks(parsed, "variable"):
            body = block.get("environment")
            if isinstance(body, dict) and isinstance(body.get("default"), str):
                return str(body["default"])
    return None


def _line_of(text: str, pattern: str, start: int = 0) -> tuple[int | None, int]:
    m = re.compile(pattern).search(text, start)
    if not m:
        return None, start
    return text.count("\n", 0, m.start()) + 1, m.end()


def _as_str(value: Any) -> str:
    return sample_value(value.expr) if isinstance(value, Unknown) else to_str(value)


def discover_terraform(root: Path, env: str | None) -> tuple[list[FluxKustomization], list[str]]:
    """FluxKustomizations from every flux configuration resource, plus notes."""
    parse = _parse(root)
    notes = [f"{rel}: {msg} (skipped)" for rel, msg in sorted(parse.errors.items())]
    found: list[FluxKustomization] = []
    for rel, parsed in sorted(parse.files.items()):
        for block in _blocks(parsed, "resource"):
            for label, body in (block.get(FLUX_RESOURCE) or {}).items():
                scope = module_scope(root, Path(rel).parent.as_posix(), env)
                header = rf'resource\s+"{FLUX_RESOURCE}"\s+"{re.escape(label)}"'
                line, pos = _line_of(parse.texts[rel], header)
                for ks_body in body.get("kustomizations") or []:
                    ks, ks_notes = _kustomization(ks_body, body, scope, rel)
                    ks_line, _ = _line_of(
                        parse.texts[rel], rf'name\s*=\s*"{re.escape(ks.name)}"', pos)
                    ks.origin = Origin(rel, ks_line or line)
                    found.append(ks)
                    notes.extend(ks_notes)
    return found, notes


def _evaluate(value: Any, scope: Scope, what: str, notes: list[str]) -> Any:
    try:
        return evaluate_hcl2(value, scope)
    except HclEvalError as exc:
        notes.append(f"{what}: cannot evaluate offline ({exc})")
        return Unknown(str(value))


def _kustomization(
    body: dict[str, Any], config: dict[str, Any], scope: Scope, rel: str
) -> tuple[FluxKustomization, list[str]]:
    notes: list[str] = []
    name = str(body.get("name", ""))
    where = f"{rel}: kustomization {name}"
    path = _evaluate(body.get("path", ""), scope, f"{where} path", notes)
    path_str = path.expr if isinstance(path, Unknown) else to_str(path)
    namespace = _evaluate(config.get("namespace", "flux-system"), scope, where, notes)
    depends = _evaluate(body.get("depends_on") or [], scope, where, notes)
    interval = body.get("sync_interval_in_seconds", 600)
    ks = FluxKustomization(
        name=name,
        path=path_str.removeprefix("./").strip("/") or ".",
        namespace=namespace if isinstance(namespace, str) else "flux-system",
        depends_on=[str(d) for d in depends] if isinstance(depends, list) else [],
        prune=body.get("garbage_collection_enabled") is True,
        interval_seconds=interval if isinstance(interval, int) else None,
        declared_in="terraform",
        config=str(config["name"]) if isinstance(config.get("name"), str) else None,
    )
    for post in body.get("post_build") or []:
        ks.has_post_build = True
        raw = post.get("substitute")
        if raw is not None:
            subst = _evaluate(raw, scope, f"{where} post_build.substitute", notes)
            if isinstance(subst, dict):
                sources = getattr(subst, "sources", {})
                for var, value in subst.items():
                    ks.substitute[var] = _as_str(value)
                    if isinstance(value, Unknown):
                        ks.substitute_source[var] = value.expr
                    elif var in sources:
                        ks.substitute_source[var] = sources[var]
            else:
                notes.append(f"{where}: post_build.substitute is not known offline")
        for ref in post.get("substitute_from") or []:
            ks.substitute_from.append(
                (str(ref.get("kind", "")), str(ref.get("name", "")), ref.get("optional") is True)
            )
    return ks, notes
