"""`mercury status` and the Snapshot it reads: fixtures in tests/snapshots (taken at
2026-05-10T12:00:00Z, see tests/snapshots/generate.py), no API server involved."""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from mercury.cli import status as status_cli
from mercury.errors import ClusterError, InputError
from mercury.ops.kube import Kube
from mercury.ops.snapshot import collect_snapshot, load_snapshot, snapshot_from, snapshot_json
from mercury.ops.status import DEGRADED, DOWN, OK, fleet_status, tenant_status

MERCURY = str(Path(sys.executable).with_name("mercury"))
SNAPS = Path(__file__).parent / "snapshots"
REPO = Path(__file__).resolve().parent.parent
SECRET_VALUE = "c2VjcmV0LXZhbHVlLWRvLW5vdC1zaG93"  # a base64 value in healthy.json


def data(name: str) -> dict[str, Any]:
    return json.loads((SNAPS / f"{name}.json").read_text())


def run_status(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    status_cli.register(parser.add_subparsers())
    return status_cli.run(parser.parse_args(["status", *argv]))


# --- the snapshot ------------------------------------------------------------------------

def test_load_snapshot_sorts_kinds_and_fixes_the_time() -> None:
    snap = load_snapshot(SNAPS / "healthy.json")
    assert snap.taken_at == datetime(2026, 5, 10, 12, tzinfo=UTC)
    assert [o["metadata"]["name"] for o in snap.kustomizations] == [
        "infra-controllers", "infra-configs", "apps"]
    assert len(snap.helmreleases) == 5 and len(snap.pods) == 5
    assert snap.tenants() == ["customer1"]


def test_secret_values_never_enter_a_snapshot() -> None:
    snap = load_snapshot(SNAPS / "healthy.json")
    creds = snap.get("secrets", "customer1", "n8n-db-credentials")
    assert creds is not None and creds["keys"] == ["password", "username"]
    assert "data" not in creds
    assert SECRET_VALUE not in json.dumps(snapshot_json(snap))


def test_a_kubectl_list_is_read_by_kind_and_group() -> None:
    listing = {"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
         "metadata": {"name": "not-flux"}},
        {"apiVersion": "velero.io/v1", "kind": "Backup", "metadata": {"name": "velero"}},
        {"apiVersion": "postgresql.cnpg.io/v1", "kind": "Backup",
         "metadata": {"name": "b1", "namespace": "t1"}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ignored"}},
    ]}
    snap = snapshot_from(listing)
    assert snap.kustomizations == []
    assert [b["metadata"]["name"] for b in snap.backups] == ["b1"]


def test_snapshot_json_round_trips() -> None:
    snap = load_snapshot(SNAPS / "csi-identity.json")
    again = snapshot_from(json.loads(json.dumps(snapshot_json(snap))))
    assert again == snap


@pytest.mark.parametrize(("text", "why"), [
    ('{"Pod": "x"}', "Pod: must be a list"),
    ('{"pods": []}', "unknown key 'pods'"),
    ('{"takenAt": "yesterday", "Pod": []}', "takenAt 'yesterday'"),
    ('{"Pod": [{"kind": "Pod", "metadata": {"name": "p"}}]}', "metadata.namespace missing"),
    ('{"Pod": [{"kind": "Pod", "metadata": "p"}]}', "metadata.name missing"),
    ('{"Pod": [7]}', "no objects of a kind"),
    ('{}', "no objects of a kind"),
    ('{"Deployment": [{"kind": "Deployment", "metadata": {"name": "n8n", "namespace": "t"},'
     ' "status": {"readyReplicas": "1"}}]}', "status.readyReplicas is '1', not an integer"),
    ('{"Cluster": [{"kind": "Cluster", "apiVersion": "postgresql.cnpg.io/v1", "metadata":'
     ' {"name": "n8n-db", "namespace": "t"}, "status": {"conditions": {"type": "x"}}}]}',
     "status.conditions is not a list"),
])
def test_malformed_snapshot_is_refused_naming_why(tmp_path: Path, text: str, why: str) -> None:
    bad = tmp_path / "snap.json"
    bad.write_text(text)
    with pytest.raises(InputError, match=re.escape(why)) as caught:
        load_snapshot(bad)
    assert str(caught.value).startswith(f"{bad}: not a usable snapshot: ")


def test_malformed_snapshot_exits_2_with_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "snap.json"
    bad.write_text('{"Pod": [{"kind": "Pod", "metadata": {"name": "p"}}]}')
    for argv in (["status", "--snapshot", str(bad)], ["doctor", "customer1", "--snapshot",
                                                       str(bad), "--repo", str(tmp_path)]):
        done = subprocess.run([MERCURY, *argv], capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 2, done
        assert done.stdout == "" and len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_save_snapshot_under_a_file_exits_2(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    done = subprocess.run([MERCURY, "status", "--snapshot",
                           str(SNAPS / "healthy.json"), "--repo", str(tmp_path),
                           "--save-snapshot", str(tmp_path / "file" / "snap.json")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done
    assert len(done.stderr.strip().splitlines()) == 1 and "file" in done.stderr, done.stderr


@pytest.mark.parametrize("text", ["{not json", '"a string"'])
def test_unreadable_snapshot_is_input_error(tmp_path: Path, text: str) -> None:
    bad = tmp_path / "snap.json"
    bad.write_text(text)
    with pytest.raises(InputError):
        load_snapshot(bad)
    with pytest.raises(InputError, match="cannot read snapshot"):
        load_snapshot(tmp_path / "missing.json")


class FakeKube(Kube):
    """kubectl answers from a dict keyed by (resource, namespace); records the calls."""

    def __init__(self, answers: dict[tuple[str, str | None], list[dict[str, Any]]]) -> None:
        object.__setattr__(self, "answers", answers)
        object.__setattr__(self, "calls", [])

    def _run(self, args: list[str], stdin: str | None = None) -> dict[str, Any]:
        resource = args[1]
        ns = args[args.index("-n") + 1] if "-n" in args else None
        self.calls.append(args)
        if resource == "secrets":
            raise ClusterError('kubectl: Error from server (Forbidden): secrets is forbidden: '
                               'User "dev" cannot list resource "secrets"', reason="Forbidden")
        if (resource, ns) not in self.answers:
            raise ClusterError(f'kubectl: error: the server doesn\'t have a resource type '
                               f'"{resource}"', reason="NotFound")
        return {"items": self.answers[(resource, ns)]}


def test_collected_secrets_lose_their_values() -> None:
    class Allowed(FakeKube):
        def _run(self, args: list[str], stdin: str | None = None) -> dict[str, Any]:
            return {"items": data("healthy")["Secret"] if args[1] == "secrets" else []}

    snap = collect_snapshot(["customer1"], Allowed({}))
    assert [s["keys"] for s in snap.secrets] == [["password", "username"],
                                                 ["N8N_ENCRYPTION_KEY"], ["tls.crt", "tls.key"]]
    assert SECRET_VALUE not in json.dumps(snapshot_json(snap))


def test_collect_snapshot_tolerates_missing_crds_and_rbac() -> None:
    healthy = data("healthy")
    answers: dict[tuple[str, str | None], list[dict[str, Any]]] = {
        ("kustomizations.kustomize.toolkit.fluxcd.io", None): healthy["Kustomization"],
        ("ingressclasses.networking.k8s.io", None): healthy["IngressClass"],
        ("nodes", None): healthy["Node"],
        ("namespaces", None): healthy["Namespace"],
        ("pods", "customer1"): healthy["Pod"],
    }
    kube = FakeKube(answers)
    snap = collect_snapshot(kube=kube)
    assert ["get", "namespaces", "-A", "-l", "mercury.io/tenant", "-o", "json"] in kube.calls
    assert len(snap.pods) == 5 and len(snap.kustomizations) == 3
    assert "helmreleases.helm.toolkit.fluxcd.io" in snap.missing
    assert "secrets" in snap.missing and snap.secrets == []
    assert snap.nodes[0]["spec"]["providerID"].startswith("azure:///subscriptions/")


def test_collect_snapshot_passes_real_cluster_errors() -> None:
    class Down(FakeKube):
        def _run(self, args: list[str], stdin: str | None = None) -> dict[str, Any]:
            raise ClusterError("cannot reach the cluster (check KUBECONFIG / --context)",
                               reason="Unreachable")

    with pytest.raises(ClusterError, match="cannot reach"):
        collect_snapshot(kube=Down({}))


# --- health -------------------------------------------------------------------------------

def test_healthy_fleet() -> None:
    fleet = fleet_status(load_snapshot(SNAPS / "healthy.json"))
    assert fleet.ok and all(r.ok for r in fleet.flux)
    t = fleet.tenants[0].as_json()
    assert t == {
        "tenant": "customer1", "health": OK, "reasons": [], "n8n_ready": "1/1",
        "db_phase": "Cluster in healthy state", "db_instances_ready": "3/3",
        "db_primary": "n8n-db-1", "last_backup": "2026-05-10T02:02:41Z",
        "last_backup_source": "Backup n8n-db-scheduled-20260510020000",
        "last_backup_age_hours": 10.0, "certificate_ready": "True",
        "certificate_expiry": "2026-07-20T09:00:00Z",
        "host": "customer1.mercury.kubetest.uk"}


@pytest.mark.parametrize(("scenario", "health", "reasons"), [
    ("csi-identity", DOWN, ["n8n 0/1 ready"]),
    ("ingress-class", DOWN, ["Ingress class 'traefik' does not exist",
                             "certificate not ready: DoesNotExist"]),
    ("backup-failed", DEGRADED, ["WAL archiving failing", "last successful backup 3.4d ago"]),
    ("crashloop", DOWN, ["n8n 0/1 ready"]),
    ("flux-not-ready", DOWN, ["n8n 0/1 ready"]),
])
def test_scenarios(scenario: str, health: str, reasons: list[str]) -> None:
    fleet = fleet_status(load_snapshot(SNAPS / f"{scenario}.json"))
    assert not fleet.ok
    assert (fleet.tenants[0].health, fleet.tenants[0].reasons) == (health, reasons)


def test_flux_rows_carry_message_and_revision() -> None:
    fleet = fleet_status(load_snapshot(SNAPS / "flux-not-ready.json"))
    bad = {r.name: r for r in fleet.flux if not r.ok}
    assert set(bad) == {"apps", "cert-manager"}
    assert bad["apps"].message.startswith("health check failed after 4m59.9s")
    assert bad["apps"].revision.startswith("main@sha1:3f2a9c41")
    assert bad["cert-manager"].revision == "v1.17.2"


def test_backup_sources_in_order_of_proof() -> None:
    d = data("healthy")
    d["Backup"] = []
    d["Cluster"][0]["status"]["lastSuccessfulBackup"] = "2026-05-10T02:05:00Z"
    t = tenant_status(snapshot_from(d), "customer1")
    assert (t.backup_source, t.health) == ("Cluster status", OK)
    del d["Cluster"][0]["status"]["lastSuccessfulBackup"]
    t = tenant_status(snapshot_from(d), "customer1")
    assert t.backup_source.startswith("ScheduledBackup n8n-db-scheduled (started")
    d["ScheduledBackup"] = []
    t = tenant_status(snapshot_from(d), "customer1")
    assert (t.health, t.reasons) == (DEGRADED, ["no successful backup"])
    d["Cluster"][0]["metadata"]["creationTimestamp"] = "2026-05-10T08:00:00Z"
    assert tenant_status(snapshot_from(d), "customer1").health == OK  # too young to judge


@pytest.mark.parametrize(("not_after", "health"), [
    ("2026-05-15T00:00:00Z", DEGRADED), ("2026-05-09T00:00:00Z", DOWN),
    ("2026-06-10T00:00:00Z", OK)])
def test_certificate_expiry(not_after: str, health: str) -> None:
    d = data("healthy")
    d["Certificate"][0]["status"]["notAfter"] = not_after
    assert tenant_status(snapshot_from(d), "customer1").health == health


def test_replica_and_instance_counts() -> None:
    d = data("healthy")
    d["Cluster"][0]["status"].update(readyInstances=2, phase="Waiting for the instances to "
                                     "become active")
    t = tenant_status(snapshot_from(d), "customer1")
    assert (t.health, t.reasons) == (DEGRADED, ["database 2/3 instances ready"])
    d["Cluster"][0]["status"]["readyInstances"] = 0
    assert tenant_status(snapshot_from(d), "customer1").health == DOWN


def test_expected_tenant_without_namespace_is_down() -> None:
    fleet = fleet_status(load_snapshot(SNAPS / "healthy.json"), ["customer2"])
    by_name = {t.name: t for t in fleet.tenants}
    assert by_name["customer1"].health == OK
    assert (by_name["customer2"].health, by_name["customer2"].reasons) == (
        DOWN, ["namespace not found"])


# --- the command --------------------------------------------------------------------------

def test_cli_json_healthy_exit_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = run_status(["--snapshot", str(SNAPS / "healthy.json"), "--repo", str(tmp_path),
                       "--format", "json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["ok"] is True and out["taken_at"] == "2026-05-10T12:00:00Z"
    assert [f["name"] for f in out["flux"]][:3] == ["infra-controllers", "infra-configs", "apps"]


def test_cli_table_problem_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = run_status(["--snapshot", str(SNAPS / "ingress-class.json"), "--repo",
                       str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 1
    assert "customer1: Ingress class 'traefik' does not exist" in out
    assert "down" in out


def test_cli_uses_platform_tenants_and_saves_snapshot(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    text = (REPO / "platform.yaml").read_text().replace(
        "tenants:\n", "tenants:\n  customer2:\n    environment: staging\n"
        "    host: customer2.mercury.kubetest.uk\n")
    (repo / "platform.yaml").write_text(text)
    saved = tmp_path / "saved.json"
    code = run_status(["--snapshot", str(SNAPS / "healthy.json"), "--repo", str(repo),
                       "--format", "json", "--save-snapshot", str(saved)])
    tenants = {t["tenant"]: t for t in json.loads(capsys.readouterr().out)["tenants"]}
    assert code == 1 and tenants["customer2"]["reasons"] == ["namespace not found"]
    assert load_snapshot(saved) == load_snapshot(SNAPS / "healthy.json")
    with pytest.raises(InputError, match="unknown environment 'prod'"):
        run_status(["--snapshot", str(saved), "--repo", str(repo), "--env", "prod"])


def test_cli_with_the_real_platform_file(tmp_path: Path) -> None:
    shutil.copy(REPO / "platform.yaml", tmp_path / "platform.yaml")
    assert status_cli.platform_tenants(tmp_path, None) == ["customer1"]
    assert status_cli.platform_tenants(tmp_path / "nowhere", None) is None


def test_collect_reads_each_kind_once_across_namespaces() -> None:
    pods = [{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": ns}}
            for ns in ("t1", "t2", "t3", "other")]
    namespaces = [{"apiVersion": "v1", "kind": "Namespace",
                   "metadata": {"name": ns, "labels": {"mercury.io/tenant": ns}}}
                  for ns in ("t1", "t2", "t3")]
    answers: dict[tuple[str, str | None], list[dict[str, Any]]] = {
        ("namespaces", None): namespaces, ("pods", None): pods,
        **{(r, None): [] for r in ("deployments.apps", "services", "events", "endpoints")}}
    kube = FakeKube(answers)
    snap = collect_snapshot(kube=kube)
    pod_calls = [c for c in kube.calls if c[1] == "pods"]
    assert pod_calls == [["get", "pods", "-A", "-o", "json"]]
    assert sorted(p["metadata"]["namespace"] for p in snap.pods) == ["t1", "t2", "t3"]
    # secrets are forbidden cluster-wide and per namespace: one try each, then missing
    assert [c[2:4] for c in kube.calls if c[1] == "secrets"] == [
        ["-A", "-o"], ["-n", "t1"], ["-n", "t2"], ["-n", "t3"]]
    assert "secrets" in snap.missing and "pods" not in snap.missing


def test_kubectl_errors_are_typed_by_the_servers_reason() -> None:
    from mercury.errors import ToolError
    from mercury.ops.kube import _reason

    def err(stderr: str) -> ToolError:
        return ToolError("kubectl get", 1, stderr=stderr)

    assert _reason(err('Error from server (Forbidden): pods is forbidden: User "u" cannot '
                       'list resource "pods"')) == "Forbidden"
    assert _reason(err('error: the server doesn\'t have a resource type "x"')) == "NotFound"
    assert _reason(err("The connection to the server 127.0.0.1:1 was refused - did you "
                       "specify the right host or port?")) == "Unreachable"
    assert _reason(err("something else")) is None
