"""One cheap pass over the repository's YAML: where each document starts, and the Flux
Kustomization objects it declares.

Objects coming out of kustomize lose their file names; origins are recovered by
`(kind, metadata.name)` from this index. Documents are split on `---` lines and read
with two regexes (no YAML parse), except Flux Kustomizations, which are parsed.
Directories that never hold live configuration are skipped: VCS/tool caches, and
`tests`/`testdata` (fixture repos there would otherwise look like real Kustomizations).
"""

from __future__ import annotations

import os
import re
import threading
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mercury.builder import yaml12

SKIP_DIRS = frozenset({
    ".git", ".venv", "venv", "node_modules", ".tools", ".terraform", "__pycache__",
    ".pytest_cache", ".ruff_cache", ".mypy_cache", ".tox", "tests", "testdata",
})
YAML_SUFFIXES = (".yaml", ".yml")
FLUX_KS_API = "kustomize.toolkit.fluxcd.io/"
FLUX_SOURCE_API = "source.toolkit.fluxcd.io/"

_SEPARATOR = re.compile(r"^---(?:\s|$)")
_KIND = re.compile(r"^kind:\s*[\"']?([A-Za-z0-9.]+)", re.MULTILINE)
_API = re.compile(r"^apiVersion:\s*[\"']?([^\s\"'#]+)", re.MULTILINE)
_META_NAME = re.compile(r"^\s+name:\s*[\"']?([^\s\"'#]+)")


def iter_repo_files(root: Path, suffixes: tuple[str, ...]) -> Iterator[Path]:
    """Files under `root` ending with one of `suffixes`, skipping SKIP_DIRS."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
        for name in sorted(filenames):
            if name.endswith(suffixes):
                yield Path(dirpath) / name


@dataclass(frozen=True)
class YamlDoc:
    file: str  # repo-relative
    line: int  # 1-based line of the document's first content line
    api_version: str
    kind: str
    name: str
    body: dict[str, Any] | None = None  # parsed, only for Flux Kustomizations


@dataclass
class RepoIndex:
    by_key: dict[tuple[str, str], list[YamlDoc]] = field(default_factory=lambda: defaultdict(list))
    by_file: dict[str, list[YamlDoc]] = field(default_factory=lambda: defaultdict(list))
    flux_kustomizations: list[YamlDoc] = field(default_factory=list)
    # declared GitRepository (namespace, name) -> spec.url (tells this repo from others)
    git_urls: dict[tuple[str, str], str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def _meta_name(lines: list[str]) -> str:
    for i, line in enumerate(lines):
        if line.rstrip() == "metadata:":
            for inner in lines[i + 1:]:
                if inner.strip() and not inner.startswith((" ", "\t", "#")):
                    return ""  # left the metadata block
                m = _META_NAME.match(inner)
                if m and len(inner) - len(inner.lstrip()) <= 4:
                    return m.group(1)
            return ""
    return ""


def _documents(text: str) -> Iterator[tuple[int, list[str]]]:
    """(first content line, lines) of each `---`-separated document."""
    lines = text.splitlines()
    start, chunk = 0, list[str]()
    for i, line in enumerate(lines):
        if _SEPARATOR.match(line):
            yield start, chunk
            start, chunk = i + 1, []
        else:
            chunk.append(line)
    yield start, chunk


def _index_file(root: Path, path: Path, index: RepoIndex) -> None:
    rel = path.relative_to(root).as_posix()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        index.errors.append(f"{rel}: unreadable ({exc})")
        return
    if "kind:" not in text:
        return
    for start, lines in _documents(text):
        doc = "\n".join(lines)
        kind_m = _KIND.search(doc)
        if not kind_m:
            continue
        offset = next((n for n, ln in enumerate(lines)
                       if ln.strip() and not ln.lstrip().startswith("#")), 0)
        api_m = _API.search(doc)
        item = YamlDoc(rel, start + offset + 1, api_m.group(1) if api_m else "",
                       kind_m.group(1), _meta_name(lines))
        if item.kind == "Kustomization" and item.api_version.startswith(FLUX_KS_API):
            try:
                body = yaml12.load(doc)
            except yaml.YAMLError as exc:
                index.errors.append(f"{rel}:{item.line}: invalid YAML ({exc.__class__.__name__})")
                continue
            if isinstance(body, dict):
                item = YamlDoc(item.file, item.line, item.api_version, item.kind, item.name, body)
                index.flux_kustomizations.append(item)
        elif item.kind == "GitRepository" and item.api_version.startswith(FLUX_SOURCE_API):
            _index_git_repository(doc, index)
        index.by_file[rel].append(item)
        if item.name:
            index.by_key[(item.kind, item.name)].append(item)


def _index_git_repository(doc: str, index: RepoIndex) -> None:
    try:
        body = yaml12.load(doc)
    except yaml.YAMLError:
        return
    if not isinstance(body, dict) or not isinstance(body.get("metadata"), dict):
        return
    meta, spec = body["metadata"], body.get("spec")
    if isinstance(spec, dict) and spec.get("url") and meta.get("name"):
        key = (str(meta.get("namespace") or "flux-system"), str(meta["name"]))
        index.git_urls.setdefault(key, str(spec["url"]))


_CACHE: dict[tuple[Any, ...], RepoIndex] = {}
_LOCK = threading.Lock()


def repo_index(root: Path) -> RepoIndex:
    """The YAML index of `root`, cached per process while no file changes."""
    files = list(iter_repo_files(root, YAML_SUFFIXES))
    stats = [(str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in files]
    key = (str(root.resolve()), hash(tuple(stats)))
    with _LOCK:
        cached = _CACHE.get(key)
    if cached is not None:
        return cached
    index = RepoIndex()
    for path in files:
        _index_file(root, path, index)
    with _LOCK:
        _CACHE.clear()  # one repository at a time is the common case; keep memory flat
        _CACHE[key] = index
    return index


def line_in_file(index: RepoIndex, file: str, kind: str, name: str) -> int | None:
    """The line of `kind`/`name` in `file` (kustomize reported the file; the name may
    have been changed by a prefix or the namespace transformer)."""
    docs = [d for d in index.by_file.get(file, ()) if d.kind == kind]
    exact = [d for d in docs if d.name == name]
    if exact:
        return exact[0].line
    return docs[0].line if len(docs) == 1 else None


def find_origin(index: RepoIndex, kind: str, name: str, namespace: str,
                prefer_dir: str) -> YamlDoc | None:
    """Fallback when kustomize gave no origin: search by kind and name. Ambiguous
    matches prefer the
    Kustomization's own path (the tenant's directory when its namespace is a path
    segment there), else the first file in sorted order (usually the base)."""
    candidates = index.by_key.get((kind, name))
    if not candidates:
        return None
    if len(candidates) == 1:
        return candidates[0]
    prefix = "" if prefer_dir in {"", "."} else prefer_dir.rstrip("/") + "/"

    def rank(doc: YamlDoc) -> tuple[int, str, int]:
        under = doc.file.startswith(prefix)
        in_ns_dir = under and bool(namespace) and namespace in Path(doc.file).parts
        return (0 if in_ns_dir else 1 if under else 2, doc.file, doc.line)

    return min(candidates, key=rank)
