"""The AKS-specific rules on this repository itself: clean as committed, and each one
fires when the platform decision it guards is undone in a copy of the repository."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from mercury.verify.engine import verify_repo
from mercury.verify.rules.aks import AksFluxMultitenancy

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    """The committed repository (tracked files only) in a temp directory."""
    files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True,
                           check=True).stdout.split()
    for rel in files:
        if (REPO / rel).is_file():
            (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / rel, tmp_path / rel)
    return tmp_path


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new))


def test_flux_lockdown_is_off_and_the_repository_is_clean() -> None:
    report = verify_repo(REPO, rules=[AksFluxMultitenancy()])
    assert [f for f in report.findings if f.rule.startswith("aks-")] == []


def test_flux_lockdown_on_refuses_every_controller_release(repo_copy: Path) -> None:
    _edit(repo_copy / "terraform" / "flux.tf",
          '"multiTenancy.enforce" = "false"', '"multiTenancy.enforce" = "true"')
    report = verify_repo(repo_copy, rules=[AksFluxMultitenancy()])
    impersonated = sorted(f.object for f in report.findings
                          if f.rule == "aks-flux-multitenancy[impersonation]")
    assert impersonated == ["HelmRelease/cert-manager/cert-manager",
                            "HelmRelease/cnpg-system/barman-cloud",
                            "HelmRelease/cnpg-system/cnpg",
                            "HelmRelease/reloader/reloader",
                            "HelmRelease/traefik/traefik"]
    crossing = [f for f in report.findings
                if f.rule == "aks-flux-multitenancy[cross-namespace-ref]"]
    assert [f.object for f in crossing] == ["HelmRelease/cnpg-system/barman-cloud"]
    assert "cert-manager" in crossing[0].message
    assert all(f.file and f.file.startswith("infrastructure/") for f in report.findings)
