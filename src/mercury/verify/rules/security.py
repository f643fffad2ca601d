"""Security posture rules: Pod Security `restricted` namespaces get compliant pods, tenant
namespaces have a default-deny NetworkPolicy, images are pinned.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from mercury.builder.model import K8sObject
from mercury.verify.context import VerifyContext
from mercury.verify.findings import Finding, Severity
from mercury.verify.rules.base import Rule
from mercury.verify.rules.index import containers, dig, pod_templates

ENFORCE = "pod-security.kubernetes.io/enforce"
SECCOMP_OK = ("RuntimeDefault", "Localhost")


def restricted_violations(pod: dict[str, Any]) -> list[str]:
    """What the Pod Security `restricted` profile rejects in this pod spec (the basics)."""
    out: list[str] = []
    psc = pod.get("securityContext") or {}
    out += [f"{h}: true" for h in ("hostNetwork", "hostPID", "hostIPC") if pod.get(h) is True]
    out += [f"hostPath volume {v.get('name')}" for v in pod.get("volumes") or []
            if isinstance(v, dict) and v.get("hostPath")]
    for c in containers(pod):
        sc = c.get("securityContext") or {}
        name = c.get("name")
        if sc.get("privileged") is True:
            out.append(f"container {name}: privileged")
        if sc.get("allowPrivilegeEscalation") is not False:
            out.append(f"container {name}: allowPrivilegeEscalation is not false")
        caps = sc.get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or []):
            out.append(f"container {name}: capabilities.drop lacks ALL")
        extra = [a for a in caps.get("add") or [] if a != "NET_BIND_SERVICE"]
        if extra:
            out.append(f"container {name}: adds capabilities {', '.join(map(str, extra))}")
        non_root = sc.get("runAsNonRoot", psc.get("runAsNonRoot"))
        if non_root is not True:
            out.append(f"container {name}: runAsNonRoot is not true")
        if sc.get("runAsUser", psc.get("runAsUser")) == 0:
            out.append(f"container {name}: runAsUser 0")
        seccomp = dig(sc, "seccompProfile", "type") or dig(psc, "seccompProfile", "type")
        if seccomp not in SECCOMP_OK:
            out.append(f"container {name}: seccompProfile is not RuntimeDefault/Localhost")
    return out


class PodSecurityRestrictedRule(Rule):
    """A workload in a namespace labelled `pod-security.kubernetes.io/enforce: restricted`
    has a pod spec that profile rejects: the Deployment is applied, but the API server
    refuses every pod it tries to create.
    """

    id = "pod-security-restricted"
    summary = "pod spec violates the namespace's enforced Pod Security 'restricted' profile"
    hint = ("set runAsNonRoot: true, seccompProfile RuntimeDefault, and per container "
            "allowPrivilegeEscalation: false and capabilities.drop: [ALL]")
    tags = ("security", "pod-security")

    def check_all(self, ctx: VerifyContext) -> Iterable[Finding]:
        restricted = {ns.name for ns in ctx.of_kind("Namespace")
                      if ns.labels.get(ENFORCE) == "restricted"}
        for tpl in pod_templates(ctx):
            owner = tpl.owner
            if owner.namespace not in restricted:
                continue
            problems = restricted_violations(tpl.spec)
            if problems:
                yield self.finding(owner, f"{owner.kind} {owner.namespace}/{owner.name} violates "
                                          f"Pod Security restricted (namespace {owner.namespace}):"
                                          f" {'; '.join(problems)}")


def _is_default_deny(policy: K8sObject) -> bool:
    spec = policy.spec
    selector = spec.get("podSelector")
    if not isinstance(selector, dict) or any(selector.values()):
        return False  # selects only some pods
    types = spec.get("policyTypes") or ["Ingress"]
    return "Ingress" in types and not spec.get("ingress")


class NetworkDefaultDenyRule(Rule):
    """A namespace with workloads has no default-deny ingress NetworkPolicy: any pod of any
    tenant can reach its n8n and its database. Skipped when Cilium policies are used.
    """

    id = "network-default-deny"
    summary = "namespace with workloads has no default-deny NetworkPolicy"
    severity = Severity.INFO
    hint = "add a NetworkPolicy with podSelector: {} and policyTypes [Ingress, Egress]"
    tags = ("security", "tenancy")

    def check_all(self, ctx: VerifyContext) -> Iterable[Finding]:
        if ctx.of_kind("CiliumNetworkPolicy", "CiliumClusterwideNetworkPolicy"):
            return
        denied = {p.namespace for p in ctx.of_kind("NetworkPolicy") if _is_default_deny(p)}
        declared = {ns.name: ns for ns in ctx.of_kind("Namespace")}
        with_pods = {t.owner.namespace for t in pod_templates(ctx)}
        for name in sorted(with_pods & set(declared) - denied):
            yield self.finding(declared[name], f"Namespace {name} runs workloads but has no "
                                               "default-deny ingress NetworkPolicy")


class ImageTagRule(Rule):
    """A container image has no tag or the tag `latest`: every node pull may run a different
    version, and a rollback cannot name the version that worked.
    """

    id = "image-tag"
    summary = "container image without a tag or with :latest"
    severity = Severity.WARNING
    hint = "pin the image to a version tag (and optionally a @sha256 digest)"
    tags = ("workloads",)

    def check_all(self, ctx: VerifyContext) -> Iterable[Finding]:
        for tpl in pod_templates(ctx):
            for c in containers(tpl.spec):
                image = str(c.get("image") or "")
                if not image or "@sha256:" in image:
                    continue
                last = image.rsplit("/", 1)[-1]
                tag = last.partition(":")[2]
                if tag in ("", "latest"):
                    owner = tpl.owner
                    yield self.finding(owner, f"{owner.kind} {owner.namespace}/{owner.name} "
                                              f"container {c.get('name')} runs image {image!r} "
                                              f"({'no tag' if not tag else 'tag latest'})")
