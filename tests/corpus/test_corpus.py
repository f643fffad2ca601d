"""The catch-rate corpus stays honest: the clean base has no finding, and each injected
mistake is reported by the rule its README names (bench/catch_rate.py compares checkers).
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent.parent
CORPUS = REPO / "tests" / "corpus"
_spec = importlib.util.spec_from_file_location("catch_rate", REPO / "bench" / "catch_rate.py")
assert _spec and _spec.loader
catch_rate = importlib.util.module_from_spec(_spec)
sys.modules["catch_rate"] = catch_rate  # dataclasses look their module up
_spec.loader.exec_module(catch_rate)

CASES = sorted(p for p in CORPUS.iterdir() if p.is_dir() and not p.name.startswith("_"))


def test_clean_base_has_no_findings(tmp_path: Path) -> None:
    root = catch_rate.materialize(CORPUS / "_base", tmp_path / "base")
    assert catch_rate.mercury_findings(root) == set()


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.name)
def test_case_is_caught_by_its_rule(case: Path, tmp_path: Path) -> None:
    match = re.search(r"^expect:\s*(\S+)", (case / "README.md").read_text(), re.M)
    assert match, f"{case}/README.md needs an 'expect: <rule-id>' line"
    root = catch_rate.materialize(case, tmp_path / case.name)
    rules = {rule for rule, _ in catch_rate.mercury_findings(root)}
    assert match[1] in rules, f"{case.name}: expected {match[1]}, got {sorted(rules)}"


def test_corpus_size() -> None:
    assert 15 <= len(CASES) <= 200
