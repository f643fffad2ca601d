"""SARIF 2.1.0 for code-scanning UIs: rule metadata from the registry, relative URIs.

Locations are repo-relative under `uriBaseId` %SRCROOT%, so the file is the same on
every machine; `partialFingerprints` come from `Finding.fingerprint` (no line), so a
finding keeps its identity when lines move.
"""

from __future__ import annotations

import json
from typing import Any

from mercury import __version__
from mercury.verify.engine import Summary, all_rules
from mercury.verify.findings import Finding, Severity
from mercury.verify.rules.base import Rule

SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
LEVELS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}


def render(findings: list[Finding], summary: Summary, rules: list[Rule] | None = None) -> str:
    registry = all_rules() if rules is None else rules
    index = {rule.id: i for i, rule in enumerate(registry)}
    run: dict[str, Any] = {
        "tool": {"driver": {
            "name": "mercury",
            "version": __version__,
            "rules": [_rule(rule) for rule in registry],
        }},
        "originalUriBaseIds": {"%SRCROOT%": {"description": {
            "text": "the root of the verified repository"}}},
        "results": [_result(f, index) for f in findings],
        "invocations": [{"executionSuccessful": True,
                         "exitCode": summary.exit_code}],
    }
    doc = {"$schema": SCHEMA, "version": "2.1.0", "runs": [run]}
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def _rule(rule: Rule) -> dict[str, Any]:
    doc = (rule.__doc__ or rule.summary).strip()
    out: dict[str, Any] = {
        "id": rule.id,
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": " ".join(doc.split())},
        "help": {"text": rule.hint or rule.summary},
        "defaultConfiguration": {"level": LEVELS[rule.severity]},
    }
    if rule.tags:
        out["properties"] = {"tags": list(rule.tags)}
    return out


def _result(finding: Finding, index: dict[str, int]) -> dict[str, Any]:
    base, _, sub = finding.rule.partition("[")
    result: dict[str, Any] = {
        "ruleId": base,
        "level": LEVELS[finding.severity],
        "message": {"text": _message(finding)},
        "partialFingerprints": {"mercuryFinding/v1": finding.fingerprint},
    }
    if base in index:
        result["ruleIndex"] = index[base]
    location: dict[str, Any] = {}
    if finding.file:
        physical: dict[str, Any] = {"artifactLocation": {
            "uri": finding.file.removeprefix("./"),
            "uriBaseId": "%SRCROOT%"}}
        if finding.line and finding.line > 0:
            physical["region"] = {"startLine": finding.line}
        location["physicalLocation"] = physical
    if finding.object:
        location["logicalLocations"] = [{"fullyQualifiedName": finding.object,
                                         "kind": "resource"}]
    if location:
        result["locations"] = [location]
    props = {k: v for k, v in (("subRule", sub.rstrip("]")),
                                ("kustomization", finding.kustomization),
                                ("tenant", finding.tenant)) if v}
    if props:
        result["properties"] = props
    return result


def _message(finding: Finding) -> str:
    where = f"{finding.object}: " if finding.object else ""
    hint = f" Hint: {finding.hint}" if finding.hint else ""
    return f"{where}{finding.message}.{hint}" if not finding.message.endswith(".") \
        else f"{where}{finding.message}{hint}"
