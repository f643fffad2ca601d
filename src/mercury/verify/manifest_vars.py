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

from mercury.builder.inputs import walk

# Flux's envsubst: ${VAR}, ${VAR:=default}, ${VAR:-default}, ${VAR=d}, ${VAR-d}; $${ escapes
VAR_USE = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(:?[-=][^}]*)?\}")
SUBSTITUTE_OFF = re.compile(r"kustomize\.toolkit\.fluxcd\.io/substitute:\s*['\"]?disabled")


@dataclass(frozen=True)
class VarUse:
    file: str
    line: int
    has_default: bool


def variables_used(root: Path, path: str, cache: dict[str, Any]) -> dict[str, VarUse]:
    """`${VAR}` uses in the files kustomize reads for `path` (first use per variable)."""
    uses: dict[str, VarUse] = {}
    for file in walk(root / path, cache.setdefault("walk", {})).files:
        for var, use in file_vars(root, file, cache.setdefault("vars", {})).items():
            if var not in uses or (uses[var].has_default and not use.has_default):
                uses[var] = use
    return uses


def file_vars(root: Path, file: Path, memo: dict[Path, dict[str, VarUse]]) -> dict[str, VarUse]:
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
