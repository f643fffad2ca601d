"""The rule unit: an id, a severity, a summary, a hint, and one or two hooks.

A rule overrides `check_object` (called once per built object) and/or `check_all`
(called once with the whole context, for cross-object rules). Both yield findings
through `self.finding(...)`, which fills in rule id, severity, file and line.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import ClassVar

from mercury.builder.model import K8sObject
from mercury.verify.context import VerifyContext
from mercury.verify.findings import Finding, Severity


class Rule:
    id: ClassVar[str]  # stable, kebab-case
    summary: ClassVar[str]  # one line: what it catches
    severity: ClassVar[Severity] = Severity.ERROR
    hint: ClassVar[str] = ""  # default fix hint
    tags: ClassVar[tuple[str, ...]] = ()
    # kinds `check_object` looks at (empty: every kind); the engine dispatches by kind
    kinds: ClassVar[frozenset[str]] = frozenset()
    # sub-ids this rule reports as `id[sub]`; `--skip id[sub]` accepts only these
    subs: ClassVar[frozenset[str]] = frozenset()

    def check_object(self, obj: K8sObject, ctx: VerifyContext) -> Iterable[Finding]:
        return ()

    def check_all(self, ctx: VerifyContext) -> Iterable[Finding]:
        return ()

    def finding(
        self,
        obj: K8sObject | None,
        message: str,
        *,
        hint: str | None = None,
        sub: str | None = None,
        severity: Severity | None = None,
        file: str | None = None,
        line: int | None = None,
    ) -> Finding:
        """A finding of this rule about `obj` (or about a file when obj is None)."""
        if sub is not None and self.subs and sub not in self.subs:
            raise ValueError(f"rule {self.id} reports undeclared sub-id {sub!r}")
        return Finding(
            rule=f"{self.id}[{sub}]" if sub else self.id,
            severity=severity or self.severity,
            object=str(obj.ref) if obj is not None else "",
            message=message,
            hint=self.hint if hint is None else hint,
            file=file or (obj.origin.file if obj is not None else None),
            line=line or (obj.origin.line if obj is not None else None),
            kustomization=obj.kustomization if obj is not None else None,
            tenant=obj.namespace or None if obj is not None else None,
        )


def pod_specs(obj: K8sObject) -> Iterator[dict[str, object]]:
    """The pod spec(s) inside a workload object (Deployment, StatefulSet, Job, CronJob, Pod)."""
    spec = obj.spec
    if obj.kind == "Pod":
        yield spec
    elif obj.kind == "CronJob":
        pod = spec.get("jobTemplate", {}).get("spec", {}).get("template", {}).get("spec")
        if isinstance(pod, dict):
            yield pod
    elif obj.kind in {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}:
        pod = spec.get("template", {}).get("spec")
        if isinstance(pod, dict):
            yield pod
