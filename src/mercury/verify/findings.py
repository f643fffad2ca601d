"""Findings: what a rule reports. A value, not an exception; no side effects."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        return {"error": 0, "warning": 1, "info": 2}[self.value]


@dataclass(frozen=True)
class Finding:
    rule: str  # rule id, or "rule[sub]"
    severity: Severity
    object: str  # ObjRef string, "" when the finding is about a file
    message: str
    hint: str = ""
    file: str | None = None  # repo-relative
    line: int | None = None
    kustomization: str | None = None  # the Flux Kustomization (layer) it belongs to
    tenant: str | None = None  # namespace of a tenant, when known

    @property
    def fingerprint(self) -> str:
        """Stable across line moves: rule + object + message (SARIF partialFingerprints)."""
        raw = f"{self.rule}\x00{self.object}\x00{self.message}".encode()
        return hashlib.sha256(raw).hexdigest()[:32]

    def sort_key(self) -> tuple[str, int, str, str]:
        return (self.file or "", self.line or 0, self.rule, self.object)

    def as_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "severity": self.severity.value,
            "object": self.object,
            "file": self.file,
            "line": self.line,
            "message": self.message,
            "hint": self.hint,
            "kustomization": self.kustomization,
        }
