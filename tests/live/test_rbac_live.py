"""The operator ClusterRole shipped in docs/rbac is enough, and a missing permission is
named (verb, resource, namespace) in one line with exit 2."""

from __future__ import annotations

import copy
import json
from typing import Any

import yaml

from live.cluster import Cluster
from live.conftest import REPO
from live.test_status_live import fixture, mercury

ROLE = yaml.safe_load((REPO / "docs" / "rbac" / "mercury-operator.yaml").read_text())
RBAC = "/apis/rbac.authorization.k8s.io/v1"


def _bind(cluster: Cluster, role: dict[str, Any], user: str) -> None:
    name = role["metadata"]["name"]
    assert cluster.client.apply(f"{RBAC}/clusterroles/{name}", role).ok
    binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
               "metadata": {"name": f"{name}-{user}"},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                           "name": name},
               "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User",
                             "name": user}]}
    answer = cluster.client.apply(f"{RBAC}/clusterrolebindings/{name}-{user}", binding)
    assert answer.ok, answer.body


def test_least_privilege_operator_runs_status_doctor_and_backups(
        cluster: Cluster, built: list[Any]) -> None:
    cluster.load_fixture(fixture("healthy"), built)
    _bind(cluster, ROLE, "alice@example.com")
    kubeconfig = cluster.server.user_kubeconfig("alice@example.com", ("operators",))
    status = mercury(cluster.server, "status", "--format", "json", kubeconfig=kubeconfig)
    assert status.returncode == 0, status.stdout + status.stderr
    assert json.loads(status.stdout)["tenants"][0]["health"] == "ok"
    doctor = mercury(cluster.server, "doctor", "customer1", kubeconfig=kubeconfig)
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    listed = mercury(cluster.server, "backup", "list", "customer1", kubeconfig=kubeconfig)
    assert listed.returncode == 0, listed.stderr
    now = mercury(cluster.server, "backup", "now", "customer1", "--no-wait",
                  kubeconfig=kubeconfig)
    assert now.returncode == 0, now.stderr


def test_a_missing_permission_is_named_in_one_line(cluster: Cluster, built: list[Any]
                                                   ) -> None:
    cluster.load_fixture(fixture("healthy"), built)
    role = copy.deepcopy(ROLE)
    role["metadata"]["name"] = "mercury-operator-no-backup-create"
    for rule in role["rules"]:
        if rule["resources"] == ["backups"]:
            rule["verbs"] = ["get", "list"]
    _bind(cluster, role, "bob@example.com")
    kubeconfig = cluster.server.user_kubeconfig("bob@example.com")
    now = mercury(cluster.server, "backup", "now", "customer1", "--no-wait",
                  kubeconfig=kubeconfig)
    assert now.returncode == 2
    lines = now.stderr.strip().splitlines()
    assert len(lines) == 1, now.stderr
    for word in ('cannot create resource "backups"', 'in the namespace "customer1"'):
        assert word in lines[0], lines[0]
