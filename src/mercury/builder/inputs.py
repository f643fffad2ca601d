"""Which files a kustomization reads: the one walker the builder, the cache and verify share.

kustomize reads a directory's kustomization file and what it names (resources, bases,
components, patches, generators' files, replacements, transformers, Helm values, ...),
recursively. A directory without a kustomization file is built the way Flux's
kustomize-controller does it: a generated kustomization listing the directory's
manifests and, recursively, sub-directories (one with its own kustomization file is
included whole), minus what the source ignores (`sourceignore`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mercury.builder import yaml12
from mercury.yamlsafety import check_aliases

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
REMOTE_PREFIXES = ("git@", "github.com/", "gitlab.com/", "bitbucket.org/")
_MANIFEST = re.compile(r"^apiVersion:.*^kind:|^kind:.*^apiVersion:", re.MULTILINE | re.DOTALL)

# keys whose value is a list of paths, and list-of-dict keys whose items carry paths
_PATH_LISTS = ("resources", "bases", "components", "crds", "configurations", "transformers",
               "generators", "validators", "patchesStrategicMerge")
_ITEM_PATHS = {"patches": ("path",), "patchesJson6902": ("path",), "replacements": ("path",),
               "helmCharts": ("valuesFile", "additionalValuesFiles")}

Ignore = Callable[[Path], bool]


def kustomization_file(directory: Path) -> Path | None:
    """The directory's kustomization file, if it has one."""
    return next((directory / n for n in KUSTOMIZATION_FILES if (directory / n).is_file()), None)


def has_kustomization(directory: Path) -> bool:
    return kustomization_file(directory) is not None


def is_remote(ref: str) -> bool:
    return "://" in ref or ref.startswith(REMOTE_PREFIXES)


def load_kustomization(kfile: Path) -> dict[str, Any]:
    """The parsed kustomization file ({} when unreadable: kustomize reports that itself)."""
    try:
        text = kfile.read_bytes()
        check_aliases(text, source=kfile)  # walking `resources` would expand a bomb
        data = yaml12.load(text)
    except (OSError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


def kustomization_refs(spec: dict[str, Any]) -> list[str]:
    """Every path a kustomization names, as written (remote ones included)."""
    refs: list[str] = []

    def add(value: Any) -> None:
        if isinstance(value, str) and value.strip() and "\n" not in value:
            refs.append(value)
        elif isinstance(value, list):
            for item in value:
                add(item)

    for key in _PATH_LISTS:
        add(spec.get(key))
    for key, fields in _ITEM_PATHS.items():
        for item in spec.get(key) or []:
            if isinstance(item, dict):
                for name in fields:
                    add(item.get(name))
    for key in ("configMapGenerator", "secretGenerator"):
        for gen in spec.get(key) or []:
            if isinstance(gen, dict):
                add([str(f).split("=", 1)[-1] for f in gen.get("files") or []])
                add(gen.get("envs"))
                add(gen.get("env"))
    openapi = spec.get("openapi")
    if isinstance(openapi, dict):
        add(openapi.get("path"))
    globals_ = spec.get("helmGlobals")
    if isinstance(globals_, dict):
        add(globals_.get("chartHome"))
    return refs


def generated_resources(directory: Path, ignore: Ignore | None = None) -> list[Path]:
    """What Flux's generator lists for a directory without kustomization file."""
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(directory):
        here = Path(dirpath)
        dirnames.sort()
        keep = []
        for d in dirnames:
            if d.startswith(".") or (ignore is not None and ignore(here / d)):
                continue
            if has_kustomization(here / d):
                found.append(here / d)
            else:
                keep.append(d)
        dirnames[:] = keep
        for name in sorted(filenames):
            file = here / name
            if not name.endswith((".yaml", ".yml")) or (ignore is not None and ignore(file)):
                continue
            try:
                text = file.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            if _MANIFEST.search(text):
                found.append(file)
    return found


@dataclass
class Inputs:
    """What building one directory reads."""

    files: list[Path] = field(default_factory=list)  # resolved, first-read order, no repeats
    remote: list[str] = field(default_factory=list)  # references outside the filesystem


def walk(directory: Path, memo: dict[Path, Inputs] | None = None) -> Inputs:
    """Every file kustomize (or Flux's generator) reads to build `directory`."""
    memo = {} if memo is None else memo
    out = Inputs()
    _walk(directory.resolve(), memo, set(), out)
    seen: set[Path] = set()
    out.files = [f for f in out.files if not (f in seen or seen.add(f))]  # type: ignore[func-returns-value]
    return out


def _walk(directory: Path, memo: dict[Path, Inputs], trail: set[Path], out: Inputs) -> None:
    if directory in memo:
        out.files += memo[directory].files
        out.remote += memo[directory].remote
        return
    if directory in trail or not directory.is_dir():
        return
    trail.add(directory)
    mine = Inputs()
    kfile = kustomization_file(directory)
    if kfile is None:
        for item in generated_resources(directory):
            if item.is_dir():
                _walk(item.resolve(), memo, trail, mine)
            else:
                mine.files.append(item.resolve())
    else:
        mine.files.append(kfile.resolve())
        for ref in kustomization_refs(load_kustomization(kfile)):
            if is_remote(ref):
                mine.remote.append(ref)
                continue
            target = (directory / ref).resolve()
            if target.is_dir():
                _walk(target, memo, trail, mine)
            elif target.is_file():
                mine.files.append(target)
    trail.discard(directory)
    memo[directory] = mine
    out.files += mine.files
    out.remote += mine.remote
