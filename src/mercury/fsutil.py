"""File writes that cannot go wrong quietly: atomic, confined to their directory, locked.

- `write_atomic`: a crash or a refused input never leaves a half-written file.
- `confined`: a path built from user-chosen names (environment, tenant) must stay inside
  the directory it is meant for, symlinks resolved.
- `repo_lock`: one writer of a repository at a time (an `fcntl.flock` on `.mercury.lock`),
  so two `tenant add` cannot read the same platform.yaml and lose one tenant.
"""

from __future__ import annotations

import fcntl
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mercury.errors import InputError

LOCK_FILE = ".mercury.lock"
DEFAULT_LOCK_TIMEOUT = 30.0


def write_atomic(path: Path, text: str | bytes) -> None:
    """Write `text` to a temp file beside `path`, then rename it over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = _mode_for(path)
    data = text.encode("utf-8") if isinstance(text, str) else text
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_exact(path: Path) -> str:
    """The file's text with its line endings as they are (CRLF stays CRLF); a file that is
    not UTF-8 (binary, Latin-1) is exit 2 naming the file, line and byte."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise InputError(f"not UTF-8 text (byte {exc.start}: {data[exc.start]:#04x})",
                         file=str(path), line=line) from None


def _mode_for(path: Path) -> int:
    """Keep an existing file's mode; a new file gets 0666 minus the umask, like open()."""
    try:
        return path.stat().st_mode & 0o7777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def confined(base: Path, *parts: str) -> Path:
    """`base/parts...`, refused unless every level resolves (symlinks too) inside its parent.

    So `apps/<env>/<tenant>/kustomization.yaml` can be neither steered out of the
    repository nor, by a symlinked tenant directory, into a shared template.
    """
    path, real_parent = base, base.resolve()
    for part in parts:
        path = path / part
        real = path.resolve()
        if part in ("", ".", "..") or not real.is_relative_to(real_parent) or real == real_parent:
            raise InputError(f"refusing to write outside {path.parent}: {part!r} resolves to "
                             f"{real}", file=str(base.joinpath(*parts)))
        real_parent = real
    return path


def _holder(lock_path: Path) -> str:
    try:
        text = lock_path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return ""
    return text.splitlines()[0] if text else ""


@contextmanager
def repo_lock(root: Path, command: str, *, timeout: float = DEFAULT_LOCK_TIMEOUT,
              shared: bool = False) -> Iterator[str]:
    """Hold the repository lock for the body; yields the note an interrupted writer left.

    A writer records `pid <n>: <command>` in the lock file and clears it when it is
    done, so a record found on taking the lock means the previous writer died mid-way
    (SIGKILL, power loss): the caller says so and renders to complete it.
    Waits up to `timeout` seconds for another holder, naming it once; then exit 2.
    """
    lock_path = root / LOCK_FILE
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        if shared:  # a read-only checkout can still be checked
            yield ""
            return
        raise InputError(f"cannot create the repository lock: {exc.strerror}",
                         file=str(lock_path)) from None
    try:
        mode = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
        deadline = time.monotonic() + max(timeout, 0.0)
        told = False
        while True:
            try:
                fcntl.flock(fd, mode | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = _holder(lock_path) or "another mercury command"
                if time.monotonic() >= deadline:
                    raise InputError(f"{holder} still holds the repository lock after "
                                     f"{timeout:g}s (--lock-timeout)",
                                     file=str(lock_path)) from None
                if not told:
                    print(f"mercury: waiting for {holder} holding the lock {lock_path}",
                          file=sys.stderr, flush=True)
                    told = True
                time.sleep(0.05)
        left = _holder(lock_path)
        if not shared:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()}: mercury {command}\n".encode(), 0)
        try:
            yield left
        finally:  # the record outlives only a writer killed without unwinding
            if not shared:
                os.ftruncate(fd, 0)
    finally:
        os.close(fd)
