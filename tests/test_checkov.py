"""checkov on terraform/ and on the built manifests, against tests/checkov-baseline.yaml.

checkov lives in its own venv (`.tools/checkov-venv`, made by `make checkov`, which
`make test` depends on): it installs its own `hcl2` parser over python-hcl2, which
mercury uses. The manifests are what `mercury build` prints for each environment, so
checkov sees the objects Flux would apply, with substitutions resolved.

A failing check missing from the baseline fails the test; so does a baseline entry that
matches no failing check any more (the trade-off is gone: delete its entry).
"""

from __future__ import annotations

import fnmatch
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from mercury.platform.load import load_platform

REPO = Path(__file__).resolve().parent.parent
BASELINE = Path(__file__).with_name("checkov-baseline.yaml")
CHECKOV = Path(os.environ.get("CHECKOV", REPO / ".tools" / "checkov-venv" / "bin" / "checkov"))
MERCURY = Path(sys.executable).with_name("mercury")
needs_checkov = pytest.mark.skipif(
    not CHECKOV.is_file(), reason=f"checkov not installed at {CHECKOV} (run `make checkov`)")


@dataclass(frozen=True)
class Finding:
    check: str
    resource: str
    name: str


@dataclass(frozen=True)
class Scan:
    failed: list[Finding]
    passed: int


def _checkov(framework: str, *target: str) -> Scan:
    result = subprocess.run(
        [str(CHECKOV), *target, "--framework", framework, "--output", "json", "--quiet",
         "--skip-download", "--compact"],
        capture_output=True, text=True, timeout=600,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": ""},
    )
    assert result.returncode in (0, 1), result.stderr[-2000:]  # 1: some check failed
    reports: Any = json.loads(result.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    failed: list[Finding] = []
    passed = 0
    for report in reports:
        assert report["summary"]["parsing_errors"] == 0, report["summary"]
        passed += report["summary"]["passed"]
        failed += [Finding(c["check_id"], c["resource"], c["check_name"])
                   for c in report["results"]["failed_checks"]]
    return Scan(failed, passed)


@pytest.fixture(scope="module")
def scans(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Scan]:
    out = tmp_path_factory.mktemp("built")
    for env in load_platform(REPO).environments:
        built = subprocess.run([str(MERCURY), "build", "--env", env, "--repo", str(REPO)],
                               capture_output=True, text=True, timeout=600)
        assert built.returncode == 0, built.stderr
        (out / f"{env}.yaml").write_text(built.stdout)
    return {"terraform": _checkov("terraform", "--directory", str(REPO / "terraform")),
            "kubernetes": _checkov("kubernetes", "--directory", str(out))}


def _baseline() -> dict[str, list[dict[str, str]]]:
    data = yaml.safe_load(BASELINE.read_text())
    for framework, entries in data.items():
        for entry in entries:
            assert set(entry) == {"check", "resource", "reason"}, (framework, entry)
            assert entry["reason"].strip(), (framework, entry)
    return dict(data)


def _accepted(finding: Finding, entries: list[dict[str, str]]) -> bool:
    return any(e["check"] == finding.check and fnmatch.fnmatchcase(finding.resource, e["resource"])
               for e in entries)


@needs_checkov
@pytest.mark.parametrize("framework", ["terraform", "kubernetes"])
def test_no_failing_check_outside_the_baseline(scans: dict[str, Scan], framework: str) -> None:
    scan = scans[framework]
    entries = _baseline().get(framework, [])
    new = [f for f in scan.failed if not _accepted(f, entries)]
    print(f"checkov {framework}: {scan.passed} passed, {len(scan.failed)} failed, "
          f"{len(scan.failed) - len(new)} of them accepted by {len(entries)} baseline entries")
    assert not new, "fix, or add to tests/checkov-baseline.yaml with a reason:\n" + "\n".join(
        f"  {f.check} {f.resource}: {f.name}" for f in new)


@needs_checkov
@pytest.mark.parametrize("framework", ["terraform", "kubernetes"])
def test_every_baseline_entry_still_fails(scans: dict[str, Scan], framework: str) -> None:
    stale = [e for e in _baseline().get(framework, [])
             if not any(_accepted(f, [e]) for f in scans[framework].failed)]
    assert not stale, "no longer failing, delete from tests/checkov-baseline.yaml:\n" + "\n".join(
        f"  {e['check']} {e['resource']}" for e in stale)
