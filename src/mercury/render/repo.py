"""Render the whole repository: every generated kustomization, written or checked.

Generated files carry a header line; render only ever replaces or deletes files that
have it, so hand-written files (the staging infrastructure overlays) are never touched.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from mercury.fsutil import write_atomic
from mercury.platform.model import Platform
from mercury.render.tenant import (
    RESTORE_COMPONENT,
    environment_kustomization,
    infrastructure_kustomization,
    tenant_kustomization,
)
from mercury.render.yamltext import generated, is_generated

KUSTOMIZATION = "kustomization.yaml"
INFRA_PARTS = ("infrastructure/controllers", "infrastructure/configs")
# Where generated kustomizations may live (globs relative to the repository root).
_OWNED_GLOBS = ("apps/*/kustomization.yaml", "apps/*/*/kustomization.yaml",
                *(f"{part}/*/kustomization.yaml" for part in INFRA_PARTS))


@dataclass
class RenderReport:
    """Repo-relative paths: written (or created), drifted (check mode), removed (stale)."""

    written: list[str] = field(default_factory=list)
    drifted: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (self.written or self.drifted or self.removed)


def plan(root: Path, platform: Platform) -> dict[str, str]:
    """Repo-relative path -> full text of every file render should produce."""
    files: dict[str, str] = {}
    for env_name, env in platform.environments.items():
        tenants = platform.tenants_of(env_name)
        files[f"apps/{env_name}/{KUSTOMIZATION}"] = generated(
            environment_kustomization(list(tenants)))
        for name, tenant in tenants.items():
            restore = (root / "apps" / env_name / name / RESTORE_COMPONENT
                       / KUSTOMIZATION).is_file()
            files[f"apps/{env_name}/{name}/{KUSTOMIZATION}"] = generated(
                tenant_kustomization(name, tenant, env_name, env, restore=restore))
        for part in INFRA_PARTS:
            rel = f"{part}/{env_name}/{KUSTOMIZATION}"
            existing = root / rel
            # A hand-written overlay wins; render only fills the gap (or keeps its own).
            if not existing.exists() or is_generated(_read(existing)):
                files[rel] = generated(infrastructure_kustomization())
    return files


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ""


def _stale(root: Path, wanted: dict[str, str]) -> list[str]:
    """Generated files on disk that the platform no longer asks for."""
    stale = set()
    for pattern in _OWNED_GLOBS:
        for path in root.glob(pattern):
            rel = path.relative_to(root).as_posix()
            if rel not in wanted and path.is_file() and is_generated(_read(path)):
                stale.add(rel)
    return sorted(stale)


def _remove(root: Path, rel: str) -> None:
    """Delete a generated file, then its directories while they are empty."""
    path = root / rel
    path.unlink()
    parent = path.parent
    while parent != root and not any(parent.iterdir()):
        parent.rmdir()
        parent = parent.parent


def render_repo(root: Path, platform: Platform, *, check: bool = False) -> RenderReport:
    """Bring every generated file in line with `platform` (or, with check, only report)."""
    report = RenderReport()
    wanted = plan(root, platform)
    for rel, text in sorted(wanted.items()):
        if _read(root / rel) == text and (root / rel).is_file():
            continue
        if check:
            report.drifted.append(rel)
        else:
            write_atomic(root / rel, text)
            report.written.append(rel)
    # Deepest first, so a tenant's directory goes before its environment's.
    for rel in sorted(_stale(root, wanted), key=lambda r: (-r.count("/"), r)):
        if check:
            report.drifted.append(rel)
        else:
            _remove(root, rel)
            report.removed.append(rel)
    report.drifted.sort()
    report.removed.sort()
    return report
