"""Build a kustomization offline: a copy of what it reads, minus its remote references.

Flux fetches remote bases (`resources: [https://github.com/...]`) and generator files
given as URLs; mercury is offline, so kustomize fails on them. Rather than lose the
whole Kustomization, the files the build reads are copied (same repo-relative paths)
into a scratch tree whose kustomization files leave the remote references out; the
rest is built and checked, and the references left out are reported (info).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml

from mercury.builder.inputs import (
    KUSTOMIZATION_FILES,
    is_remote,
    load_kustomization,
    walk,
)
from mercury.builder.sourceignore import IGNORE_FILE

_LIST_KEYS = ("resources", "bases", "components")


def remote_refs(path: Path, extra: tuple[Path, ...] = ()) -> list[str]:
    """The remote references building `path` (and the `extra` components) would fetch."""
    refs: list[str] = []
    for directory in (path, *extra):
        refs += [r for r in walk(directory).remote if r not in refs]
    return refs


def _strip(spec: dict[str, Any]) -> dict[str, Any]:
    out = dict(spec)
    for key in _LIST_KEYS:
        items = out.get(key)
        if isinstance(items, list):
            out[key] = [i for i in items if not (isinstance(i, str) and is_remote(i))]
    for key in ("configMapGenerator", "secretGenerator"):
        gens = out.get(key)
        if not isinstance(gens, list):
            continue
        for gen in gens:
            if isinstance(gen, dict) and isinstance(gen.get("files"), list):
                gen["files"] = [f for f in gen["files"]
                                if not is_remote(str(f).split("=", 1)[-1])]
    return out


def mirror(root: Path, dest: Path, directories: tuple[Path, ...]) -> None:
    """Copy into `dest` every file under `root` that building `directories` reads, each
    kustomization file without its remote references (and the `.sourceignore` files)."""
    resolved = root.resolve()
    for directory in directories:
        for file in walk(directory).files:
            try:
                rel = file.relative_to(resolved)
            except ValueError:
                continue  # outside the source: kustomize reports it in the mirror
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            if file.name in KUSTOMIZATION_FILES:
                spec = _strip(load_kustomization(file))
                target.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
            else:
                shutil.copyfile(file, target)
    for ignore in resolved.rglob(IGNORE_FILE):
        rel = ignore.relative_to(resolved)
        if ".git" not in rel.parts:
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(ignore, dest / rel)
