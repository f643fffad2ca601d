"""Run kustomize (the venv's `kubectl kustomize`) and split its output into documents.

A directory without a kustomization file is built the way Flux's kustomize-controller
does it: a generated kustomization listing the directory's manifests and, recursively,
sub-directories (a sub-directory with its own kustomization file is included whole).
The generated file lives in a temp dir, never in the user's repository.
"""

from __future__ import annotations

import os
import re
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml

from mercury.builder.cache import BuildCache, cache_dir
from mercury.exec import Command, resolve_tool

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
_DOC_SPLIT = re.compile(r"^---[ \t]*\n", re.MULTILINE)
_MANIFEST = re.compile(r"^apiVersion:.*^kind:|^kind:.*^apiVersion:", re.MULTILINE | re.DOTALL)


def has_kustomization(path: Path) -> bool:
    return any((path / name).is_file() for name in KUSTOMIZATION_FILES)


def _generated_resources(path: Path) -> list[Path]:
    """What Flux's generator would list for a directory without kustomization file."""
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(path):
        here = Path(dirpath)
        dirnames.sort()
        keep = []
        for d in dirnames:
            if d.startswith("."):
                continue
            if has_kustomization(here / d):
                found.append(here / d)
            else:
                keep.append(d)
        dirnames[:] = keep
        for name in sorted(filenames):
            if name.endswith((".yaml", ".yml")):
                file = here / name
                try:
                    text = file.read_text(encoding="utf-8")
                except (OSError, UnicodeDecodeError):
                    continue
                if _MANIFEST.search(text):
                    found.append(file)
    return found


# kustomize's own time grows with the square of the object count of one build (100
# tenants: 6 s, 200: 23 s, 1,000: ~10 min). A kustomization that only lists directories
# (apps/<env>/kustomization.yaml: one per tenant) gives the same objects when its
# directories are built in small groups and concatenated, so that case is fanned out.
FANOUT_MIN = 32
FANOUT_CHUNK = 16


def _aggregated_dirs(path: Path) -> list[Path] | None:
    """The directories a pure `resources:`-only kustomization lists, else None."""
    file = next((path / n for n in KUSTOMIZATION_FILES if (path / n).is_file()), None)
    if file is None:
        return None
    try:
        data = yaml.load(file.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
    except (OSError, yaml.YAMLError):
        return None
    if not isinstance(data, dict) or set(data) - {"apiVersion", "kind", "resources"}:
        return None
    items = data.get("resources")
    if not isinstance(items, list) or len(items) < FANOUT_MIN:
        return None
    dirs = []
    for item in items:
        if not isinstance(item, str) or "://" in item or item.startswith("git@"):
            return None
        target = (path / item).resolve()
        if not (target.is_dir() and has_kustomization(target)):
            return None
        dirs.append(target)
    return dirs


def _run_wrapper(where: Path, written: list[str], timeout: float, origins: bool = True) -> str:
    """Run kustomize on a wrapper listing `written` (paths relative to `where`)."""
    wrapper: dict[str, Any] = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": written,
    }
    if origins:
        wrapper["buildMetadata"] = ["originAnnotations"]
    where.mkdir(parents=True, exist_ok=True)
    (where / "kustomization.yaml").write_text(yaml.safe_dump(wrapper), encoding="utf-8")
    argv = [resolve_tool("kubectl"), "kustomize", "--load-restrictor=LoadRestrictionsNone",
            str(where)]
    return Command(argv, timeout=timeout).run().stdout


def _build_groups(tmp: Path, groups: list[list[Path]], timeout: float,
                  origins: bool = True) -> list[str]:
    """One stream per group of resources, each from the cache or a wrapper `tmp/wNNNN`.

    Keys are computed up front in this thread (the hasher memoizes the shared base
    directories); only the misses run kustomize, 2-4 at a time.
    """
    directory = cache_dir()
    store = BuildCache(directory, resolve_tool("kubectl")) if directory else None
    jobs = []
    for n, group in enumerate(groups):
        where = tmp / f"w{n:04d}"
        written = [os.path.relpath(r, where) for r in group]
        key = store.key(written, group, f"origins={origins}") if store else None
        jobs.append((where, written, key))

    def run(job: tuple[Path, list[str], str | None]) -> str:
        where, written, key = job
        if store is not None and key is not None:
            cached = store.get(key)
            if cached is not None:
                return cached
        stream = _run_wrapper(where, written, timeout, origins)
        if store is not None and key is not None:
            store.put(key, stream)
        return stream

    if len(jobs) == 1:
        streams = [run(jobs[0])]
    else:
        workers = max(1, min(4, os.cpu_count() or 2))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            streams = list(pool.map(run, jobs))
    if store is not None:
        store.prune()
    return streams


def kustomize_build(path: Path, *, timeout: float = 300) -> tuple[str, str]:
    """(YAML stream, directory its origin paths are relative to) for `path`.

    kustomize runs on a throw-away wrapper kustomization (`resources: [path]`,
    `buildMetadata: [originAnnotations]`) so every object says which file it came from;
    like Flux, with LoadRestrictionsNone. Outputs are cached by content (build.cache).
    Raises ToolError when kustomize fails.
    """
    fanned = _aggregated_dirs(path)
    resources = [path] if has_kustomization(path) else _generated_resources(path)
    if not resources:
        return "", str(path)
    with tempfile.TemporaryDirectory(prefix="mercury-build-") as tmp:
        # wrappers sit at the same depth, so one base resolves every origin path
        base = Path(tmp) / "w0000"
        if fanned is None:
            return _build_groups(Path(tmp), [resources], timeout)[0], str(base)
        chunks = [fanned[i:i + FANOUT_CHUNK] for i in range(0, len(fanned), FANOUT_CHUNK)]
        # Origin annotations nearly double kustomize's time; for a fanned-out list of
        # overlays the kind + name index finds the same files (build.scan.find_origin).
        streams = _build_groups(Path(tmp), chunks, timeout, origins=False)
        return "---\n".join(s for s in streams if s.strip()), str(base)


ORIGIN_ANNOTATION = "config.kubernetes.io/origin"
_ORIGIN_PATH = re.compile(r"^(?:path|configuredIn):\s*(\S+)", re.MULTILINE)


def pop_origin(body: dict[str, Any], base: str) -> str | None:
    """Remove kustomize's origin annotation; return the absolute source file path."""
    meta = body.get("metadata")
    annotations = meta.get("annotations") if isinstance(meta, dict) else None
    if not isinstance(annotations, dict) or ORIGIN_ANNOTATION not in annotations:
        return None
    text = str(annotations.pop(ORIGIN_ANNOTATION))
    if not annotations and isinstance(meta, dict):
        del meta["annotations"]
    if "repo:" in text:  # a remote base: no local file
        return None
    m = _ORIGIN_PATH.search(text)
    return os.path.normpath(os.path.join(base, m.group(1))) if m else None


def split_documents(stream: str) -> list[str]:
    """kustomize's output, one string per object (it separates them with `---` lines)."""
    return [doc for doc in _DOC_SPLIT.split(stream) if doc.strip()]


def parse_documents(docs: list[str]) -> list[Any]:
    """Parse with the C loader in one call; on error, find the failing document."""
    try:
        return list(yaml.load_all("---\n".join(docs), Loader=yaml.CSafeLoader))
    except yaml.YAMLError:
        pass
    out = []
    for n, doc in enumerate(docs, 1):
        try:
            out.append(yaml.load(doc, Loader=yaml.CSafeLoader))
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem", None) or exc.__class__.__name__
            head = doc.strip().splitlines()
            raise ValueError(f"document {n} ({_describe(doc)}) is not valid YAML after "
                             f"substitution: {mark}; starts with {head[0][:60]!r}") from exc
    return out


def _describe(doc: str) -> str:
    kind = re.search(r"^kind:\s*(\S+)", doc, re.MULTILINE)
    name = re.search(r"^  name:\s*(\S+)", doc, re.MULTILINE)
    return f"{kind.group(1) if kind else '?'}/{name.group(1) if name else '?'}"
