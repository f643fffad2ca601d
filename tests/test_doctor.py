"""`mercury doctor`: every diagnosis has a snapshot that triggers it and one that does not
(healthy.json triggers none). Fixtures: tests/snapshots (see generate.py there)."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from mercury.cli import doctor as doctor_cli
from mercury.errors import InputError
from mercury.ops.doctor import SEVERITIES, DoctorReport, diagnose
from mercury.ops.snapshot import load_snapshot, snapshot_from

SNAPS = Path(__file__).parent / "snapshots"
REPO = Path(__file__).resolve().parent.parent
NS = "customer1"


def data(name: str = "healthy") -> dict[str, Any]:
    return json.loads((SNAPS / f"{name}.json").read_text())


def report(d: dict[str, Any], tenant: str = NS) -> DoctorReport:
    return diagnose(snapshot_from(d), tenant)


def ids(d: dict[str, Any]) -> list[str]:
    return [x.id for x in report(d).diagnoses]


def only(rep: DoctorReport, ident: str) -> Any:
    found = [d for d in rep.diagnoses if d.id == ident]
    assert len(found) == 1, [d.id for d in rep.diagnoses]
    return found[0]


def run_doctor(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    doctor_cli.register(parser.add_subparsers())
    return doctor_cli.run(parser.parse_args(["doctor", *argv]))


def test_healthy_tenant_has_no_diagnoses() -> None:
    assert report(data()).diagnoses == []


@pytest.mark.parametrize(("scenario", "expected"), [
    ("csi-identity", {"spc-tenant-is-subscription", "csi-identity", "synced-secret-missing",
                      "flux-not-ready", "service-no-endpoints"}),
    ("ingress-class", {"ingress-class-missing", "certificate-not-ready"}),
    ("backup-failed", {"wal-archiving-failing", "backup-failed", "backup-stale",
                       "backup-schedule"}),
    ("flux-not-ready", {"flux-not-ready", "helmrelease-failed", "pod-not-ready",
                        "service-no-endpoints"}),
    ("crashloop", {"pod-crashloop", "pod-oomkilled", "service-no-endpoints"}),
])
def test_scenarios_find_exactly_their_problems(scenario: str, expected: set[str]) -> None:
    rep = report(data(scenario))
    assert {d.id for d in rep.diagnoses} == expected
    ranks = [SEVERITIES.index(d.severity) for d in rep.diagnoses]
    assert ranks == sorted(ranks)


def test_seed_issue_1_csi_identity() -> None:
    rep = report(data("csi-identity"))
    csi = only(rep, "csi-identity")
    seen = "\n".join(csi.evidence)
    assert "ManagedIdentityCredential authentication failed" in seen
    assert "(Identity not found)" in seen
    assert "pods stuck: n8n-7d9c8b5f4-b7kzt (ContainerCreating), secrets-sync-" in seen
    assert "userAssignedIdentityID='0f5e1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b'" in seen
    assert "${CSI_IDENTITY_CLIENT_ID}" in csi.fix and "${AZURE_TENANT_ID}" in csi.fix
    assert "delete them" in csi.fix
    sub = only(rep, "spc-tenant-is-subscription")
    assert "9b5c2f3e-1d4a-4c8e-a6f1-7e2d3c4b5a69" in sub.evidence[0]
    # the root cause prints before the symptoms it causes
    assert [d.id for d in rep.diagnoses].index("csi-identity") < [
        d.id for d in rep.diagnoses].index("flux-not-ready")


def test_csi_identity_needs_an_identity_error() -> None:
    d = data("csi-identity")
    for e in d["Event"]:
        e["message"] = e["message"].replace("ManagedIdentityCredential", "Credential").replace(
            "Identity not found", "timeout").replace("requested identity isn't", "x isn't")
    assert "csi-identity" not in ids(d)
    assert "volume-mount-failed" in ids(d)  # still a failed mount, said generically


def test_aadsts_tenant_error_hints_at_the_subscription() -> None:
    d = data("csi-identity")
    d["Node"] = []  # the subscription is not visible: only the error text tells
    d["Event"][0]["message"] = (
        "MountVolume.SetUp failed for volume \"secrets-store\" : rpc error: failed to get "
        "keyvault client: AADSTS90002: Tenant '9b5c2f3e-1d4a-4c8e-a6f1-7e2d3c4b5a69' not found.")
    rep = report(d)
    assert "spc-tenant-is-subscription" not in [x.id for x in rep.diagnoses]
    assert "AADSTS90002 means the tenantId is not a tenant" in only(rep, "csi-identity").fix


def test_keyvault_secret_missing() -> None:
    d = data("csi-identity")
    spc = data()["SecretProviderClass"]
    d["SecretProviderClass"], d["Node"] = spc, []
    for e in d["Event"]:
        e["message"] = ("MountVolume.SetUp failed for volume \"secrets-store\" : rpc error: "
                        "failed to mount objects, error: failed to get objectType:secret, "
                        "objectName:customer1-db-password: keyvault.BaseClient#GetSecret: "
                        "StatusCode=404 Code=\"SecretNotFound\"")
    rep = report(d)
    assert "csi-identity" not in [x.id for x in rep.diagnoses]
    diag = only(rep, "csi-keyvault-object-missing")
    assert "customer1-db-password" in diag.fix
    assert diag.evidence[1].startswith("FailedMount: failed to get objectType:secret, "
                                       "objectName:customer1-db-password: keyvault.")


def test_spc_parameters_not_substituted() -> None:
    d = data()
    d["SecretProviderClass"][0]["spec"]["parameters"]["userAssignedIdentityID"] = (
        "${CSI_IDENTITY_CLIENT_ID}")
    diag = only(report(d), "spc-parameters")
    assert diag.evidence == ("userAssignedIdentityID='${CSI_IDENTITY_CLIENT_ID}'",)


def test_synced_secret_missing_only_when_absent() -> None:
    d = data()
    d["Secret"] = [s for s in d["Secret"] if s["metadata"]["name"] != "n8n-encryption-key"]
    diag = only(report(d), "synced-secret-missing")
    assert diag.evidence == ("Secret customer1/n8n-encryption-key does not exist",
                             "Deployment secrets-sync: 1/1 ready")
    d["missing"] = ["secrets"]  # RBAC hid the Secrets: absence proves nothing
    assert "synced-secret-missing" not in ids(d)


def test_seed_issue_2_ingress_class() -> None:
    rep = report(data("ingress-class"))
    diag = only(rep, "ingress-class-missing")
    assert diag.evidence == ("ingressClassName: traefik",
                             "IngressClasses in the cluster: traefik-traefik")
    assert "ingressClass.name: traefik" in diag.fix
    cert = only(rep, "certificate-not-ready")
    assert "wrong status code '404', expected '200'" in cert.evidence[1]
    assert "acme-http01-solver NetworkPolicy" in cert.fix


def test_certificate_expiring() -> None:
    d = data()
    d["Certificate"][0]["status"]["notAfter"] = "2026-05-20T00:00:00Z"
    assert ids(d) == ["certificate-expiring"]


def test_flux_not_ready_and_helmrelease_failed() -> None:
    rep = report(data("flux-not-ready"))
    flux = only(rep, "flux-not-ready")
    assert flux.subject == "Kustomization/flux-system/apps" and flux.severity == "critical"
    assert "health check failed after 4m59.9s" in flux.evidence[0]
    helm = only(rep, "helmrelease-failed")
    assert "(UpgradeFailed): Helm upgrade failed" in helm.evidence[0]
    probe = only(rep, "pod-not-ready")
    assert "Readiness probe failed" in probe.evidence[0]


def test_flux_dependency_and_suspend() -> None:
    d = data()
    d["Kustomization"][1]["status"]["conditions"][0].update(
        status="False", reason="DependencyNotReady",
        message="dependency 'flux-system/infra-controllers' is not ready")
    d["Kustomization"][0]["spec"]["suspend"] = True
    rep = report(d)
    dep = only(rep, "flux-not-ready")
    assert dep.severity == "error" and "layer it depends on" in dep.fix
    assert only(rep, "flux-suspended").subject == "Kustomization/flux-system/infra-controllers"


def test_crashloop_and_oomkilled() -> None:
    rep = report(data("crashloop"))
    crash = only(rep, "pod-crashloop")
    assert crash.severity == "critical"
    assert crash.evidence[0] == ("container n8n: waiting CrashLoopBackOff, restarts 12, "
                                 "last exit Error (code 1)")
    assert "--previous" in crash.fix
    oom = only(rep, "pod-oomkilled")
    assert oom.subject == "Pod/customer1/n8n-db-2" and "OOMKilled (code 137)" in oom.evidence[0]


def test_image_pull_and_unschedulable() -> None:
    d = data()
    pod = d["Pod"][0]
    pod["status"]["phase"] = "Pending"
    pod["status"]["containerStatuses"][0]["state"] = {"waiting": {
        "reason": "ImagePullBackOff", "message": "Back-off pulling image \"n8nio/n8n:nope\""}}
    d["Event"].append({"kind": "Event", "apiVersion": "v1",
                       "metadata": {"name": "e1", "namespace": NS},
                       "involvedObject": {"kind": "Pod", "name": pod["metadata"]["name"]},
                       "reason": "FailedScheduling", "type": "Warning",
                       "message": "0/2 nodes are available: 2 Insufficient memory."})
    assert set(ids(d)) == {"pod-image-pull", "pod-unschedulable"}


def test_database_health() -> None:
    d = data()
    d["Cluster"][0]["status"].update(readyInstances=2, phase="Failing over",
                                     phaseReason="Primary instance is not ready")
    diag = only(report(d), "db-unhealthy")
    assert diag.severity == "error"
    assert diag.evidence == ("phase 'Failing over': Primary instance is not ready",
                             "2/3 instances ready, primary n8n-db-1")
    d["Cluster"][0]["status"]["readyInstances"] = 0
    assert only(report(d), "db-unhealthy").severity == "critical"
    d["Cluster"] = []
    assert "db-missing" in ids(d)


def test_backups() -> None:
    rep = report(data("backup-failed"))
    assert "DefaultAzureCredential" in only(rep, "backup-failed").evidence[0]
    assert "3.4d ago" in only(rep, "backup-stale").evidence[0]
    assert "did you mean '0 0 2 * * *'" in only(rep, "backup-schedule").evidence[0]
    assert "exit status 4" in only(rep, "wal-archiving-failing").evidence[0]
    young = data("backup-failed")
    young["Cluster"][0]["metadata"]["creationTimestamp"] = "2026-05-10T01:00:00Z"
    assert "backup-stale" not in ids(young)


def test_service_without_selector_is_not_judged() -> None:
    d = data()
    d["Service"].append({"apiVersion": "v1", "kind": "Service",
                         "metadata": {"name": "external", "namespace": NS},
                         "spec": {"type": "ExternalName", "externalName": "example.com"}})
    assert ids(d) == []


def test_missing_namespace() -> None:
    rep = report(data(), "customer2")
    assert [d.id for d in rep.diagnoses] == ["namespace-missing"]


# --- the command --------------------------------------------------------------------------

@pytest.fixture
def repo(tmp_path: Path) -> Path:
    shutil.copy(REPO / "platform.yaml", tmp_path / "platform.yaml")
    return tmp_path


def test_cli_healthy_exit_0(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_doctor([NS, "--snapshot", str(SNAPS / "healthy.json"), "--repo", str(repo)]) == 0
    assert "customer1: no problems found" in capsys.readouterr().out


def test_cli_text_report(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = run_doctor([NS, "--snapshot", str(SNAPS / "csi-identity.json"), "--repo", str(repo)])
    out = capsys.readouterr().out
    assert code == 1
    assert "customer1: 5 problem(s) (4 critical, 1 error)" in out
    assert "CRITICAL csi-identity SecretProviderClass/customer1/n8n-secrets" in out
    # rich markup must not eat the brackets of Flux's message
    assert "[Deployment/customer1/n8n status: 'InProgress'," in out
    assert "  fix:  userAssignedIdentityID must be" in out


def test_cli_json_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = run_doctor([NS, "--snapshot", str(SNAPS / "crashloop.json"), "--repo",
                       str(tmp_path), "--format", "json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 1
    assert out["summary"] == {"critical": 1, "error": 2, "warning": 0}
    assert out["diagnoses"][0]["id"] == "pod-crashloop"
    assert set(out["diagnoses"][0]) == {"id", "severity", "subject", "title", "evidence", "fix"}


def test_cli_unknown_tenant_from_platform(repo: Path) -> None:
    with pytest.raises(InputError, match=r"unknown tenant 'nobody' \(known: customer1\)") as exc:
        run_doctor(["nobody", "--snapshot", str(SNAPS / "healthy.json"), "--repo", str(repo)])
    assert exc.value.exit_code == 2


def test_cli_unknown_tenant_from_snapshot(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no namespace 'nobody' in the snapshot"):
        run_doctor(["nobody", "--snapshot", str(SNAPS / "healthy.json"), "--repo",
                    str(tmp_path)])


def test_cli_platform_tenant_without_namespace_is_a_problem(
        repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    snap = data()
    snap["Namespace"][0]["metadata"]["name"] = "other"
    for kind in ("Pod", "Event", "Deployment", "Service", "Endpoints", "Ingress",
                 "Certificate", "Cluster", "Backup", "ScheduledBackup",
                 "SecretProviderClass", "Secret"):
        snap[kind] = []
    path = repo / "snap.json"
    path.write_text(json.dumps(snap))
    assert load_snapshot(path).has_namespace(NS) is False
    assert run_doctor([NS, "--snapshot", str(path), "--repo", str(repo)]) == 1
    assert "namespace-missing" in capsys.readouterr().out
