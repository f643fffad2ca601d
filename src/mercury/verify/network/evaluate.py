"""Whether one connection (source, destination, port, protocol) is allowed, and why.

`Network` holds the policies and pods indexed by namespace (built once per run), so a
verdict costs the policies of two namespaces, never the whole fleet.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from mercury.verify.network.pods import Pod
from mercury.verify.network.policy import (
    Address,
    IpBlock,
    Peer,
    Policy,
    PortDecl,
    parse_policy,
    rules_of,
    selector_matches,
)


@dataclass(frozen=True)
class External:
    """An address outside the cluster (the internet, IMDS, the wireserver)."""

    address: Address
    label: str
    # any public address (object storage, web APIs): allowed when some ipBlock admits
    # a public address at all, since the real IPs are not stable enough to list
    any_public: bool = False

    def __str__(self) -> str:
        return self.label


Endpoint = Pod | External

# not "the internet": RFC 1918, CGNAT, loopback, link-local (IMDS), Azure's wireserver
_NOT_PUBLIC = [ipaddress.ip_network(n) for n in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "127.0.0.0/8",
    "169.254.0.0/16", "168.63.129.16/32", "0.0.0.0/8", "224.0.0.0/3")]


@dataclass
class Side:
    """One half of a verdict: the source's egress or the destination's ingress."""

    direction: str  # "egress" or "ingress"
    isolating: list[Policy] = field(default_factory=list)  # selecting policies of this type
    allowing: list[Policy] = field(default_factory=list)  # those with a rule that admits

    @property
    def allowed(self) -> bool:
        return not self.isolating or bool(self.allowing)

    @property
    def open(self) -> bool:
        """Not isolated at all: no policy of this direction selects the pod."""
        return not self.isolating


@dataclass
class Verdict:
    egress: Side
    ingress: Side

    @property
    def allowed(self) -> bool:
        return self.egress.allowed and self.ingress.allowed

    @property
    def policies(self) -> list[str]:
        seen: dict[str, None] = {}
        for side in (self.egress, self.ingress):
            for p in side.isolating:
                seen.setdefault(p.label, None)
        return list(seen)

    @property
    def blocked_by(self) -> list[Side]:
        return [s for s in (self.egress, self.ingress) if not s.allowed]


class Network:
    """Policies and pods by namespace, plus namespace labels."""

    def __init__(self, policies: Iterable[Policy], pods: Iterable[Pod],
                 namespaces: Mapping[str, Mapping[str, str]]) -> None:
        self.policies: dict[str, list[Policy]] = {}
        for policy in policies:
            self.policies.setdefault(policy.namespace, []).append(policy)
        self.pods: dict[str, list[Pod]] = {}
        for pod in pods:
            self.pods.setdefault(pod.namespace, []).append(pod)
        self.namespaces = {str(k): dict(v) for k, v in namespaces.items()}
        for ns in [*self.policies, *self.pods]:
            self.namespaces.setdefault(ns, {})
        for name, labels in self.namespaces.items():
            labels.setdefault("kubernetes.io/metadata.name", name)  # set by the API server

    @classmethod
    def of(cls, policy_objects: Iterable[object], pods: Iterable[Pod],
           namespaces: Mapping[str, Mapping[str, str]]) -> Network:
        from mercury.builder.model import K8sObject

        return cls([parse_policy(o) for o in policy_objects if isinstance(o, K8sObject)],
                   pods, namespaces)

    def ns_labels(self, namespace: str) -> dict[str, str]:
        labels = self.namespaces.get(namespace)
        return labels if labels is not None else {"kubernetes.io/metadata.name": namespace}

    def selecting(self, pod: Pod, direction: str) -> list[Policy]:
        return [p for p in self.policies.get(pod.namespace, ())
                if (p.ingress if direction == "ingress" else p.egress)
                and p.selects(pod.namespace, pod.labels)]

    def peer_matches(self, policy: Policy, peer: Peer, other: Endpoint) -> bool:
        """Whether `other` (the far end of a rule of `policy`) is one of `peer`."""
        if isinstance(other, External):
            if peer.ip_block is None:
                return False
            if other.any_public:
                return _admits_public(peer)
            return peer.ip_block.contains(other.address)
        if peer.ip_block is not None:
            return False  # Cilium: CIDR rules never select cluster endpoints
        if peer.namespace_selector is None:
            in_scope = other.namespace == policy.namespace
        else:
            in_scope = selector_matches(peer.namespace_selector, self.ns_labels(other.namespace))
        if not in_scope:
            return False
        return peer.pod_selector is None or selector_matches(peer.pod_selector, other.labels)

    def side(self, pod: Pod, direction: str, other: Endpoint, port: int, protocol: str,
             dest_ports: tuple[PortDecl, ...]) -> Side:
        side = Side(direction)
        if pod.host_network:
            return side
        side.isolating = self.selecting(pod, direction)
        for policy in side.isolating:
            for rule in rules_of(policy, direction):
                if not rule.admits_port(port, protocol, dest_ports):
                    continue
                if rule.peers is None or any(self.peer_matches(policy, peer, other)
                                             for peer in rule.peers):
                    side.allowing.append(policy)
                    break
        return side

    def verdict(self, source: Endpoint, dest: Endpoint, port: int,
                protocol: str = "TCP") -> Verdict:
        dest_ports = dest.ports if isinstance(dest, Pod) else ()
        egress = (self.side(source, "egress", dest, port, protocol, dest_ports)
                  if isinstance(source, Pod) else Side("egress"))
        ingress = (self.side(dest, "ingress", source, port, protocol, dest_ports)
                   if isinstance(dest, Pod) else Side("ingress"))
        return Verdict(egress, ingress)


def _admits_public(peer: Peer) -> bool:
    assert peer.ip_block is not None
    return _leaves_public(peer.ip_block)


@functools.lru_cache(maxsize=1024)
def _leaves_public(block: IpBlock) -> bool:
    """Whether the ipBlock leaves some public address (cidr minus excepts minus the
    private, link-local and Azure platform ranges); cached: every tenant has the same."""
    if block.cidr.version != 4:
        return False
    remaining = [block.cidr]
    for hole in [*block.excepts, *_NOT_PUBLIC]:
        if hole.version != 4:
            continue
        nxt = []
        for net in remaining:
            if not net.overlaps(hole):
                nxt.append(net)
            elif not hole.supernet_of(net):
                nxt.extend(net.address_exclude(hole))
        remaining = nxt
    return bool(remaining)
