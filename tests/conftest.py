"""Shared fixtures: a throw-away copy of this repository, and the test schema location."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# CRD schemas for tests and CI (kubeconform layout); never committed into the project.
CRD_SCHEMAS = (REPO.parent / "shared" / "schemas" / "crds").resolve()
# Terraform provider schemas (`terraform providers schema -json`), likewise not committed.
TERRAFORM_SCHEMAS = (REPO.parent / "shared" / "schemas" / "terraform").resolve()


def _tracked_files(root: Path) -> list[Path]:
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=root, capture_output=True, check=True,
    ).stdout.decode()
    return [Path(p) for p in out.split("\0") if p]


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    """A copy of the repository's files (no .venv, no .git) to modify freely."""
    dest = tmp_path / "repo"
    for rel in _tracked_files(REPO):
        src = REPO / rel
        if not src.is_file() or rel.parts[0] in {"tests", "docs", "src"}:
            continue
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, target)
    return dest


@pytest.fixture(autouse=True, scope="session")
def _private_build_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Tests never read or fill the user's ~/.cache/mercury build cache."""
    os.environ["MERCURY_CACHE_DIR"] = str(tmp_path_factory.mktemp("mercury-cache"))
    # `mercury verify` defaults to --apiserver auto; tests that want the real API server
    # ask for it (tests/apiserver/test_dryrun.py), the others stay fast and offline.
    os.environ.setdefault("MERCURY_APISERVER", "off")


@pytest.fixture(autouse=True, scope="session")
def _terraform_schemas() -> None:
    """Copies of the repository in tmp dirs are checked against the real provider schemas
    too (beside the checkout they are found without this)."""
    if TERRAFORM_SCHEMAS.is_dir():
        os.environ.setdefault("MERCURY_TERRAFORM_SCHEMA", str(TERRAFORM_SCHEMAS))


@pytest.fixture(scope="session")
def crd_schemas() -> Path:
    if not CRD_SCHEMAS.is_dir():
        pytest.skip(f"CRD schemas not found at {CRD_SCHEMAS}")
    return CRD_SCHEMAS
