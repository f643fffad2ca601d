"""The ephemeral API server starts, judges objects, and leaves nothing behind."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mercury.apiserver import missing_reason, start_apiserver

REASON = missing_reason()
pytestmark = pytest.mark.skipif(REASON is not None, reason=f"API server tests: {REASON}")
CRDS = Path(__file__).resolve().parents[2].parent / "shared" / "crds"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_server_rejects_bad_names_and_enforces_pod_security() -> None:
    labels = {"pod-security.kubernetes.io/enforce": "restricted"}
    with start_apiserver(namespaces={"t1": labels}) as api:
        client = api.client()
        bad = {"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": "Bad_Name", "namespace": "t1"}}
        answer = client.apply("/api/v1/namespaces/t1/configmaps/Bad_Name", bad, dry_run=True)
        assert answer.status == 422
        assert [c["field"] for c in answer.body["details"]["causes"]] == ["metadata.name"]
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "t1"},
               "spec": {"containers": [{"name": "c", "image": "nginx"}]}}
        answer = client.apply("/api/v1/namespaces/t1/pods/p", pod, dry_run=True)
        assert answer.status == 403
        assert "violates PodSecurity" in answer.body["message"]
        client.close()
        pids, workdir = list(api.pids.values()), api.workdir
        assert api.kubeconfig.is_file()
    assert not any(_alive(pid) for pid in pids)
    assert not workdir.exists()


@pytest.mark.skipif(not CRDS.is_dir(), reason="../shared/crds not present")
def test_crds_install_and_their_cel_rules_apply() -> None:
    with start_apiserver(crds=CRDS, namespaces=["db"]) as api:
        client = api.client()
        cluster = {"apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster",
                   "metadata": {"name": "pg", "namespace": "db"},
                   "spec": {"instances": 1, "storage": {"size": "1Gi"}}}
        path = "/apis/postgresql.cnpg.io/v1/namespaces/db/clusters/pg"
        assert client.apply(path, cluster, dry_run=True).ok
        cluster["spec"]["instances"] = 0
        assert client.apply(path, cluster, dry_run=True).status == 422
        client.close()
