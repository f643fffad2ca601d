"""Where the manifests use `${VAR}`: the files kustomize reads for a path, scanned as text.

The Terraform checks compare these uses with what `post_build.substitute` provides, so
a missing variable is reported once, at the file and line that uses it (a base shared
by every tenant is read once, not once per tenant).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

# Flux's envsubst: ${VAR}, ${VAR:=default}, ${VAR:-default}, ${VAR=d}, ${VAR-d}; $${ escapes
VAR_USE = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(:?[-=][^}]*)?\}")
SUBSTITUTE_OFF = re.compile(r"kustomize\.toolkit\.fluxcd\.io/substitute:\s*['\"]?disabled")
KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: ~10x faster


@dataclass(frozen=True)
class VarUse:
    file: str
    line: int
    has_default: bool


def variables_used(root: Path, path: str, cache: dict[str, Any]) -> dict[str, VarUse]:
    """`${VAR}` uses in the files kustomize reads for `path` (first use per variable)."""
    uses: dict[str, VarUse] = {}
    for file in _kustomize_files(root, root / path, cache.setdefault("walk", {}), set()):
        for var, use in _file_vars(root, file, cache.setdefault("vars", {})).items():
            if var not in uses or (uses[var].has_default and not use.has_default):
                uses[var] = use
    return uses


def _kustomize_files(root: Path, directory: Path, memo: dict[Path, list[Path]],
                     seen: set[Path]) -> list[Path]:
    """The files one kustomize directory reads: resources, patches, generators, recursively.

    A directory without a kustomization file is what Flux generates one for: every YAML
    file under it.
    """
    directory = directory.resolve()
    if directory in memo:
        return memo[directory]
    if directory in seen or not directory.is_dir():
        return []
    seen.add(directory)
    kfile = next((directory / n for n in KUSTOMIZATION_FILES if (directory / n).is_file()), None)
    if kfile is None:
        files = sorted(p for p in directory.rglob("*") if p.suffix in {".yaml", ".yml"})
        memo[directory] = files
        return files
    try:
        spec = yaml.load(kfile.read_text(encoding="utf-8"), Loader=_LOADER) or {}
    except (OSError, yaml.YAMLError):
        spec = {}
    refs: list[str] = []
    for key in ("resources", "bases", "components", "patchesStrategicMerge", "crds"):
        refs += [r for r in spec.get(key) or [] if isinstance(r, str) and "\n" not in r]
    for key in ("patches", "patchesJson6902", "replacements"):
        refs += [p["path"] for p in spec.get(key) or [] if isinstance(p, dict) and "path" in p]
    for key in ("configMapGenerator", "secretGenerator"):
        for gen in spec.get(key) or []:
            if isinstance(gen, dict):
                refs += [f.split("=", 1)[-1] for f in gen.get("files") or []]
                refs += list(gen.get("envs") or []) + ([gen["env"]] if gen.get("env") else [])
    files = [kfile]
    for ref in refs:
        if "://" in ref or ref.startswith("git@"):
            continue  # remote bases are not in the repository
        target = (directory / ref).resolve()
        if target.is_dir():
            files += _kustomize_files(root, target, memo, seen)
        elif target.is_file():
            files.append(target)
    memo[directory] = files
    return files


def _file_vars(root: Path, file: Path, memo: dict[Path, dict[str, VarUse]]) -> dict[str, VarUse]:
    if file in memo:
        return memo[file]
    found: dict[str, VarUse] = {}
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        text = ""
    try:
        rel = str(file.relative_to(root.resolve()))
    except ValueError:
        rel = str(file)
    line_no = 0
    for doc in re.split(r"(?m)^---[ \t]*$", text):
        if SUBSTITUTE_OFF.search(doc):  # Flux leaves these objects alone
            line_no += doc.count("\n")
            continue
        for offset, line in enumerate(doc.split("\n")):
            if "${" not in line or line.lstrip().startswith("#"):
                continue
            for match in VAR_USE.finditer(line):
                use = VarUse(rel, line_no + offset + 1, bool(match.group(2)))
                if match.group(1) not in found or (found[match.group(1)].has_default
                                                   and not use.has_default):
                    found[match.group(1)] = use
        line_no += doc.count("\n")
    memo[file] = found
    return found
