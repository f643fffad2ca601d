"""Where the ecosystem's Go tools live: built by `make tools` into `.tools/bin/`.

kube-apiserver, etcd, flux, kubeconform, helm and kwok are optional at run time: the
Python-only path (`make plan`) works without them. A command that needs one asks
`find_tool()` (None when absent) or `require_tool()` (a one-line error saying how to
get it). Search order: `$MERCURY_TOOLS_DIR`, the repository's `.tools/bin/` (next to
the installed package's source checkout, or the current directory's), then PATH.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from mercury.errors import InputError

GO_TOOLS = ("kube-apiserver", "etcd", "flux", "kubeconform", "helm", "kwok")
HOW_TO_GET = "run `make tools` in the mercury checkout (builds them from the Go module proxy)"


def tool_dirs() -> list[Path]:
    """Directories searched before PATH, most specific first."""
    dirs: list[Path] = []
    override = os.environ.get("MERCURY_TOOLS_DIR")
    if override:
        dirs.append(Path(override))
    checkout = Path(__file__).resolve().parents[2]  # src/mercury/toolchain.py -> checkout
    dirs.append(checkout / ".tools" / "bin")
    dirs.append(Path.cwd() / ".tools" / "bin")
    return list(dict.fromkeys(dirs))


def find_tool(name: str) -> Path | None:
    """Absolute path of a tool, or None when it is not installed."""
    for directory in tool_dirs():
        candidate = directory / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which(name)
    return Path(found) if found else None


def require_tool(name: str, *, purpose: str) -> Path:
    """A tool that `purpose` cannot do without; InputError (exit 2) naming it otherwise."""
    path = find_tool(name)
    if path is None:
        raise InputError(f"{purpose} needs `{name}`, which is not installed: {HOW_TO_GET}")
    return path
