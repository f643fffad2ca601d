"""Reporters: the contract's JSON shape, SARIF 2.1.0 valid against the official schema."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from mercury.verify.engine import Summary, all_rules
from mercury.verify.findings import Finding, Severity
from mercury.verify.report import REPORTERS, sarif, text

SCHEMAS = Path(__file__).parent / "schemas"
FINDINGS = [
    Finding("schema-invalid", Severity.ERROR, "Deployment/t1/n8n", "$.spec.replicas: bad",
            "fix it", "apps/base/n8n.yaml", 12, "apps", "t1"),
    Finding("substitution-unused", Severity.INFO, "Kustomization/flux-system/apps",
            "${X} is unused", "", "terraform/flux.tf", None, "apps", None),
    Finding("flux-depends-on[cycle]", Severity.WARNING, "", "no file here", "h"),
]
SUMMARY = Summary(errors=1, warnings=1, infos=1, objects=15, kustomizations=3, rules=40,
                  seconds=0.5, environment="staging")


def test_json_has_the_contract_shape() -> None:
    doc = json.loads(REPORTERS["json"](FINDINGS, SUMMARY))
    schema = json.loads((SCHEMAS / "verify-report.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(doc)
    first = doc["findings"][0]
    assert {k: first[k] for k in ("rule", "severity", "object", "file", "message", "hint")} == {
        "rule": "schema-invalid", "severity": "error", "object": "Deployment/t1/n8n",
        "file": "apps/base/n8n.yaml", "message": "$.spec.replicas: bad", "hint": "fix it"}
    assert doc["summary"]["exit_code"] == 1 and doc["summary"]["objects"] == 15


def test_sarif_is_valid_sarif_2_1_0() -> None:
    doc = json.loads(REPORTERS["sarif"](FINDINGS, SUMMARY))
    schema = json.loads((SCHEMAS / "sarif-schema-2.1.0.json").read_text())
    jsonschema.Draft4Validator(schema).validate(doc)
    run = doc["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert run["tool"]["driver"]["name"] == "mercury"
    assert [r["id"] for r in rules] == [r.id for r in all_rules()]
    first, second, third = run["results"]
    assert first["level"] == "error" and second["level"] == "note"
    assert rules[first["ruleIndex"]]["id"] == "schema-invalid"
    location = first["locations"][0]["physicalLocation"]
    assert location["artifactLocation"] == {"uri": "apps/base/n8n.yaml",
                                            "uriBaseId": "%SRCROOT%"}
    assert location["region"] == {"startLine": 12}
    assert "region" not in second["locations"][0]["physicalLocation"]
    assert first["partialFingerprints"]["mercuryFinding/v1"] == FINDINGS[0].fingerprint
    assert third["ruleId"] == "flux-depends-on" and third["properties"]["subRule"] == "cycle"
    assert "locations" not in third


def test_sarif_rejects_what_the_schema_forbids() -> None:
    """The vendored schema is strict enough to catch a broken level."""
    doc = json.loads(sarif.render(FINDINGS, SUMMARY))
    doc["runs"][0]["results"][0]["level"] = "fatal"
    schema = json.loads((SCHEMAS / "sarif-schema-2.1.0.json").read_text())
    assert list(jsonschema.Draft4Validator(schema).iter_errors(doc))


def test_text_groups_by_layer_and_tenant_with_location_and_summary() -> None:
    out = text.render(FINDINGS, SUMMARY)
    assert "apps · tenant t1" in out and "apps · cluster-wide" in out
    assert "apps/base/n8n.yaml:12" in out
    assert out.rstrip().splitlines()[-1].startswith("FAIL: 1 error(s), 1 warning(s), 1 info")
    assert "\x1b[" not in out  # no colour codes unless asked


def test_text_nothing_to_check() -> None:
    out = text.render([], Summary(nothing_to_check=True, root="/x"))
    assert out.startswith("nothing to check")
