"""Terraform provider schemas (`terraform providers schema -json`), found and loaded once.

The schema of a provider is what `terraform validate` checks a configuration against:
every resource, data source and ephemeral resource with its arguments and nested
blocks. Reading that JSON offline lets `mercury verify` check terraform/ without the
providers' binaries. Where the JSON comes from, first match wins:

1. `--terraform-schema PATH` (a file, or a directory of *.json files)
2. `$MERCURY_TERRAFORM_SCHEMA`
3. `../shared/schemas/terraform/` beside the repository (this project's checkouts)
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mercury.errors import InputError

ENV_VAR = "MERCURY_TERRAFORM_SCHEMA"
REGISTRY = "registry.terraform.io"
SECTIONS = {"resource": "resource_schemas", "data": "data_source_schemas",
            "ephemeral": "ephemeral_resource_schemas"}


@dataclass(frozen=True)
class ProviderSchemas:
    """Every provider schema of the files at one location, keyed by full source address
    (`registry.terraform.io/hashicorp/azurerm`)."""

    location: Path
    files: tuple[str, ...]
    providers: dict[str, dict[str, Any]]

    def block(self, source: str, section: str, type_: str) -> dict[str, Any] | None:
        """The `block` schema of a resource (section `resource`, `data`, `ephemeral`) or of
        the provider configuration (section `provider`); None when unknown."""
        provider = self.providers.get(source)
        if provider is None:
            return None
        if section == "provider":
            found = provider.get("provider")
        else:
            found = (provider.get(SECTIONS[section]) or {}).get(type_)
        return found.get("block") if isinstance(found, dict) else None

    def types(self, section: str) -> list[str]:
        """Every type name of a section, across all providers (for "did you mean")."""
        return sorted(name for p in self.providers.values()
                      for name in p.get(SECTIONS[section]) or {})


def source_address(source: str) -> str:
    """`hashicorp/azurerm` -> `registry.terraform.io/hashicorp/azurerm` (lower case)."""
    parts = source.strip().lower().split("/")
    if len(parts) == 2:
        parts.insert(0, REGISTRY)
    elif len(parts) == 1:
        parts = [REGISTRY, "hashicorp", parts[0]]
    return "/".join(parts)


def locate(root: Path, explicit: str | None = None) -> Path | None:
    """The schema location for a repository, or None when there is none to use.

    A location that was asked for (option or environment) but does not exist is unusable
    input, not a silent skip."""
    for given, what in ((explicit, "--terraform-schema"), (os.environ.get(ENV_VAR), ENV_VAR)):
        if given:
            path = Path(given).expanduser()
            if not path.exists():
                raise InputError(f"{what}: {given} does not exist")
            return path.resolve()
    beside = root.resolve().parent / "shared" / "schemas" / "terraform"
    return beside if beside.is_dir() and any(beside.glob("*.json")) else None


_CACHE: dict[tuple[Any, ...], ProviderSchemas] = {}
_LOCK = threading.Lock()


def load(location: Path) -> ProviderSchemas:
    """The provider schemas of a file or a directory of *.json files, parsed once per
    process (3 MB for azurerm: parsing it for every run of a rule would dominate)."""
    files = sorted(location.glob("*.json")) if location.is_dir() else [location]
    key = (str(location), *((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in files))
    with _LOCK:
        cached = _CACHE.get(key)
        if cached is not None:
            return cached
        providers: dict[str, dict[str, Any]] = {}
        for path in files:
            try:
                doc = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise InputError(f"{path}: not a provider schema file ({exc})") from exc
            found = doc.get("provider_schemas") if isinstance(doc, dict) else None
            if not isinstance(found, dict):
                raise InputError(f"{path}: no `provider_schemas` (expected the output of "
                                 "`terraform providers schema -json`)")
            for source, schema in found.items():
                providers.setdefault(source_address(source), schema)
        result = ProviderSchemas(location, tuple(p.name for p in files), providers)
        _CACHE[key] = result
        return result
