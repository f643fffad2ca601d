"""What a Flux source leaves out of its artifact: the default rules and `.sourceignore`.

source-controller packs a Git repository without VCS and CI files, media and a few
secret-looking files (fluxcd/pkg/sourceignore's defaults), minus whatever `.sourceignore`
files (gitignore syntax, relative to their own directory) and `spec.ignore` exclude.
An ignored manifest is not in the artifact, so Flux's generated kustomization never
lists it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pathspec

DEFAULT_PATTERNS = (
    ".git/", ".gitignore", ".gitmodules", ".gitattributes",
    "*.jpg", "*.jpeg", "*.gif", "*.png", "*.wmv", "*.flv", "*.tar.gz", "*.zip",
    ".github/", ".circleci/", ".travis.yml", ".gitlab-ci.yml", "appveyor.yml", ".drone.yml",
    "cloudbuild.yaml", "codeship-services.yml", "codeship-steps.yml",
    "**/.goreleaser.yml", "**/.sops.yaml", "**/.flux.yaml",
)
IGNORE_FILE = ".sourceignore"


class SourceIgnore:
    """`ignored(path)` for paths inside one source root."""

    def __init__(self, root: Path, extra: str | None = None) -> None:
        self.root = root.resolve()
        lines = list(DEFAULT_PATTERNS) + (extra.splitlines() if extra else [])
        self._specs: list[tuple[str, Any]] = [
            ("", pathspec.GitIgnoreSpec.from_lines(lines))]
        for file in sorted(self.root.rglob(IGNORE_FILE)):
            if ".git" in file.relative_to(self.root).parts:
                continue
            try:
                text = file.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            prefix = file.parent.relative_to(self.root).as_posix()
            prefix = "" if prefix == "." else prefix + "/"
            self._specs.append((prefix, pathspec.GitIgnoreSpec.from_lines(
                                                                     text.splitlines())))

    def __call__(self, path: Path) -> bool:
        try:
            rel = path.resolve().relative_to(self.root).as_posix()
        except ValueError:
            return False
        if path.is_dir():
            rel += "/"
        for prefix, spec in self._specs:
            if rel.startswith(prefix) and spec.match_file(rel[len(prefix):]):
                return True
        return False
