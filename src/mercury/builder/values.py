"""`--values FILE`: real substitution values instead of offline samples.

Accepted shapes (YAML or JSON):
- a flat map `{AZURE_TENANT_ID: ..., KEY_VAULT_NAME: ...}`;
- `terraform output -json` (`{name: {value: ..., type: ..., sensitive: ...}}`), whose
  `flux_substitutions` output (a map) is flattened in;
- `terraform output -json flux_substitutions` (the map itself).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mercury.errors import InputError
from mercury.fsutil import read_exact
from mercury.yamlsafety import load_strict


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def normalize_values(data: Any, *, source: str = "values") -> dict[str, str]:
    """Flatten one of the accepted shapes into variable -> string value."""
    if not isinstance(data, dict):
        raise InputError("expected a map of variable names to values", file=source)
    if data and all(isinstance(v, dict) and "value" in v for v in data.values()):
        data = {k: v["value"] for k, v in data.items()}  # terraform output -json
    out: dict[str, str] = {}
    nested = data.get("flux_substitutions")
    for key, value in data.items():
        if not isinstance(value, (dict, list)):
            out[str(key)] = _scalar(value)
    if isinstance(nested, dict):
        out.update({str(k): _scalar(v) for k, v in nested.items()})
    return out


def load_values(path: Path) -> dict[str, str]:
    """Read and flatten a values file; InputError when it cannot be used."""
    try:
        text = read_exact(path)
    except OSError as exc:
        raise InputError(f"cannot read values file: {exc.strerror}", file=str(path)) from exc
    data = load_strict(text, source=path)  # JSON is YAML
    return normalize_values(data, source=str(path))
