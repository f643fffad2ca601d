"""Tool lookup: the override directory wins, a missing tool says how to get it."""

from __future__ import annotations

from pathlib import Path

import pytest

from mercury.errors import InputError
from mercury.toolchain import find_tool, require_tool


def test_override_directory_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "kubeconform"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setenv("MERCURY_TOOLS_DIR", str(tmp_path))
    assert find_tool("kubeconform") == fake


def test_missing_tool_is_a_one_line_input_error(monkeypatch: pytest.MonkeyPatch,
                                                tmp_path: Path) -> None:
    monkeypatch.setenv("MERCURY_TOOLS_DIR", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))
    assert find_tool("no-such-tool-xyz") is None
    with pytest.raises(InputError, match=r"dry-run needs `no-such-tool-xyz`.*make tools"):
        require_tool("no-such-tool-xyz", purpose="dry-run")


def test_make_tools_builds_every_tool_the_locator_knows() -> None:
    """Each tool mercury may ask for has a pinned module under tools/ and a Makefile entry,
    so `make tools` (run by `make test` and CI) provides it."""
    import re

    from mercury.toolchain import GO_TOOLS

    root = Path(__file__).resolve().parents[1]
    makefile = (root / "Makefile").read_text()
    listed = re.search(r"^GO_TOOLS\s*:=\s*(.+)$", makefile, re.M)
    assert listed and sorted(listed.group(1).split()) == sorted(GO_TOOLS)
    for name in GO_TOOLS:
        mod = (root / "tools" / name / "go.mod").read_text()
        assert (root / "tools" / name / "go.sum").stat().st_size > 0
        assert re.search(r"^\s*(require|tool)\b", mod, re.M), name
