"""CloudNativePG rules: schedules, backup wiring, deprecated in-tree backups, HA."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from mercury.builder.model import K8sObject
from mercury.ops.backups import barman_plugin, plugin_server_name
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
    """CNPG backup wiring that silently takes no backup or archives no WAL.

    A ScheduledBackup/Backup names a missing Cluster or a method the Cluster is not set
    up for, or a Cluster plugin names a missing ObjectStore (no sub-id); a Cluster in a
    namespace with an ObjectStore has no barman-cloud plugin entry (`[no-archiver]`);
    the entry is not `isWALArchiver: true` (`[wal-archiver]`) or is disabled
    (`[disabled]`); two Clusters archive under one serverName on one store and overwrite
    each other's WAL (`[server-name]`); a ScheduledBackup's plugin parameters disagree
    with its Cluster's (`[parameters]`).
    """

    id = "cnpg-backup-consistency"
    subs = frozenset({"no-archiver", "wal-archiver", "disabled", "server-name", "parameters"})
    summary = "ScheduledBackup/Backup/Cluster/ObjectStore backup wiring does not line up"
    hint = ("ScheduledBackup.spec.cluster.name must be a Cluster in the namespace; "
            "method: plugin needs the Cluster's spec.plugins entry; barmanObjectName an "
            "ObjectStore")
    tags = ("cnpg", "backup")

    def check_all(self, ctx: VerifyContext) -> Iterable[Finding]:
        for backup in ctx.of_kind("ScheduledBackup", "Backup"):
            if backup.group.startswith("postgresql.cnpg.io"):
                yield from self._check_backup(backup, ctx)
        writers: dict[tuple[str, str, str], list[K8sObject]] = defaultdict(list)
        for cluster in ctx.of_kind("Cluster"):
            if cluster.group.startswith("postgresql.cnpg.io"):
                yield from self._check_object_stores(cluster, ctx)
                yield from self._check_archiver(cluster, ctx)
                store = dig(barman_entry(cluster), "parameters", "barmanObjectName")
                if store:
                    key = (cluster.namespace, str(store), server_name(cluster))
                    writers[key].append(cluster)
        for (_, store, server), clusters in sorted(writers.items()):
            if len(clusters) < 2:
                continue
            for cluster in clusters:
                others = ", ".join(c.name for c in clusters if c is not cluster)
                yield self.finding(
                    cluster, f"Cluster {cluster.namespace}/{cluster.name} archives under "
                             f"serverName '{server}' on ObjectStore '{store}', as {others} "
                             "does: their WAL archives overwrite each other",
                    sub="server-name",
                    hint="give each Cluster its own plugin parameters.serverName")

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
            elif plugin == BARMAN_PLUGIN:
                yield from self._check_parameters(backup, cluster, where)
        elif method == "barmanObjectStore" and not dig(cluster.spec, "backup", "barmanObjectStore"):
            extra = (" (it uses the barman-cloud plugin: set method: plugin and "
                     f"pluginConfiguration.name: {BARMAN_PLUGIN})"
                     if BARMAN_PLUGIN in _plugin_names(cluster) else "")
            yield self.finding(
                backup, f"{where} uses method barmanObjectStore (the default), but Cluster "
                        f"{cluster.namespace}/{cluster.name} has no spec.backup.barmanObjectStore"
                        f"{extra}")

    def _check_parameters(self, backup: K8sObject, cluster: K8sObject,
                          where: str) -> Iterable[Finding]:
        wanted = dig(barman_entry(cluster), "parameters") or {}
        given = dig(backup.spec, "pluginConfiguration", "parameters") or {}
        for key in ("barmanObjectName", "serverName"):
            if key in given and wanted.get(key) and given[key] != wanted[key]:
                yield self.finding(
                    backup, f"{where} pluginConfiguration.parameters.{key} '{given[key]}' "
                            f"differs from Cluster {cluster.namespace}/{cluster.name}'s "
                            f"'{wanted[key]}': the backup lands where recovery never looks",
                    sub="parameters", hint="drop the override or make it match the Cluster")

    def _check_archiver(self, cluster: K8sObject, ctx: VerifyContext) -> Iterable[Finding]:
        where = f"Cluster {cluster.namespace}/{cluster.name}"
        entry = barman_entry(cluster)
        if entry is None:
            if any(o.namespace == cluster.namespace for o in ctx.of_kind("ObjectStore")) \
                    and not dig(cluster.spec, "backup", "barmanObjectStore"):
                yield self.finding(
                    cluster, f"{where} has no {BARMAN_PLUGIN} entry in spec.plugins, though "
                             f"its namespace has an ObjectStore: nothing archives its WAL",
                    sub="no-archiver",
                    hint=f"add spec.plugins: [{{name: {BARMAN_PLUGIN}, isWALArchiver: true, "
                         "parameters: {barmanObjectName: <store>}}]")
            return
        if entry.get("enabled") is False:
            yield self.finding(cluster, f"{where}: the {BARMAN_PLUGIN} plugin entry is "
                                        "disabled (enabled: false)", sub="disabled",
                               hint="remove `enabled: false`")
        elif entry.get("isWALArchiver") is not True:
            yield self.finding(
                cluster, f"{where}: the {BARMAN_PLUGIN} plugin entry is not isWALArchiver: "
                         "true, so WAL is not archived and point-in-time recovery is lost",
                sub="wal-archiver", hint="set isWALArchiver: true on the plugin entry")

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


def barman_entry(cluster: K8sObject) -> dict[str, Any] | None:
    """The Cluster's barman-cloud plugin entry (spec.plugins[]), if any."""
    return barman_plugin(cluster.body)


def server_name(cluster: K8sObject) -> str:
    return plugin_server_name(cluster.body)


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
