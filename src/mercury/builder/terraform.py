"""Flux Kustomizations declared in Terraform (`azurerm_kubernetes_flux_configuration`).

Every `kustomizations { ... }` block becomes a FluxKustomization. Its path and
`post_build.substitute` map are evaluated with the small HCL evaluator (hcl_eval):
variables from defaults (`var.environment` from --env), locals from the module's
`locals` blocks; values only `terraform apply` knows become deterministic samples, and
the expression each variable came from is kept in `substitute_source`.
"""

from __future__ import annotations

import copy
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
    layers: dict[str | None, list[FluxLayer]] = field(default_factory=dict)  # per env


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


@dataclass
class FluxLayer:
    """One `kustomizations` block of a Flux configuration, evaluated once for an
    environment: the Kustomization the builder reconciles, plus what the Terraform rules
    read (the path as written, the substitute map as variable -> expression)."""

    kustomization: FluxKustomization
    raw_path: str
    path_known: bool  # False: the path could not be evaluated offline
    provided: dict[str, str] | None  # variable -> expression; None: unknown offline
    notes: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.kustomization.name

    @property
    def path(self) -> str | None:
        return self.kustomization.path if self.path_known else None

    @property
    def depends_on(self) -> list[str]:
        return self.kustomization.depends_on

    @property
    def file(self) -> str:
        return self.kustomization.origin.file or ""

    @property
    def line(self) -> int | None:
        return self.kustomization.origin.line

    @property
    def object(self) -> str:
        return str(self.kustomization.ref)


def flux_layers(root: Path, env: str | None) -> list[FluxLayer]:
    """Every Flux configuration's kustomizations, evaluated once per (parse, env): the
    builder's roots and the Terraform rules read the same evaluation."""
    parse = _parse(root)
    with _LOCK:
        cached = parse.layers.get(env)
    if cached is not None:
        return cached
    found: list[FluxLayer] = []
    for rel, parsed in sorted(parse.files.items()):
        for block in _blocks(parsed, "resource"):
            for label, body in (block.get(FLUX_RESOURCE) or {}).items():
                scope = module_scope(root, Path(rel).parent.as_posix(), env)
                header = rf'resource\s+"{FLUX_RESOURCE}"\s+"{re.escape(label)}"'
                line, pos = _line_of(parse.texts[rel], header)
                for ks_body in body.get("kustomizations") or []:
                    if not isinstance(ks_body, dict):
                        continue
                    layer = _layer(ks_body, body, scope, rel)
                    ks_line, _ = _line_of(
                        parse.texts[rel], rf'name\s*=\s*"{re.escape(layer.name)}"', pos)
                    layer.kustomization.origin = Origin(rel, ks_line or line)
                    found.append(layer)
    with _LOCK:
        parse.layers[env] = found
    return found


def discover_terraform(root: Path, env: str | None) -> tuple[list[FluxKustomization], list[str]]:
    """FluxKustomizations from every flux configuration resource, plus notes. Each call
    gets its own copies (the walk fills in substituteFrom values)."""
    parse = _parse(root)
    notes = [f"{rel}: {msg} (skipped)" for rel, msg in sorted(parse.errors.items())]
    found = []
    for layer in flux_layers(root, env):
        found.append(copy.deepcopy(layer.kustomization))
        notes.extend(layer.notes)
    return found, notes


def _layer(body: dict[str, Any], config: dict[str, Any], scope: Scope, rel: str) -> FluxLayer:
    ks, notes = _kustomization(body, config, scope, rel)
    raw_path = str(body.get("path", ""))
    path = _evaluate(raw_path, scope, f"{rel}: kustomization {ks.name} path", [])
    known = isinstance(path, str) and "${" not in path
    return FluxLayer(ks, raw_path, known, _provided(body, scope), notes)


_VAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _provided(body: dict[str, Any], scope: Scope) -> dict[str, str] | None:
    """post_build.substitute as variable -> expression; None if not knowable offline
    (substitute_from: values from a ConfigMap/Secret in the cluster). A name computed
    per tenant keeps its literal prefix (`BACKUP_CLIENT_ID_*`)."""
    post = body.get("post_build") or []
    post = post[0] if isinstance(post, list) and post else post
    if not isinstance(post, dict):
        return {}
    if post.get("substitute_from"):
        return None
    raw = post.get("substitute")
    if raw is None:
        return {}
    try:
        value = evaluate_hcl2(raw, scope)
    except HclEvalError:
        return None
    if not isinstance(value, dict):
        return None
    sources = getattr(value, "sources", {})
    provided: dict[str, str] = {}
    for key, item in value.items():
        expr = sources.get(key) or (item.expr if isinstance(item, Unknown) else repr(item))
        name = key.expr if isinstance(key, Unknown) else str(key)
        if not _VAR_NAME.fullmatch(name):
            prefix = re.match(r"""^(?:Unknown\(expr=)?['"]?([A-Za-z0-9_]*)\$\{""", name)
            if not prefix or not prefix.group(1):
                return None
            name = prefix.group(1) + "*"
        provided[name] = expr
    return provided


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
