"""The command contract's JSON: `{"findings": [...], "summary": {...}}` (DESIGN.md)."""

from __future__ import annotations

import json

from mercury.verify.engine import Summary
from mercury.verify.findings import Finding


def render(findings: list[Finding], summary: Summary) -> str:
    doc = {
        "findings": [{**f.as_json(), "tenant": f.tenant} for f in findings],
        "summary": summary.as_json(),
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
