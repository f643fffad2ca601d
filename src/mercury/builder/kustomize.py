"""Run kustomize (the venv's `kubectl kustomize`) and split its output into documents.

A directory without a kustomization file is built the way Flux's kustomize-controller
does it: a generated kustomization listing the directory's manifests and, recursively,
sub-directories (a sub-directory with its own kustomization file is included whole).
The generated file lives in a temp dir, never in the user's repository.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mercury.builder import yaml12
from mercury.builder.cache import BuildCache, cache_dir
from mercury.builder.inputs import (
    Ignore,
    Inputs,
    generated_resources,
    has_kustomization,
    kustomization_file,
    load_kustomization,
    walk,
)
from mercury.exec import Command, resolve_tool
from mercury.yamlsafety import check_aliases

_DOC_SPLIT = re.compile(r"^---[ \t]*\n", re.MULTILINE)


# kustomize's own time grows with the square of the object count of one build (100
# tenants: 6 s, 200: 23 s, 1,000: ~10 min). A kustomization that only lists directories
# (apps/<env>/kustomization.yaml: one per tenant) gives the same objects when its
# directories are built in small groups and concatenated, so that case is fanned out.
FANOUT_MIN = 32
FANOUT_CHUNK = 16


def _aggregated_dirs(path: Path) -> list[Path] | None:
    """The directories a pure `resources:`-only kustomization lists, else None."""
    file = kustomization_file(path)
    if file is None:
        return None
    data = load_kustomization(file)
    if not data or set(data) - {"apiVersion", "kind", "resources"}:
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


def kustomize_command(directory: Path, *, timeout: float = 300,
                      load_restrictor: bool = True) -> Command:
    """The one way mercury runs kustomize (the venv's `kubectl kustomize`), like Flux with
    LoadRestrictionsNone unless `load_restrictor` is False."""
    argv = [resolve_tool("kubectl"), "kustomize"]
    if load_restrictor:
        argv.append("--load-restrictor=LoadRestrictionsNone")
    return Command([*argv, str(directory)], timeout=timeout)


@dataclass(frozen=True)
class Overlay:
    """The Flux Kustomization fields kustomize-controller adds to the build (spec.patches,
    spec.components, targetNamespace, namePrefix/nameSuffix, commonMetadata, images)."""

    namespace: str | None = None
    name_prefix: str | None = None
    name_suffix: str | None = None
    patches: tuple[Any, ...] = ()
    components: tuple[Path, ...] = ()  # absolute
    labels: tuple[tuple[str, str], ...] = ()
    annotations: tuple[tuple[str, str], ...] = ()
    images: tuple[Any, ...] = ()

    def fields(self, where: Path) -> dict[str, Any]:
        """The wrapper kustomization's fields, component paths relative to `where`."""
        out: dict[str, Any] = {}
        if self.components:
            out["components"] = [os.path.relpath(c, where) for c in self.components]
        if self.namespace:
            out["namespace"] = self.namespace
        if self.name_prefix:
            out["namePrefix"] = self.name_prefix
        if self.name_suffix:
            out["nameSuffix"] = self.name_suffix
        if self.patches:
            out["patches"] = list(self.patches)
        if self.labels:
            out["labels"] = [{"pairs": dict(self.labels), "includeSelectors": False}]
        if self.annotations:
            out["commonAnnotations"] = dict(self.annotations)
        if self.images:
            out["images"] = list(self.images)
        return out

    def key(self) -> str:
        return json.dumps(self.fields(Path("/")), sort_keys=True, default=str)


def _run_wrapper(where: Path, written: list[str], timeout: float, origins: bool = True,
                 overlay: Overlay | None = None) -> str:
    """Run kustomize on a wrapper listing `written` (paths relative to `where`)."""
    wrapper: dict[str, Any] = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": written,
        **(overlay.fields(where) if overlay else {}),
    }
    if origins:
        wrapper["buildMetadata"] = ["originAnnotations"]
    where.mkdir(parents=True, exist_ok=True)
    (where / "kustomization.yaml").write_text(yaml.safe_dump(wrapper), encoding="utf-8")
    return kustomize_command(where, timeout=timeout).run().stdout


def _build_groups(tmp: Path, groups: list[list[Path]], timeout: float,
                  origins: bool = True, overlay: Overlay | None = None) -> list[str]:
    """One stream per group of resources, each from the cache or a wrapper `tmp/wNNNN`.

    Keys are computed up front in this thread (the hasher memoizes the shared base
    directories); only the misses run kustomize, 2-4 at a time.
    """
    directory = cache_dir()
    store = BuildCache(directory, resolve_tool("kubectl")) if directory else None
    extra = list(overlay.components) if overlay else []
    variant = f"origins={origins}" + (f"\0{overlay.key()}" if overlay else "")
    jobs = []
    for n, group in enumerate(groups):
        where = tmp / f"w{n:04d}"
        written = [os.path.relpath(r, where) for r in group]
        key = store.key(written + [os.path.relpath(c, where) for c in extra], group + extra,
                        variant) if store else None
        jobs.append((where, written, key))

    memo: dict[Path, Inputs] = {}

    def run(job: tuple[Path, list[str], str | None], group: list[Path]) -> str:
        where, written, key = job
        if store is not None and key is not None:
            cached = store.get(key)
            if cached is not None:
                return cached
        _refuse_alias_bombs(group + extra, memo)
        stream = _run_wrapper(where, written, timeout, origins, overlay)
        if store is not None and key is not None:
            store.put(key, stream)
        return stream

    if len(jobs) == 1:
        streams = [run(jobs[0], groups[0])]
    else:
        workers = max(1, min(4, os.cpu_count() or 2))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            streams = list(pool.map(run, jobs, groups))
    if store is not None:
        store.prune()
    return streams


def _refuse_alias_bombs(resources: list[Path], memo: dict[Path, Inputs]) -> None:
    """kustomize expands YAML aliases without bound (a bomb runs until memory is gone):
    check every YAML file it would read first (InputError naming the file)."""
    files: list[Path] = []
    for resource in resources:
        files += walk(resource, memo).files if resource.is_dir() else [resource]
    for file in dict.fromkeys(files):
        if file.suffix in (".yaml", ".yml", ".json"):
            try:
                text = file.read_bytes()
            except OSError:
                continue  # kustomize reports it, with its own words
            check_aliases(text, source=file)


def kustomize_build(path: Path, *, timeout: float = 300, overlay: Overlay | None = None,
                    ignore: Ignore | None = None) -> tuple[str, str]:
    """(YAML stream, directory its origin paths are relative to) for `path`.

    kustomize runs on a throw-away wrapper kustomization (`resources: [path]`,
    `buildMetadata: [originAnnotations]`, plus the Flux `overlay`) so every object says
    which file it came from; like Flux, with LoadRestrictionsNone. Outputs are cached by
    content (builder.cache). Raises ToolError when kustomize fails.
    """
    renames = overlay is not None and bool(overlay.name_prefix or overlay.name_suffix)
    fanned = None if renames else _aggregated_dirs(path)
    resources = [path] if has_kustomization(path) else generated_resources(path, ignore)
    if not resources:
        return "", str(path)
    with tempfile.TemporaryDirectory(prefix="mercury-build-") as tmp:
        # wrappers sit at the same depth, so one base resolves every origin path
        base = Path(tmp) / "w0000"
        if fanned is None:
            return _build_groups(Path(tmp), [resources], timeout, overlay=overlay)[0], str(base)
        chunks = [fanned[i:i + FANOUT_CHUNK] for i in range(0, len(fanned), FANOUT_CHUNK)]
        # Origin annotations nearly double kustomize's time; for a fanned-out list of
        # overlays the kind + name index finds the same files (build.scan.find_origin).
        streams = _build_groups(Path(tmp), chunks, timeout, origins=False, overlay=overlay)
        return "---\n".join(s for s in streams if s.strip()), str(base)


_NOISE = re.compile(r"^(?:#\s*)?warning:|deprecated|^\s*$", re.IGNORECASE)
_WRAPPER = re.compile(r"accumulat\w* (?:resources|err)[^:]*:\s*|accumulation err='|"
                      r"must build at directory: [^:]*: ")


_MISSING = re.compile(r"(?:lstat|open|stat) ([^\s':]+): no such file or directory")


def cause_line(stderr: str, root: Path | None = None) -> str:
    """kustomize's failure as one line that names the cause (missing file, cycle, YAML
    error with file and line), not a deprecation warning nor the accumulation wrappers."""
    lines = [ln.strip() for ln in stderr.strip().splitlines()]
    errors = [ln for ln in lines if ln.lower().startswith("error:")]
    line = errors[-1] if errors else next((ln for ln in lines if not _NOISE.search(ln)),
                                          lines[-1] if lines else "no output")
    line = re.sub(r"^error:\s*", "", line, flags=re.IGNORECASE)
    line = re.sub(r"(?:/tmp|/var/folders)/\S*?mercury-build-[^/]+/w\d+/", "", line)
    if root is not None:
        resolved = str(root.resolve())
        line = line.replace(f"{resolved}/", "").replace(resolved, ".")
    missing = _MISSING.search(line)
    if missing:
        return f"{missing.group(1)}: no such file or directory"
    parts = [p for p in re.split(r"': |: accumulation err='|; ", line) if p]
    causes = [p for p in parts if re.search(
        r"no such file|not found|cycle|yaml:|line \d+|missing|invalid|unable|cannot|"
        r"already registered|conflict|does not exist|must be", p, re.IGNORECASE)]
    cause = causes[-1] if causes else line
    return cause.strip(" '")


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
        return list(yaml12.load_all("---\n".join(docs)))
    except yaml.YAMLError:
        pass
    out = []
    for n, doc in enumerate(docs, 1):
        try:
            out.append(yaml12.load(doc))
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
