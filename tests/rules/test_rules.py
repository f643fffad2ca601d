"""Every cross-object rule against its fixtures: tests/rules/<rule-id>/{pass,fail}/*.yaml.

A pass fixture must produce no finding of that rule; a fail fixture exactly the findings
its `# expect:` lines list. Every registered rule needs docs/rules/<id>.md, and every
cross-object rule needs at least one pass and one fail fixture.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml
from make_docs import render_doc
from rulefixture import build_context, expectations, load_context, run_rule

from mercury.verify.rules import ALL_RULES, CROSS_OBJECT_RULES

HERE = Path(__file__).resolve().parent
DOCS = HERE.parent.parent / "docs" / "rules"
RULES = {rule.id: rule for rule in CROSS_OBJECT_RULES}
CASES = sorted(
    (rule_dir.name, path)
    for rule_dir in HERE.iterdir() if rule_dir.is_dir() and not rule_dir.name.startswith("_")
    for path in [*rule_dir.glob("pass/*.yaml"), *rule_dir.glob("fail/*.yaml")]
)


@pytest.mark.parametrize(("rule_id", "path"), CASES,
                         ids=[f"{r}/{p.parent.name}/{p.stem}" for r, p in CASES])
def test_fixture(rule_id: str, path: Path) -> None:
    assert rule_id in RULES, f"fixture directory for unregistered rule {rule_id}"
    rule = RULES[rule_id]
    expected = expectations(path.read_text())
    if path.parent.name == "fail":
        assert expected, f"{path}: a fail fixture needs '# expect:' lines"
    else:
        assert not expected, f"{path}: a pass fixture expects nothing"
    findings = run_rule(rule, load_context([path]))
    report = "\n".join(f"{f.rule} {f.object} ({f.severity.value}): {f.message}" for f in findings)
    assert sorted((f.rule, f.object) for f in findings) == \
        sorted((e.rule, e.object) for e in expected), report
    severities = {(f.rule, f.object): f.severity.value for f in findings}
    for e in expected:
        if e.severity:
            assert severities[(e.rule, e.object)] == e.severity, report
    for finding in findings:
        assert finding.rule.split("[")[0] == rule.id
        assert finding.message and finding.hint


@pytest.mark.parametrize("rule", CROSS_OBJECT_RULES, ids=lambda r: r.id)
def test_rule_has_fixtures(rule) -> None:  # type: ignore[no-untyped-def]
    assert list((HERE / rule.id).glob("pass/*.yaml")), f"{rule.id}: no pass fixture"
    assert list((HERE / rule.id).glob("fail/*.yaml")), f"{rule.id}: no fail fixture"


@pytest.mark.parametrize("rule", ALL_RULES, ids=lambda r: r.id)
def test_rule_has_docs(rule) -> None:  # type: ignore[no-untyped-def]
    doc = DOCS / f"{rule.id}.md"
    assert doc.is_file(), f"{doc} missing: run tests/rules/make_docs.py"
    if rule in CROSS_OBJECT_RULES:
        assert doc.read_text() == render_doc(rule), f"{doc} is stale: run make_docs.py"


def test_rule_metadata() -> None:
    ids = [r.id for r in ALL_RULES]
    assert len(ids) == len(set(ids)), "duplicate rule ids"
    for rule in CROSS_OBJECT_RULES:
        assert rule.id.replace("-", "").isalnum() and rule.id == rule.id.lower()
        assert rule.summary and rule.hint and type(rule).__doc__


def test_rules_scale_linearly() -> None:
    """15,000 objects (940 tenants x 16) through every cross-object rule in a few seconds;
    the tenant is the contract's, so no rule may report an error on it.
    """
    layers = list(yaml.safe_load_all((HERE / "_scale" / "layers.yaml").read_text()))
    tenant = json.dumps(list(yaml.safe_load_all((HERE / "_scale" / "tenant.yaml").read_text())))
    docs = [(d, "layers.yaml") for d in layers]
    for i in range(940):
        docs += [(d, "tenant.yaml") for d in json.loads(tenant.replace("TENANT", f"t{i}"))]
    ctx = build_context(docs)
    assert len(ctx.objects) >= 15000
    start = time.perf_counter()
    findings = [f for rule in CROSS_OBJECT_RULES for f in run_rule(rule, ctx)]
    elapsed = time.perf_counter() - start
    assert elapsed < 20, f"rules took {elapsed:.1f}s on {len(ctx.objects)} objects"
    assert [f for f in findings if f.severity.value != "info"] == []
