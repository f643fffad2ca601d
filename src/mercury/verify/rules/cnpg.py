"""CloudNativePG rules: schedules, backup wiring, deprecated in-tree backups, HA."""

from __future__ import annotations

from collections.abc import Iterable

from mercury.builder.model import K8sObject
from mercury.platform.cron import cron_problem, runs_more_than_daily
from mercury.verify.context import VerifyContext
from mercury.verify.findings import Finding, Severity
from mercury.verify.rules.base import Rule
from mercury.verify.rules.index import dig

BARMAN_PLUGIN = "barman-cloud.cloudnative-pg.io"


class BackupScheduleRule(Rule):
    """A ScheduledBackup schedule is not a valid six-field (seconds first) cron expression.

    CNPG reads five fields as sec/min/hour/day/month: the seed's "daily" `0 2 * * *`
    ran every hour. A valid schedule that fires more than once a day is a warning
    (sub-id `backup-schedule[frequency]`): legal, but rarely intended for base backups.
    """

    id = "backup-schedule"
    subs = frozenset({"frequency"})
    summary = "ScheduledBackup schedule is invalid, five-field, or more often than daily"
    hint = "use six fields, seconds first: daily at 02:00 is '0 0 2 * * *'"
    tags = ("cnpg", "backup")

    def check_object(self, obj: K8sObject, ctx: VerifyContext) -> Iterable[Finding]:
        if obj.kind != "ScheduledBackup" or not obj.group.startswith("postgresql.cnpg.io"):
            return
        schedule = obj.spec.get("schedule")
        if not isinstance(schedule, str):
            return  # required field: the schema check reports it
        where = f"ScheduledBackup {obj.namespace}/{obj.name}"
        problem = cron_problem(schedule)
        if problem:
            yield self.finding(obj, f"{where}: {problem}")
        elif runs_more_than_daily(schedule):
            yield self.finding(
                obj, f"{where}: schedule {schedule!r} takes a base backup more than once a day",
                sub="frequency", severity=Severity.WARNING,
                hint="WAL archiving already gives point-in-time recovery; a daily base "
                     "backup ('0 0 2 * * *') is usually enough")


def _plugin_names(cluster: K8sObject) -> set[str]:
    return {str(p.get("name")) for p in cluster.spec.get("plugins") or [] if isinstance(p, dict)}


class CnpgBackupConsistencyRule(Rule):
    """CNPG backup wiring points at nothing: a ScheduledBackup/Backup names a missing Cluster,
    uses a method the Cluster is not configured for, or a Cluster plugin names a missing
    ObjectStore (barmanObjectName). Each means no backup is ever taken.
    """

    id = "cnpg-backup-consistency"
    summary = "ScheduledBackup/Backup/Cluster backup references do not line up"
    hint = ("ScheduledBackup.spec.cluster.name must be a Cluster in the namespace; "
            "method: plugin needs the Cluster's spec.plugins entry; barmanObjectName an "
            "ObjectStore")
    tags = ("cnpg", "backup")

    def check_all(self, ctx: VerifyContext) -> Iterable[Finding]:
        for backup in ctx.of_kind("ScheduledBackup", "Backup"):
            if backup.group.startswith("postgresql.cnpg.io"):
                yield from self._check_backup(backup, ctx)
        for cluster in ctx.of_kind("Cluster"):
            if cluster.group.startswith("postgresql.cnpg.io"):
                yield from self._check_object_stores(cluster, ctx)

    def _check_backup(self, backup: K8sObject, ctx: VerifyContext) -> Iterable[Finding]:
        name = str(dig(backup.spec, "cluster", "name") or "")
        where = f"{backup.kind} {backup.namespace}/{backup.name}"
        cluster = ctx.get("Cluster", backup.namespace, name)
        if not name:
            return
        if cluster is None:
            yield self.finding(backup, f"{where} backs up Cluster {backup.namespace}/{name}, "
                                       "which does not exist")
            return
        method = str(backup.spec.get("method") or "barmanObjectStore")
        if method == "plugin":
            plugin = str(dig(backup.spec, "pluginConfiguration", "name") or "")
            if plugin not in _plugin_names(cluster):
                yield self.finding(
                    backup, f"{where} uses method plugin '{plugin}', but Cluster "
                            f"{cluster.namespace}/{cluster.name} has no such spec.plugins entry")
        elif method == "barmanObjectStore" and not dig(cluster.spec, "backup", "barmanObjectStore"):
            extra = (" (it uses the barman-cloud plugin: set method: plugin and "
                     f"pluginConfiguration.name: {BARMAN_PLUGIN})"
                     if BARMAN_PLUGIN in _plugin_names(cluster) else "")
            yield self.finding(
                backup, f"{where} uses method barmanObjectStore (the default), but Cluster "
                        f"{cluster.namespace}/{cluster.name} has no spec.backup.barmanObjectStore"
                        f"{extra}")

    def _check_object_stores(self, cluster: K8sObject, ctx: VerifyContext) -> Iterable[Finding]:
        params = [dig(p, "parameters") for p in cluster.spec.get("plugins") or []]
        params += [dig(e, "plugin", "parameters")
                   for e in cluster.spec.get("externalClusters") or []]
        for param in params:
            store = dig(param, "barmanObjectName")
            if store and ctx.get("ObjectStore", cluster.namespace, str(store)) is None:
                yield self.finding(
                    cluster, f"Cluster {cluster.namespace}/{cluster.name} names barmanObjectName "
                             f"'{store}', but ObjectStore {cluster.namespace}/{store} does not "
                             "exist")


class CnpgDeprecatedBarmanRule(Rule):
    """A Cluster uses the in-tree `spec.backup.barmanObjectStore` (or an external cluster's
    `barmanObjectStore`), deprecated since CNPG 1.26 and due for removal; use the
    barman-cloud plugin (ObjectStore + spec.plugins) instead.
    """

    id = "cnpg-deprecated-barman"
    summary = "Cluster uses the deprecated in-tree barmanObjectStore"
    severity = Severity.WARNING
    hint = ("move the settings to a barmancloud.cnpg.io/v1 ObjectStore and reference it from "
            f"spec.plugins ({BARMAN_PLUGIN}, barmanObjectName)")
    tags = ("cnpg", "backup")

    def check_object(self, obj: K8sObject, ctx: VerifyContext) -> Iterable[Finding]:
        if obj.kind != "Cluster" or not obj.group.startswith("postgresql.cnpg.io"):
            return
        paths = ["spec.backup.barmanObjectStore"] if dig(obj.spec, "backup", "barmanObjectStore") \
            else []
        for ext in obj.spec.get("externalClusters") or []:
            if isinstance(ext, dict) and ext.get("barmanObjectStore"):
                paths.append(f"spec.externalClusters[{ext.get('name')}].barmanObjectStore")
        if paths:
            yield self.finding(obj, f"Cluster {obj.namespace}/{obj.name} uses {', '.join(paths)}, "
                                    "deprecated since CloudNativePG 1.26")


class CnpgInstancesRule(Rule):
    """A CNPG Cluster with fewer than two instances has no standby: a node drain or a lost
    disk takes the tenant's database down (and with it n8n).
    """

    id = "cnpg-instances"
    summary = "CNPG Cluster has fewer than 2 instances (no high availability)"
    severity = Severity.WARNING
    hint = "set spec.instances to 3 (one primary, two standbys), as platform.yaml does by default"
    tags = ("cnpg", "availability")

    def check_object(self, obj: K8sObject, ctx: VerifyContext) -> Iterable[Finding]:
        if obj.kind != "Cluster" or not obj.group.startswith("postgresql.cnpg.io"):
            return
        instances = obj.spec.get("instances", 1)
        if isinstance(instances, int) and instances < 2:
            yield self.finding(obj, f"Cluster {obj.namespace}/{obj.name} has {instances} "
                                    "instance(s): no standby to fail over to")
