"""Network reachability rules: required flows the NetworkPolicies block, forbidden flows
they allow. The evaluation is mercury.verify.network's; these only word the findings.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from mercury.builder.model import K8sObject
from mercury.verify.context import VerifyContext
from mercury.verify.findings import Finding, Severity
from mercury.verify.rules.base import Rule

if TYPE_CHECKING:  # the network package imports rules.index: import it when rules run
    from mercury.verify.network import Flow
    from mercury.verify.network.evaluate import Side

FLOW_HINTS = {
    "ingress": "allow ingress from the ingress controller's namespace "
               "(namespaceSelector kubernetes.io/metadata.name: <ns>) on the pod's port",
    "acme": "allow ingress to pods acme.cert-manager.io/http01-solver=true on TCP 8089 from "
            "the ingress controller's namespace",
    "reference": "allow egress from the client and ingress to the Service's pods on the "
                 "target port (both ends need a rule)",
    "database": "allow egress from the client to the cnpg.io/cluster pods on TCP 5432, and "
                "ingress to them from the client's pods",
    "replication": "allow ingress and egress between the pods cnpg.io/cluster=<name> on "
                   "TCP 5432",
    "operator": "allow ingress from namespace cnpg-system on TCP 8000 and 5432 to the "
                "cnpg.io/cluster pods",
    "storage": "allow egress on TCP 443 to 0.0.0.0/0 except 169.254.169.254/32 and "
               "168.63.129.16/32",
    "dns": "allow egress to namespace kube-system pods k8s-app=kube-dns on UDP and TCP 53",
}
CILIUM_NOTE = (" (CiliumNetworkPolicies exist and are not evaluated: they may allow it)")


def _policies(side: Side) -> str:
    return ", ".join(f"NetworkPolicy {p.label}" for p in side.isolating)


def _anchor(flow: Flow, side: Side) -> K8sObject | None:
    """Where the fix goes: the most specific policy isolating that side, else the pod's
    owner, else the object that declares the flow."""
    specific = [p for p in side.isolating if p.specific] or side.isolating
    if specific:
        return specific[0].obj
    from mercury.verify.network.pods import Pod

    pod = flow.source if side.direction == "egress" else flow.dest
    return (pod.owner if isinstance(pod, Pod) else None) or flow.anchor


def _group(flows: Iterable[Flow]) -> Iterator[list[Flow]]:
    """Flows that differ only by port or protocol, together (one finding names them all)."""
    groups: dict[tuple[str, int, int, tuple[str, ...]], list[Flow]] = {}
    for flow in flows:
        assert flow.verdict is not None
        key = (flow.purpose, id(flow.source), id(flow.dest),
               tuple(s.direction for s in flow.verdict.blocked_by))
        groups.setdefault(key, []).append(flow)
    yield from groups.values()


def _ports(flows: list[Flow]) -> str:
    return " and ".join(dict.fromkeys(f"{f.protocol} {f.port}" for f in flows))


class NetworkFlowRule(Rule):
    """A flow the platform needs is blocked by the NetworkPolicies (source egress or
    destination ingress): Traefik -> n8n, n8n -> its database, replication, the CNPG
    operator -> instances, instances -> object storage, every pod -> DNS, Traefik -> the
    ACME solver, and every in-cluster host an env value names. Policies are evaluated
    as Kubernetes (and Cilium) do: selectors against the labels the namespaces and pods
    carry, ports by number and name, ipBlock with except.

    Bad: a default-deny policy for Ingress and Egress with no rule allowing egress to
    kube-system k8s-app=kube-dns on port 53: no pod of the namespace resolves a name.
    Good: an `allow-dns` policy (podSelector {}) with egress to namespace kube-system,
    pods k8s-app=kube-dns, UDP 53 and TCP 53.
    """

    id = "network-flow"
    summary = "a flow the platform needs is blocked by the NetworkPolicies"
    hint = "add a rule allowing the flow on both ends (source egress, destination ingress)"
    tags = ("network", "security")
    subs = frozenset(FLOW_HINTS)

    def check_all(self, ctx: VerifyContext) -> Iterator[Finding]:
        from mercury.verify.network import analyze

        analysis = analyze(ctx)
        for group in _group(analysis.broken):
            yield self._finding(group, analysis.cilium_policies)

    def _finding(self, group: list[Flow], cilium: bool) -> Finding:
        flow = group[0]
        assert flow.verdict is not None
        blocked = flow.verdict.blocked_by
        why = "; ".join(
            f"{side.direction} of {flow.source if side.direction == 'egress' else flow.dest} "
            f"is isolated by {_policies(side)} and no rule of them allows it"
            for side in blocked)
        message = (f"{flow.purpose} flow {flow.source} -> {flow.dest} on {_ports(group)} "
                   f"({flow.via}) is blocked: {why}" + (CILIUM_NOTE if cilium else ""))
        severity = Severity.WARNING if cilium or all(
            f.purpose == "dns" and f.protocol == "TCP" for f in group) else Severity.ERROR
        return self.finding(_anchor(flow, blocked[0]), message, sub=flow.purpose,
                            hint=FLOW_HINTS[flow.purpose], severity=severity)


ISOLATION_HINTS = {
    "tenant": "admit only the namespaces a tenant needs (kubernetes.io/metadata.name: "
              "traefik, cnpg-system) and keep a default-deny policy for Ingress and Egress",
    "imds": "list 169.254.169.254/32 in the ipBlock's except (and keep a default-deny "
            "egress policy)",
    "wireserver": "list 168.63.129.16/32 in the ipBlock's except (and keep a default-deny "
                  "egress policy)",
}


class NetworkIsolationRule(Rule):
    """A flow that must be impossible is allowed by the NetworkPolicies: a tenant's pod
    can reach another tenant's pods, or the Azure instance metadata endpoint
    (169.254.169.254, tokens of the node's managed identities) or wireserver
    (168.63.129.16). n8n runs customer-written code, so what its pods can reach, the
    customer can. Tenants are the namespaces labelled `mercury.io/tenant`.

    Bad: egress to `ipBlock: {cidr: 0.0.0.0/0}` on port 80 without `except`, or an
    ingress rule from `namespaceSelector: {}`.
    Good: `except: [169.254.169.254/32, 168.63.129.16/32]`, and ingress only from
    `kubernetes.io/metadata.name: traefik`.
    """

    id = "network-isolation"
    summary = "a forbidden flow (tenant to tenant, tenant to IMDS/wireserver) is allowed"
    hint = "narrow the NetworkPolicy that allows it"
    tags = ("network", "security", "tenancy")
    subs = frozenset(ISOLATION_HINTS)

    def check_all(self, ctx: VerifyContext) -> Iterator[Finding]:
        from mercury.verify.network import analyze

        analysis = analyze(ctx)
        for group in _group(analysis.forbidden):
            flow = group[0]
            assert flow.verdict is not None
            side = flow.verdict.ingress if flow.purpose == "tenant" else flow.verdict.egress
            other = flow.verdict.egress if flow.purpose == "tenant" else None
            message = (f"{flow.source} (tenant {flow.source.namespace}) can reach "  # type: ignore[union-attr]
                       f"{flow.dest} on {_ports(group)}: {self._how(flow, side)}")
            if other is not None:
                message += f"; {self._how(flow, other)}"
            anchor = side.allowing[0].obj if side.allowing else _anchor(flow, side)
            yield self.finding(anchor, message, sub=flow.purpose,
                               hint=ISOLATION_HINTS[flow.purpose])

    @staticmethod
    def _how(flow: Flow, side: Side) -> str:
        end = flow.source if side.direction == "egress" else flow.dest
        if side.open:
            return f"no NetworkPolicy isolates {side.direction} of {end}"
        allowing = ", ".join(f"NetworkPolicy {p.label}" for p in side.allowing)
        return f"{side.direction} of {end} allowed by {allowing}"
