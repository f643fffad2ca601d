"""Flows that must be impossible: tenant -> another tenant, tenant -> IMDS / wireserver.

Tenants are the namespaces labelled `mercury.io/tenant` (the platform's overlays add
it); a repository without them has no tenant checks.

Tenant-to-tenant isolation is decided from the policies' structure, not by trying all
N^2 pairs: for each tenant, which foreign namespaces could its egress reach and its
ingress admit? A peer without `namespaceSelector` stays in its own namespace, an
ipBlock never selects pods (Cilium), so only `namespaceSelector` peers, empty peers
lists and pods with no policy of a direction open a tenant to others. Those selectors
are resolved through an index of the tenants' labels (the smallest `matchLabels`
bucket first, `kubernetes.io/metadata.name` is one namespace). A pair is then checked
pod by pod only when both ends could connect. The cost is O(tenants x policies) plus
the candidate pairs; only when many tenants are open on both sides to everyone does it
approach N^2, and then it stops at each destination's first reachable source.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from mercury.verify.context import VerifyContext
from mercury.verify.network.evaluate import External, Network
from mercury.verify.network.flows import Flow
from mercury.verify.network.pods import Pod
from mercury.verify.network.policy import Peer, Policy, rules_of, selector_matches

TENANT_LABEL = "mercury.io/tenant"
IMDS = External(ipaddress.ip_address("169.254.169.254"),
                "Azure instance metadata endpoint 169.254.169.254")
WIRESERVER = External(ipaddress.ip_address("168.63.129.16"), "Azure wireserver 168.63.129.16")
# IMDS answers on 80; the wireserver on 80 and 32526 (the guest agent's ports)
NODE_ENDPOINTS = ((IMDS, (80,)), (WIRESERVER, (80, 32526)))
PROBE_PORT = 1  # stands for "any port" when a rule lists none


def tenant_namespaces(ctx: VerifyContext) -> list[str]:
    return sorted(ns.name for ns in ctx.of_kind("Namespace") if TENANT_LABEL in ns.labels)


@dataclass
class _Scope:
    """Which foreign namespaces one tenant's ingress admits (or egress reaches)."""

    everyone: bool = False
    selectors: list[tuple[Policy, Peer]] = field(default_factory=list)


def forbidden_flows(net: Network, tenants: list[str]) -> tuple[list[Flow], int]:
    """The forbidden flows that are possible, and how many were checked."""
    found: list[Flow] = []
    checked = 0
    for ns in tenants:
        for pod in net.pods.get(ns, ()):
            if pod.role == "acme-solver":
                continue  # cert-manager's own image, answering one token: no customer code
            for target, ports in NODE_ENDPOINTS:
                for port in ports:
                    checked += 1
                    verdict = net.verdict(pod, target, port, "TCP")
                    if verdict.allowed:
                        purpose = "imds" if target is IMDS else "wireserver"
                        found.append(Flow(purpose, pod, target, port, "TCP",
                                          "tenant pods run customer code", pod.owner,
                                          required=False, verdict=verdict))
    pairs, checked_pairs = _cross_tenant(net, tenants)
    for src, dest, port, proto in pairs:
        found.append(Flow("tenant", src, dest, port, proto,
                          f"tenant {src.namespace} must not reach tenant {dest.namespace}",
                          dest.owner, required=False,
                          verdict=net.verdict(src, dest, port, proto)))
    return found, checked + checked_pairs


def _scope(net: Network, ns: str, direction: str) -> _Scope:
    scope = _Scope()
    pods = net.pods.get(ns, ())
    for pod in pods:
        if pod.host_network:
            continue
        if not net.selecting(pod, direction):
            scope.everyone = True
            return scope
    for policy in net.policies.get(ns, ()):
        if not (policy.ingress if direction == "ingress" else policy.egress):
            continue
        for rule in rules_of(policy, direction):
            if rule.peers is None:
                scope.everyone = True
                return scope
            for peer in rule.peers:
                if peer.ip_block is None and peer.namespace_selector is not None:
                    scope.selectors.append((policy, peer))
    return scope


class _Index:
    """Tenant namespaces by label (key, value), to resolve namespaceSelectors cheaply."""

    def __init__(self, net: Network, tenants: list[str]) -> None:
        self.net = net
        self.tenants = tenants
        self.by_label: dict[tuple[str, str], list[str]] = {}
        for ns in tenants:
            for key, value in net.ns_labels(ns).items():
                self.by_label.setdefault((key, value), []).append(ns)

    def matching(self, peer: Peer) -> Iterator[str]:
        selector = peer.namespace_selector or {}
        labels = selector.get("matchLabels") or {}
        if isinstance(labels, dict) and labels:
            buckets = [self.by_label.get((str(k), str(v)), []) for k, v in labels.items()]
            smallest: list[str] = min(buckets, key=len)
            candidates: Iterable[str] = smallest
        else:
            candidates = self.tenants
        for ns in candidates:
            if selector_matches(selector, self.net.ns_labels(ns)):
                yield ns


def _cross_tenant(net: Network, tenants: list[str]) -> tuple[list[tuple[Pod, Pod, int, str]],
                                                            int]:
    index = _Index(net, tenants)
    ingress = {ns: _scope(net, ns, "ingress") for ns in tenants}
    egress = {ns: _scope(net, ns, "egress") for ns in tenants}
    egress_everyone = [ns for ns in tenants if egress[ns].everyone]
    # destination -> sources whose egress selectors name it
    egress_to: dict[str, list[str]] = {}
    for src, scope in egress.items():
        for _, peer in scope.selectors:
            for dest in index.matching(peer):
                if dest != src:
                    egress_to.setdefault(dest, []).append(src)
    out: list[tuple[Pod, Pod, int, str]] = []
    checked = 0
    for dest in tenants:
        scope = ingress[dest]
        if scope.everyone:
            candidates: Iterable[str] = _chain(egress_everyone, egress_to.get(dest, []))
        else:
            admitted = {ns for _, peer in scope.selectors for ns in index.matching(peer)}
            reaching = set(egress_everyone) | set(egress_to.get(dest, []))
            candidates = sorted(admitted & reaching)
        for src in candidates:
            if src == dest:
                continue
            checked += 1
            hit = _pod_pair(net, src, dest)
            if hit is not None:
                out.append(hit)
                break  # one finding per destination tenant
    return out, checked


def _chain(*lists: list[str]) -> Iterator[str]:
    seen: set[str] = set()
    for items in lists:
        for item in items:
            if item not in seen:
                seen.add(item)
                yield item


def _pod_pair(net: Network, src_ns: str, dest_ns: str) -> tuple[Pod, Pod, int, str] | None:
    """A (source pod, destination pod, port, protocol) the policies let through."""
    for dest in net.pods.get(dest_ns, ()):
        ports = {(p.number, p.protocol) for p in dest.ports}
        for policy in net.selecting(dest, "ingress"):
            for rule in policy.ingress_rules:
                for rule_port in rule.ports or ():
                    if isinstance(rule_port.port, int):
                        ports.add((rule_port.port, rule_port.protocol))
        ports.add((PROBE_PORT, "TCP"))
        for src in net.pods.get(src_ns, ()):
            for number, proto in sorted(ports):
                if net.verdict(src, dest, number, proto).allowed:
                    return src, dest, number, proto
    return None
