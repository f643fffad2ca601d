"""The NetworkPolicy evaluator's semantics, one case each (the rule fixtures under
tests/rules/network-* cover the platform's flows end to end)."""

from __future__ import annotations

import ipaddress

from mercury.builder.model import K8sObject
from mercury.verify.network.evaluate import External, Network
from mercury.verify.network.hosts import parse_host
from mercury.verify.network.pods import Pod
from mercury.verify.network.policy import PortDecl, selector_matches

WEB = Pod("a", {"app": "web"}, (PortDecl(8080, "TCP", "http"),), "web", "workload")
CLIENT = Pod("b", {"app": "client"}, (), "client", "workload")


def _net(*specs: dict[str, object], pods: tuple[Pod, ...] = (WEB, CLIENT)) -> Network:
    objs = [K8sObject({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                       "metadata": {"name": f"p{i}", "namespace": spec.pop("ns", "a")},
                       "spec": spec}, "apps") for i, spec in enumerate(specs)]
    return Network.of(objs, pods, {"a": {"team": "x"}, "b": {"team": "y"}})


def test_selector_expressions() -> None:
    sel = {"matchLabels": {"app": "web"},
           "matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["db"]},
                                {"key": "app", "operator": "Exists"}]}
    assert selector_matches(sel, {"app": "web"})
    assert not selector_matches(sel, {"app": "web", "tier": "db"})
    assert selector_matches({}, {"any": "thing"}) and not selector_matches(None, {})


def test_unselected_pod_is_open_and_policy_types_default() -> None:
    net = _net({"podSelector": {"matchLabels": {"app": "other"}}})
    assert net.verdict(CLIENT, WEB, 8080).allowed
    # no policyTypes, no egress: Ingress only, so egress of WEB stays open
    net = _net({"podSelector": {}})
    assert not net.verdict(CLIENT, WEB, 8080).allowed
    assert net.verdict(WEB, CLIENT, 1).allowed


def test_namespace_and_pod_selector_together() -> None:
    rule = {"from": [{"namespaceSelector": {"matchLabels": {"team": "y"}},
                      "podSelector": {"matchLabels": {"app": "client"}}}]}
    assert _net({"podSelector": {}, "ingress": [rule]}).verdict(CLIENT, WEB, 8080).allowed
    alone = {"from": [{"podSelector": {"matchLabels": {"app": "client"}}}]}  # namespace a only
    assert not _net({"podSelector": {}, "ingress": [alone]}).verdict(CLIENT, WEB, 8080).allowed


def test_ports_by_name_range_and_protocol() -> None:
    def allowed(port: dict[str, object], number: int = 8080, proto: str = "TCP") -> bool:
        net = _net({"podSelector": {}, "ingress": [{"ports": [port]}]})
        return net.verdict(CLIENT, WEB, number, proto).allowed

    assert allowed({"port": "http"}) and not allowed({"port": "web"})
    assert allowed({"port": 8000, "endPort": 9000}) and not allowed({"port": 8000})
    assert not allowed({"port": 8080, "protocol": "UDP"})
    assert allowed({"protocol": "UDP"}, 8080, "UDP")


def test_ip_block_except_and_cilium_pods() -> None:
    egress = {"podSelector": {}, "policyTypes": ["Egress"], "ns": "b",
              "egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0",
                                              "except": ["169.254.169.254/32"]}}]}]}
    net = _net(egress)
    imds = External(ipaddress.ip_address("169.254.169.254"), "imds")
    web = External(ipaddress.ip_address("20.60.0.1"), "storage", any_public=True)
    assert not net.verdict(CLIENT, imds, 80).allowed
    assert net.verdict(CLIENT, web, 443).allowed
    assert not net.verdict(CLIENT, WEB, 8080).allowed  # an ipBlock never selects a pod


def test_in_cluster_hosts() -> None:
    assert parse_host("n8n-db-rw", "t", True) == ("n8n-db-rw", "t", None, None)
    assert parse_host("n8n", "t", False) is None  # DB_POSTGRESDB_DATABASE=n8n
    assert parse_host("db.other.svc.cluster.local:5432", "t", False) == \
        ("db", "other", 5432, None)
    assert parse_host("postgres://db.other.svc/n8n", "t", False) == \
        ("db", "other", None, "postgres")
    assert parse_host("https://customer1.mercury.kubetest.uk/", "t", False) is None
