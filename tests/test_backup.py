"""The pure parts of `mercury backup`: status, the Backup object, listings, restore, checks."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jsonschema
import pytest
import yaml
from backup.settings import tenant_manifests
from rules.rulefixture import build_context, run_rule

from mercury.cli.main import main
from mercury.errors import ClusterError, InputError
from mercury.ops.backups import (
    BackupRow,
    backup_object,
    backup_state,
    first_restorable,
    rows_from_barman,
    rows_from_objects,
)
from mercury.ops.kube import Kube
from mercury.ops.restore import plan_restore
from mercury.ops.times import parse_time
from mercury.verify.findings import Finding
from mercury.verify.rules.cnpg import (
    BackupScheduleRule,
    CnpgBackupConsistencyRule,
    CnpgDeprecatedBarmanRule,
)

REPO = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 5, 10, 12, 0, tzinfo=UTC)


def _schema(crd_schemas: Path, group: str, kind: str) -> dict:
    return json.loads((crd_schemas / group / f"{kind}_v1.json").read_text())


@pytest.fixture(scope="module")
def tenant_objects() -> list[dict]:
    return tenant_manifests(REPO)


def _rows() -> list[BackupRow]:
    return [
        BackupRow("b1", NOW - timedelta(days=2, minutes=5), NOW - timedelta(days=2), "completed"),
        BackupRow("b0", NOW - timedelta(days=3), None, "failed"),
        BackupRow("b2", NOW - timedelta(days=1, minutes=5), NOW - timedelta(days=1), "completed"),
    ]


# --- Backup status and the on-demand Backup ---------------------------------------------

@pytest.mark.parametrize(("status", "done", "failed", "text"), [
    (None, False, False, "waiting"),
    ({"phase": "started"}, False, False, "started"),
    ({"phase": "running", "beginWal": "000000010000000000000004"}, False, False, "00004"),
    ({"phase": "completed", "backupId": "20260510T020000"}, True, False, "20260510T020000"),
    ({"phase": "failed", "error": "can't upload"}, True, True, "can't upload"),
    ({"phase": "walArchivingFailing"}, True, True, "walArchivingFailing"),
    ({"phase": "running", "error": "boom"}, True, True, "boom"),
])
def test_backup_state(status, done, failed, text) -> None:
    state = backup_state({"status": status} if status else {})
    assert (state.done, state.failed) == (done, failed)
    assert text in state.message


def test_backup_object_is_a_plugin_backup_valid_for_cnpg(crd_schemas) -> None:
    obj = backup_object("customer1", now=NOW)
    assert obj["metadata"] == {"name": "n8n-db-manual-20260510120000", "namespace": "customer1",
                               "labels": {"mercury.io/tenant": "customer1",
                                          "mercury.io/backup": "manual"}}
    assert obj["spec"] == {"cluster": {"name": "n8n-db"}, "method": "plugin",
                           "pluginConfiguration": {"name": "barman-cloud.cloudnative-pg.io"}}
    jsonschema.validate(obj, _schema(crd_schemas, "postgresql.cnpg.io", "backup"))


def test_now_dry_run_prints_the_object(capsys) -> None:
    assert main(["backup", "now", "customer1", "--repo", str(REPO), "--dry-run"]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["kind"] == "Backup" and printed["spec"]["method"] == "plugin"


def test_unknown_tenant_is_exit_2_one_line(capsys) -> None:
    assert main(["backup", "list", "nobody", "--repo", str(REPO)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "mercury: error: unknown tenant 'nobody' (known: customer1)"


# --- listings ---------------------------------------------------------------------------

def test_rows_from_objects_filters_cluster_and_sorts() -> None:
    items = [
        {"kind": "Backup", "metadata": {"name": "late"}, "spec": {"cluster": {"name": "n8n-db"}},
         "status": {"phase": "completed", "startedAt": "2026-05-02T02:00:00Z",
                    "stoppedAt": "2026-05-02T02:03:10Z", "backupId": "20260502T020000"}},
        {"kind": "Backup", "metadata": {"name": "other"}, "spec": {"cluster": {"name": "x"}}},
        {"kind": "Backup", "metadata": {"name": "early"}, "spec": {"cluster": {"name": "n8n-db"}},
         "status": {"phase": "failed", "startedAt": "2026-05-01T02:00:00+00:00"}},
        {"kind": "Backup", "metadata": {"name": "new"}, "spec": {"cluster": {"name": "n8n-db"}}},
    ]
    rows = rows_from_objects(items)
    assert [r.name for r in rows] == ["new", "early", "late"]
    assert rows[0].status == "pending"
    assert rows[2].end == datetime(2026, 5, 2, 2, 3, 10, tzinfo=UTC)
    assert rows[2].ok and not rows[1].ok
    assert first_restorable(rows).name == "late"


def test_rows_from_barman_json() -> None:
    # trimmed from real `barman-cloud-backup-list --format json` output (barman 3.19)
    listing = {"backups_list": [
        {"backup_id": "20261126T135859", "backup_name": None, "status": "DONE",
         "begin_time": "Thu Nov 26 13:59:00 2026", "end_time": "Thu Nov 26 13:59:02 2026",
         "begin_time_iso": "2026-11-26T13:59:00.011030+00:00",
         "end_time_iso": "2026-11-26T13:59:02.793984+00:00",
         "cluster_size": 30837808, "size": None, "server_name": "cloud"},
        {"backup_id": "20261125T020000", "status": "FAILED",
         "begin_time": "Wed Nov 25 02:00:00 2026", "end_time": None},
    ]}
    rows = rows_from_barman(listing)
    assert [r.backup_id for r in rows] == ["20261125T020000", "20261126T135859"]
    assert rows[1].size == 30837808 and rows[1].ok and not rows[0].ok
    assert rows[1].end == datetime(2026, 11, 26, 13, 59, 2, 793984, tzinfo=UTC)
    assert rows[0].begin == datetime(2026, 11, 25, 2, 0, tzinfo=UTC)


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-05-01T02:00:03Z", datetime(2026, 5, 1, 2, 0, 3, tzinfo=UTC)),
    ("2026-05-01 04:00:03+02", datetime(2026, 5, 1, 2, 0, 3, tzinfo=UTC)),
    ("2026-05-01 02:00", datetime(2026, 5, 1, 2, 0, tzinfo=UTC)),
    ("Fri May  1 02:00:03 2026", datetime(2026, 5, 1, 2, 0, 3, tzinfo=UTC)),
])
def test_parse_time(text, expected) -> None:
    assert parse_time(text) == expected


# --- restore ----------------------------------------------------------------------------

def test_restore_cluster_recovers_from_the_store_and_archives_elsewhere(
        tenant_objects, crd_schemas) -> None:
    plan = plan_restore("customer1", tenant_objects, name="n8n-db-r1", now=NOW)
    cluster = plan.cluster
    jsonschema.validate(cluster, _schema(crd_schemas, "postgresql.cnpg.io", "cluster"))
    spec = cluster["spec"]
    assert spec["bootstrap"]["recovery"]["source"] == "origin"
    assert "recoveryTarget" not in spec["bootstrap"]["recovery"]
    assert spec["bootstrap"]["recovery"]["secret"] == {"name": "n8n-db-credentials"}
    assert spec["externalClusters"] == [{"name": "origin", "plugin": {
        "name": "barman-cloud.cloudnative-pg.io",
        "parameters": {"barmanObjectName": "n8n-backups", "serverName": "n8n-db"}}}]
    [archiver] = [p for p in spec["plugins"] if p.get("isWALArchiver")]
    assert archiver["parameters"] == {"barmanObjectName": "n8n-backups", "serverName": "n8n-db-r1"}
    # workload identity: the federated ServiceAccount of the source, not a new one
    assert spec["serviceAccountName"] == "n8n-db" and "serviceAccountTemplate" not in spec
    assert plan.deployment_patch["spec"]["template"]["spec"]["containers"] == [
        {"name": "n8n", "env": [{"name": "DB_POSTGRESDB_HOST", "value": "n8n-db-r1-rw"}]}]
    # every policy that admits the source cluster's pods is cloned for the new ones
    cloned = {p["metadata"]["name"] for p in plan.network_policies}
    assert "n8n-db-n8n-db-r1" in cloned
    dumped = json.dumps(plan.network_policies)
    assert '"cnpg.io/cluster": "n8n-db-r1"' in dumped and '"n8n-db"' not in dumped
    # source and restore together are still consistent (no shared serverName)
    assert backup_consistency([*tenant_objects, cluster]) == []


def test_restore_to_time_sets_recovery_target(tenant_objects, crd_schemas) -> None:
    target = NOW - timedelta(hours=20, microseconds=-1500)
    plan = plan_restore("customer1", tenant_objects, target=target, rows=_rows(), now=NOW)
    assert plan.name == "n8n-db-restore-202605101200"
    recovery = plan.cluster["spec"]["bootstrap"]["recovery"]
    assert recovery["recoveryTarget"] == {"targetTime": "2026-05-09T16:00:00.001500Z"}
    jsonschema.validate(plan.cluster, _schema(crd_schemas, "postgresql.cnpg.io", "cluster"))


@pytest.mark.parametrize(("target", "rows", "message"), [
    (NOW + timedelta(minutes=1), None, "in the future"),
    (NOW - timedelta(days=2, hours=1), _rows(), "before the first backup"),
    (NOW - timedelta(hours=1), [], "no completed backup"),
])
def test_restore_refuses_bad_times(tenant_objects, target, rows, message) -> None:
    with pytest.raises(InputError, match=message):
        plan_restore("customer1", tenant_objects, target=target, rows=rows, now=NOW)


def test_restore_refuses_the_source_server_name(tenant_objects) -> None:
    with pytest.raises(InputError, match="source"):
        plan_restore("customer1", tenant_objects, name="n8n-db", now=NOW)
    with pytest.raises(InputError, match="cluster name"):
        plan_restore("customer1", tenant_objects, name="Bad_Name", now=NOW)


def test_restore_cli_future_time_is_exit_2(capsys) -> None:
    rc = main(["backup", "restore", "customer1", "--repo", str(REPO), "--offline",
               "--dry-run", "--to-time", "2999-01-01T00:00:00Z"])
    assert rc == 2
    assert "in the future" in capsys.readouterr().err


def _ensure_overlay(root: Path) -> Path:
    overlay = root / "apps" / "staging" / "customer1"
    if not (overlay / "kustomization.yaml").is_file():  # before `mercury render` exists
        overlay.mkdir(parents=True)
        (overlay / "kustomization.yaml").write_text(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
            "namespace: customer1\nresources:\n  - ../../base/n8n-tenant\n")
    return overlay


def test_restore_writes_a_gitops_overlay_that_kustomize_builds(repo_copy, capsys) -> None:
    overlay = _ensure_overlay(repo_copy)
    args = ["backup", "restore", "customer1", "--repo", str(repo_copy), "--offline",
            "--as", "n8n-db-r2", "--to-time", "2026-01-02T03:04:05Z"]
    assert main(args) == 0
    assert (overlay / "restore" / "kustomization.yaml").is_file()
    built = [d for d in tenant_manifests(repo_copy) if d]
    names = {(d["kind"], d["metadata"]["name"]) for d in built}
    assert {("Cluster", "n8n-db"), ("Cluster", "n8n-db-r2")} <= names
    new = next(d for d in built if d["kind"] == "Cluster" and d["metadata"]["name"] == "n8n-db-r2")
    assert new["metadata"]["namespace"] == "customer1"
    assert new["spec"]["bootstrap"]["recovery"]["recoveryTarget"]["targetTime"] == \
        "2026-01-02T03:04:05Z"
    deployment = next(d for d in built if d["kind"] == "Deployment"
                      and d["metadata"]["name"] == "n8n")
    env = {e["name"]: e.get("value") for e in
           deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["DB_POSTGRESDB_HOST"] == "n8n-db-r2-rw"
    # a second restore does not silently replace a pending one
    assert main(args) == 2
    assert "already exists" in capsys.readouterr().err
    assert main([*args, "--force"]) == 0


def test_restore_overlay_passes_verify(repo_copy, crd_schemas) -> None:
    engine = pytest.importorskip("mercury.verify.engine")
    _ensure_overlay(repo_copy)
    assert main(["backup", "restore", "customer1", "--repo", str(repo_copy), "--offline",
                 "--as", "n8n-db-r3"]) == 0
    from mercury.builder import build_repo

    built = {str(o.ref) for b in build_repo(repo_copy, only="apps") for o in b.objects}
    assert "Cluster/customer1/n8n-db-r3" in built  # verify really sees the restore
    report = engine.verify_repo(repo_copy, schema_location=str(crd_schemas))
    about_restore = [f for f in report.findings
                     if "n8n-db-r3" in f.object or "restore" in (f.file or "")]
    assert about_restore == [], about_restore


# --- consistency of ObjectStore / ScheduledBackup / Cluster: the verify rule ------------

def backup_consistency(objects: list[dict]) -> list[Finding]:
    """The one implementation: the `cnpg-backup-consistency` rule (and `backup-schedule`,
    `cnpg-deprecated-barman`, which own the schedule and the in-tree method)."""
    ctx = build_context((o, "tenant.yaml") for o in objects)
    return [f for rule in (CnpgBackupConsistencyRule(), BackupScheduleRule(),
                           CnpgDeprecatedBarmanRule()) for f in run_rule(rule, ctx)]


def test_template_backup_settings_are_consistent(tenant_objects) -> None:
    assert backup_consistency(tenant_objects) == []


def _mutated(objects: list[dict], kind: str, change) -> list[dict]:
    out = copy.deepcopy(objects)
    change(next(o for o in out if o["kind"] == kind))
    return out


@pytest.mark.parametrize(("kind", "change", "rule", "message"), [
    ("ScheduledBackup", lambda o: o["spec"].update(schedule="0 2 * * *"), "backup-schedule",
     "5 fields"),
    ("ScheduledBackup", lambda o: o["spec"].update(cluster={"name": "db"}),
     "cnpg-backup-consistency", "does not exist"),
    ("ScheduledBackup", lambda o: o["spec"].pop("method"), "cnpg-backup-consistency",
     "uses method barmanObjectStore"),
    ("ScheduledBackup", lambda o: o["spec"]["pluginConfiguration"].update(
        parameters={"serverName": "other"}), "cnpg-backup-consistency[parameters]",
     "differs from Cluster"),
    ("Cluster", lambda o: o["spec"]["plugins"][0]["parameters"].update(barmanObjectName="x"),
     "cnpg-backup-consistency", "ObjectStore customer1/x does not exist"),
    ("Cluster", lambda o: o["spec"]["plugins"][0].pop("isWALArchiver"),
     "cnpg-backup-consistency[wal-archiver]", "isWALArchiver"),
    ("Cluster", lambda o: o["spec"]["plugins"][0].update(enabled=False),
     "cnpg-backup-consistency[disabled]", "disabled"),
    ("Cluster", lambda o: o["spec"].pop("plugins"), "cnpg-backup-consistency[no-archiver]",
     "nothing archives"),
])
def test_inconsistencies_are_reported(tenant_objects, kind, change, rule, message) -> None:
    problems = [p for p in backup_consistency(_mutated(tenant_objects, kind, change))
                if p.object.startswith(f"{kind}/")]
    assert [p.rule for p in problems] == [rule], problems
    assert message in problems[0].message


def test_two_clusters_sharing_a_server_name_collide(tenant_objects) -> None:
    twin = copy.deepcopy(next(o for o in tenant_objects if o["kind"] == "Cluster"))
    twin["metadata"]["name"] = "twin"
    problems = backup_consistency([*tenant_objects, twin])
    assert {p.object for p in problems} == {"Cluster/customer1/n8n-db", "Cluster/customer1/twin"}
    assert {p.rule for p in problems} == {"cnpg-backup-consistency[server-name]"}
    assert all("overwrite each other" in p.message for p in problems)


# --- the kubectl layer ------------------------------------------------------------------

def test_kube_without_a_cluster_is_one_cluster_error(tmp_path, monkeypatch) -> None:
    config = tmp_path / "kubeconfig"
    config.write_text("apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\n"
                      "users: []\n")
    monkeypatch.setenv("KUBECONFIG", str(config))
    with pytest.raises(ClusterError) as info:
        Kube(timeout=20).get("backups.postgresql.cnpg.io", "customer1")
    assert "\n" not in str(info.value)
