"""The API server's verdicts as findings: what a real kube-apiserver refuses or warns about.

Both rules read `ctx.apiserver.verdicts(ctx)` (verify/apiserver_check.py, computed
once); without a check (`--apiserver off`, binaries missing, unit tests over a bare
context) they report nothing.
"""

from __future__ import annotations

from collections.abc import Iterator

from mercury.builder.model import K8sObject
from mercury.verify.context import VerifyContext
from mercury.verify.findings import Finding, Severity
from mercury.verify.rules.base import Rule

_REJECTED_HINTS = {
    "invalid": "fix the field the API server names (`kubectl apply --dry-run=server` "
               "shows the same): Flux would fail the whole Kustomization on it",
    "cel": "the CRD's x-kubernetes-validations rule refuses this combination of fields; "
           "see the CRD's documentation for what it requires",
    "pod-security": "make the pod template meet the namespace's "
                    "pod-security.kubernetes.io/enforce level (runAsNonRoot, seccompProfile "
                    "RuntimeDefault, capabilities drop ALL, allowPrivilegeEscalation false, "
                    "no privileged/host* settings)",
    "forbidden": "an admission plugin refuses the object; the message says which and why",
    "not-found": "create what it needs (usually its namespace) in this or an earlier layer",
    "conflict": "the object collides with another one of the same name",
    "other": "the API server failed on the object; rerun, then report it if it stays",
}
_WARNING_HINTS = {
    "pod-security": "the namespace's pod-security.kubernetes.io/warn level is not met: "
                    "Pods would be refused once `enforce` is raised to it",
    "deprecated": "move to the API or field the warning names before the upgrade "
                  "that removes it",
    "unknown-field": "the server drops this field: a typo or a field of another version",
    "duplicate-field": "the same field appears twice; only the last one counts",
    "other": "read the server's warning; it is also what `kubectl apply` prints",
    "not-served": "install its CRD (pass --crds DIR with the CRD YAML, or ship the CRD "
                  "in an earlier layer) so the API server can judge it",
}


def _enabled(ctx: VerifyContext) -> bool:
    return ctx.apiserver is not None and ctx.apiserver.enabled


class ApiServerRejected(Rule):
    """A built object the real API server refuses on a server-side dry-run apply: name,
    label or annotation syntax and length, requests above limits, duplicate ports, a
    CRD's CEL rule, Pod Security admission for the namespace's enforced level, and
    whatever else kube-apiserver enforces. The message is the server's own cause.

    Bad:  `resources: {requests: {cpu: "2"}, limits: {cpu: "1"}}`.
    Good: requests at or below limits.
    """

    id = "apiserver-rejected"
    summary = "the real API server refuses the object on a dry-run apply (validation, CEL, PSA)"
    severity = Severity.ERROR
    hint = _REJECTED_HINTS["invalid"]
    tags = ("apiserver",)
    subs = frozenset(_REJECTED_HINTS)

    def check_all(self, ctx: VerifyContext) -> Iterator[Finding]:
        if not _enabled(ctx):
            return
        assert ctx.apiserver is not None
        for obj, verdict in ctx.apiserver.verdicts(ctx):
            if verdict.outcome == "rejected":
                yield self.finding(obj, verdict.message, sub=verdict.sub,
                                   hint=_REJECTED_HINTS[verdict.sub])


class ApiServerWarning(Rule):
    """A built object the API server accepts with a warning (Pod Security `warn` level,
    deprecated APIs or annotations, dropped unknown fields), or cannot judge because it
    does not serve its kind (info, once per kind).

    Bad:  a Deployment whose pods break the namespace's `warn: restricted` level.
    Good: pods that meet it.
    """

    id = "apiserver-warning"
    summary = "the API server accepts the object with a warning, or does not serve its kind"
    severity = Severity.WARNING
    hint = _WARNING_HINTS["other"]
    tags = ("apiserver",)
    subs = frozenset(_WARNING_HINTS)

    def check_all(self, ctx: VerifyContext) -> Iterator[Finding]:
        if not _enabled(ctx):
            return
        assert ctx.apiserver is not None
        unserved: dict[tuple[str, str], list[K8sObject]] = {}
        for obj, verdict in ctx.apiserver.verdicts(ctx):
            if verdict.outcome == "warning":
                yield self.finding(obj, verdict.message, sub=verdict.sub,
                                   hint=_WARNING_HINTS[verdict.sub])
            elif verdict.outcome == "unchecked":
                unserved.setdefault((obj.api_version, obj.kind), []).append(obj)
        for (api_version, kind), objects in unserved.items():
            others = f" and {len(objects) - 1} more object(s) of it" if len(objects) > 1 else ""
            yield self.finding(
                objects[0], f"{kind} ({api_version}) is not served by the API server: "
                f"this object{others} went unchecked", sub="not-served",
                severity=Severity.INFO, hint=_WARNING_HINTS["not-served"])


RULES: list[Rule] = [ApiServerRejected(), ApiServerWarning()]
