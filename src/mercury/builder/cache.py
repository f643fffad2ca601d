"""A content-addressed cache of kustomize output, keyed by everything a build can read.

Why: kustomize is the floor of `mercury verify` (its time grows with the square of a
build's object count; 1,000 tenants take ~60 s even fanned out), and cold builds cannot
get faster than kustomize. Most runs rebuild unchanged inputs, though: a warm run, or a
CI run for a PR that touches one tenant, reuses every other build's stored output.

The key is a sha256 over: the kubectl binary (path, size, mtime), the wrapper's resource
paths exactly as written (origin paths in the output are relative to the wrapper, so the
same strings give the same origins), and the bytes of every input file: for a directory
every regular file directly in it, plus whatever its kustomization file names
(`inputs.kustomization_refs`, the walker every part of mercury shares; a directory is
hashed the same way, recursively). Over-inclusion only costs a miss. A remote reference
(URL, git@, github.com/) or an absolute path makes the build uncacheable.

MERCURY_CACHE_DIR picks the directory ($XDG_CACHE_HOME/mercury/builds by default);
MERCURY_NO_CACHE=1 turns the cache off. Entries are written atomically; an unreadable or
corrupt entry is a miss. Failed builds are never stored.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
from functools import cache
from pathlib import Path

from mercury.builder.inputs import (
    is_remote,
    kustomization_file,
    kustomization_refs,
    load_kustomization,
)
from mercury.fsutil import write_atomic

FORMAT = "mercury-kustomize-cache-v2"
MAX_AGE_DAYS = 14
_IN_PROGRESS = "in-progress"


class Uncacheable(Exception):
    """The build reads something the key cannot cover (a remote or absolute reference)."""


def cache_dir() -> Path | None:
    """Where entries live, or None when MERCURY_NO_CACHE is set."""
    if os.environ.get("MERCURY_NO_CACHE", "") not in ("", "0"):
        return None
    if explicit := os.environ.get("MERCURY_CACHE_DIR"):
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "mercury" / "builds"


@cache
def tool_identity(path: str) -> str:
    """The kustomize implementation: a different kubectl binary is a different key."""
    st = os.stat(path)
    return f"{os.path.realpath(path)}\0{st.st_size}\0{st.st_mtime_ns}"


def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class InputHasher:
    """Digests of build inputs; memoized per directory, so use one per build, one thread."""

    def __init__(self) -> None:
        self._dirs: dict[Path, str] = {}

    def resource(self, path: Path) -> str:
        """Digest of a wrapper resource (a directory or a manifest file)."""
        return self._dir(path) if path.is_dir() else "F" + _file_digest(path)

    def _dir(self, path: Path) -> str:
        path = path.resolve()
        known = self._dirs.get(path)
        if known is not None:
            # a reference back to a directory being hashed adds nothing new
            return "cycle" if known == _IN_PROGRESS else known
        self._dirs[path] = _IN_PROGRESS
        try:
            self._dirs[path] = digest = "D" + self._hash_dir(path)
        except BaseException:
            del self._dirs[path]  # never leave the marker behind
            raise
        return digest

    def _hash_dir(self, path: Path) -> str:
        h = hashlib.sha256()
        files = sorted((e.name, e.path) for e in os.scandir(path) if e.is_file())
        for name, file in files:
            h.update(f"{name}\0{_file_digest(Path(file))}\n".encode())
        kfile = kustomization_file(path)
        for ref in self._references(kfile) if kfile is not None else []:
            target = path / ref
            digest = self._dir(target) if target.is_dir() else _file_digest(target)
            h.update(f"{ref}\0{digest}\n".encode())
        return h.hexdigest()

    @staticmethod
    def _references(kfile: Path) -> list[str]:
        """The local paths a kustomization file names (inputs.kustomization_refs)."""
        refs = []
        for ref in kustomization_refs(load_kustomization(kfile)):
            if is_remote(ref):
                raise Uncacheable(f"remote reference {ref!r} in {kfile}")
            target = kfile.parent / ref
            if os.path.isabs(ref) and target.exists():
                raise Uncacheable(f"absolute path {ref!r} in {kfile}")
            if target.exists():
                refs.append(ref)
        return refs


class BuildCache:
    """kustomize output streams stored as `<key>.yaml` files in one directory."""

    def __init__(self, directory: Path, tool: str) -> None:
        self.directory = directory
        self.tool = tool
        self._hasher = InputHasher()

    def key(self, written: list[str], resources: list[Path], variant: str = "") -> str | None:
        """The key of a wrapper listing `resources` as `written`; None: uncacheable.
        `variant` names wrapper options that change the output (origin annotations)."""
        h = hashlib.sha256(f"{FORMAT}\0{tool_identity(self.tool)}\0{variant}\n".encode())
        try:
            for rel, resource in zip(written, resources, strict=True):
                h.update(f"{rel}\0{self._hasher.resource(resource)}\n".encode())
        except (Uncacheable, OSError):
            return None
        return h.hexdigest()

    def _entry(self, key: str) -> Path:
        return self.directory / f"{key}.yaml"

    def get(self, key: str) -> str | None:
        """The stored stream, or None (missing, unreadable or corrupt)."""
        try:
            text = self._entry(key).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None
        header, _, stream = text.partition("\n")
        if header != self._header(key, stream):
            return None
        with contextlib.suppress(OSError):
            os.utime(self._entry(key))  # last use, for prune()
        return stream

    def put(self, key: str, stream: str) -> None:
        """Store a successful build's stream; a cache that cannot be written is skipped."""
        with contextlib.suppress(OSError):
            write_atomic(self._entry(key), f"{self._header(key, stream)}\n{stream}")

    def prune(self, max_age_days: float = MAX_AGE_DAYS) -> int:
        """Delete entries unused for `max_age_days` (every change leaves one behind)."""
        cutoff = time.time() - max_age_days * 86400
        removed = 0
        with contextlib.suppress(OSError):
            for entry in self.directory.glob("*.yaml"):
                with contextlib.suppress(OSError):
                    if entry.stat().st_mtime < cutoff:
                        entry.unlink()
                        removed += 1
        return removed

    @staticmethod
    def _header(key: str, stream: str) -> str:
        return f"# {FORMAT} {key} {len(stream)}"
