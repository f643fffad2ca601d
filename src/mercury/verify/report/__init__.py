"""Reporters: one interface, `render(findings, summary) -> str`, one module per format."""

from __future__ import annotations

from collections.abc import Callable

from mercury.verify.engine import Summary
from mercury.verify.findings import Finding
from mercury.verify.report import json, sarif, text

Reporter = Callable[[list[Finding], Summary], str]

REPORTERS: dict[str, Reporter] = {"text": text.render, "json": json.render, "sarif": sarif.render}

__all__ = ["REPORTERS", "Reporter"]
