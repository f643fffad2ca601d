"""NetworkPolicy as data, and the Kubernetes rules for who may talk to whom.

Pure functions over parsed `networking.k8s.io/v1` NetworkPolicies and `Pod`s (see
pods.py). The semantics are the API's
(https://kubernetes.io/docs/concepts/services-networking/network-policies/):

- a pod is isolated for ingress (egress) when at least one policy of its namespace
  selects it and has that policy type; `policyTypes` defaults to Ingress, plus Egress
  when the policy has `egress` rules;
- an isolated pod admits a connection when any rule of any policy selecting it allows
  it (policies are additive, never subtractive);
- a connection happens only when the source's egress AND the destination's ingress
  allow it;
- a peer with `podSelector` alone means pods of the policy's namespace, with
  `namespaceSelector` alone every pod of the matching namespaces, with both the
  matching pods of the matching namespaces; an empty or missing `from`/`to` matches
  every peer, an empty or missing `ports` every port;
- a port is a number (with `endPort`, a range) or a name, resolved against the
  destination pod's container ports (for ingress and egress alike); `protocol`
  defaults to TCP.

Cilium is the CNI on AKS (`network_policy = "cilium"`); where the API leaves the
behaviour to the implementation, this follows Cilium:

- `ipBlock` never matches a pod or node of the cluster: Cilium's CIDR rules apply only
  to addresses outside the cluster ("world"), so `ipBlock: 0.0.0.0/0` does not open
  in-cluster traffic, and an ipBlock naming a pod CIDR or a Service ClusterIP (e.g.
  kube-dns' 10.0.0.10) admits nothing: Cilium applies policy after the Service is
  translated to a pod (https://docs.cilium.io/en/stable/security/policy/language/,
  "IP/CIDR based"). Calico and others do match pod IPs; a repository meant for them
  gets stricter answers here.
- pods with `hostNetwork: true` are not policy endpoints (node identity): every flow
  from or to them is treated as allowed.
- CiliumNetworkPolicy / CiliumClusterwideNetworkPolicy are not evaluated; they add
  allowances (and can deny), so findings become warnings when they exist (see
  rules/network.py).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from mercury.builder.model import K8sObject

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """A LabelSelector against labels: `{}` matches everything, matchLabels AND
    matchExpressions (In, NotIn, Exists, DoesNotExist); an unreadable selector nothing."""
    if selector is None:
        return False
    match_labels = selector.get("matchLabels") or {}
    if not isinstance(match_labels, dict):
        return False
    for key, value in match_labels.items():
        if labels.get(str(key)) != str(value):
            return False
    for expr in selector.get("matchExpressions") or []:
        if not isinstance(expr, dict):
            return False
        key, op = str(expr.get("key", "")), str(expr.get("operator", ""))
        values = {str(v) for v in expr.get("values") or []}
        present = key in labels
        if op == "In" and not (present and labels[key] in values):
            return False
        if op == "NotIn" and present and labels[key] in values:
            return False
        if op == "Exists" and not present:
            return False
        if op == "DoesNotExist" and present:
            return False
        if op not in {"In", "NotIn", "Exists", "DoesNotExist"}:
            return False
    return True


def selector_text(selector: Mapping[str, Any] | None) -> str:
    """`k=v,k2 in (a,b)`, or `{}` for match-all: how findings show a selector."""
    if not selector:
        return "{}"
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        if isinstance(expr, dict):
            values = ",".join(map(str, expr.get("values") or []))
            parts.append(f"{expr.get('key')} {expr.get('operator')}"
                         + (f" ({values})" if values else ""))
    return ",".join(parts) or "{}"


@dataclass(frozen=True)
class PortDecl:
    """A container port of a pod: what named policy ports resolve against."""

    number: int
    protocol: str = "TCP"
    name: str | None = None


@dataclass(frozen=True)
class PortRule:
    """One entry of a rule's `ports`: protocol plus a number, a range or a name (None: all)."""

    protocol: str = "TCP"
    port: int | str | None = None
    end_port: int | None = None

    def admits(self, number: int, protocol: str, dest_ports: tuple[PortDecl, ...]) -> bool:
        if self.protocol != protocol:
            return False
        if self.port is None:
            return True
        if isinstance(self.port, int):
            if self.end_port is not None:
                return self.port <= number <= self.end_port
            return self.port == number
        # a named port: the destination pod must declare it with this number and protocol
        return any(p.name == self.port and p.number == number and p.protocol == protocol
                   for p in dest_ports)


@dataclass(frozen=True)
class IpBlock:
    cidr: Network
    excepts: tuple[Network, ...] = ()

    def contains(self, address: Address) -> bool:
        return (address.version == self.cidr.version and address in self.cidr
                and not any(address in e for e in self.excepts if e.version == address.version))

    def text(self) -> str:
        out = str(self.cidr)
        return out + (f" except {', '.join(map(str, self.excepts))}" if self.excepts else "")


@dataclass(frozen=True)
class Peer:
    """One entry of `from`/`to`; None fields were not set."""

    pod_selector: Mapping[str, Any] | None = None
    namespace_selector: Mapping[str, Any] | None = None
    ip_block: IpBlock | None = None


@dataclass(frozen=True)
class PolicyRule:
    """One ingress or egress rule; None means the field was empty or missing (all)."""

    peers: tuple[Peer, ...] | None
    ports: tuple[PortRule, ...] | None

    def admits_port(self, number: int, protocol: str, dest_ports: tuple[PortDecl, ...]) -> bool:
        return self.ports is None or any(p.admits(number, protocol, dest_ports)
                                         for p in self.ports)


@dataclass
class Policy:
    """A parsed NetworkPolicy (unreadable parts read as admitting nothing)."""

    obj: K8sObject
    pod_selector: Mapping[str, Any] | None
    ingress: bool  # has policy type Ingress
    egress: bool
    ingress_rules: list[PolicyRule] = field(default_factory=list)
    egress_rules: list[PolicyRule] = field(default_factory=list)

    @property
    def namespace(self) -> str:
        return self.obj.namespace

    @property
    def label(self) -> str:
        return f"{self.obj.namespace}/{self.obj.name}"

    def selects(self, namespace: str, labels: Mapping[str, str]) -> bool:
        return namespace == self.namespace and selector_matches(self.pod_selector, labels)

    @property
    def specific(self) -> bool:
        """Selects some pods only (not a namespace-wide default policy)."""
        return bool(self.pod_selector)


def parse_policy(obj: K8sObject) -> Policy:
    spec = obj.spec
    selector = spec.get("podSelector")
    types = spec.get("policyTypes")
    if not isinstance(types, list):
        types = ["Ingress", "Egress"] if spec.get("egress") else ["Ingress"]
    return Policy(
        obj=obj,
        pod_selector=selector if isinstance(selector, dict) else {} if selector is None
        else None,
        ingress="Ingress" in types,
        egress="Egress" in types,
        ingress_rules=[_rule(r, "from") for r in spec.get("ingress") or [] if isinstance(r, dict)],
        egress_rules=[_rule(r, "to") for r in spec.get("egress") or [] if isinstance(r, dict)],
    )


def _rule(raw: dict[str, Any], peers_key: str) -> PolicyRule:
    peers = raw.get(peers_key)
    ports = raw.get("ports")
    return PolicyRule(
        peers=tuple(_peer(p) for p in peers if isinstance(p, dict)) if peers else None,
        ports=tuple(_port(p) for p in ports if isinstance(p, dict)) if ports else None,
    )


def _peer(raw: dict[str, Any]) -> Peer:
    block = raw.get("ipBlock")
    ip_block = None
    if isinstance(block, dict):
        try:
            ip_block = IpBlock(ipaddress.ip_network(str(block.get("cidr")), strict=False),
                               tuple(ipaddress.ip_network(str(e), strict=False)
                                     for e in block.get("except") or []))
        except ValueError:
            ip_block = IpBlock(ipaddress.ip_network("0.0.0.0/32"))  # unreadable: nothing
    pods, namespaces = raw.get("podSelector"), raw.get("namespaceSelector")
    return Peer(pods if isinstance(pods, dict) else None,
                namespaces if isinstance(namespaces, dict) else None, ip_block)


def _port(raw: dict[str, Any]) -> PortRule:
    port = raw.get("port")
    value: int | str | None = None
    if isinstance(port, bool):
        value = None
    elif isinstance(port, int):
        value = port
    elif isinstance(port, str):
        value = int(port) if port.isdigit() else port
    end = raw.get("endPort")
    return PortRule(str(raw.get("protocol") or "TCP"), value,
                    end if isinstance(end, int) and not isinstance(end, bool) else None)


def peer_text(peer: Peer) -> str:
    if peer.ip_block is not None:
        return f"ipBlock {peer.ip_block.text()}"
    parts = []
    if peer.namespace_selector is not None:
        parts.append(f"namespaces {selector_text(peer.namespace_selector)}")
    if peer.pod_selector is not None:
        parts.append(f"pods {selector_text(peer.pod_selector)}")
    return " and ".join(parts) or "anything"


def rules_of(policy: Policy, direction: str) -> Iterator[PolicyRule]:
    yield from policy.ingress_rules if direction == "ingress" else policy.egress_rules
