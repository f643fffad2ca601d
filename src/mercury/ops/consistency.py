"""Do a namespace's ObjectStore, ScheduledBackup and Cluster plugin settings agree?

A backup setup fails silently when these disagree: a ScheduledBackup naming a cluster
that does not exist never runs, a Cluster naming a store that does not exist archives
nothing, a five-field schedule runs hourly, and two clusters with the same
`serverName` on one store overwrite each other's WAL. Pure over object dicts, so the
verify rules and the backup commands share it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from mercury.ops.backups import PLUGIN_NAME
from mercury.platform.cron import cron_problem


@dataclass(frozen=True)
class BackupProblem:
    """One inconsistency, about the object `kind/namespace/name`."""

    kind: str
    namespace: str
    name: str
    message: str

    @property
    def object(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}"


def _meta(obj: dict[str, Any]) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


def barman_plugin(cluster: dict[str, Any]) -> dict[str, Any] | None:
    """The Cluster's barman-cloud plugin entry (spec.plugins[]), if any."""
    for entry in (cluster.get("spec") or {}).get("plugins") or []:
        if isinstance(entry, dict) and entry.get("name") == PLUGIN_NAME:
            return entry
    return None


def plugin_server_name(cluster: dict[str, Any]) -> str:
    """The serverName the Cluster archives under (the plugin defaults it to the name)."""
    entry = barman_plugin(cluster) or {}
    params = entry.get("parameters") or {}
    return str(params.get("serverName") or _meta(cluster)[1])


def backup_consistency(objects: Iterable[dict[str, Any]]) -> list[BackupProblem]:
    """Every disagreement between ObjectStores, ScheduledBackups and Clusters, per namespace."""
    by_kind: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for obj in objects:
        by_kind[str(obj.get("kind", ""))].append(obj)
    stores = {_meta(o) for o in by_kind["ObjectStore"]}
    clusters = {_meta(o): o for o in by_kind["Cluster"]
                if str(o.get("apiVersion", "")).startswith("postgresql.cnpg.io/")}
    problems: list[BackupProblem] = []
    writers: dict[tuple[str, str, str], list[str]] = defaultdict(list)

    for (ns, name), cluster in sorted(clusters.items()):
        def add(message: str, ns: str = ns, name: str = name) -> None:
            problems.append(BackupProblem("Cluster", ns, name, message))

        entry = barman_plugin(cluster)
        if entry is None:
            if stores and any(s[0] == ns for s in stores):
                add(f"has no `{PLUGIN_NAME}` entry in spec.plugins: nothing archives its WAL")
            continue
        params = entry.get("parameters") or {}
        store = params.get("barmanObjectName")
        if not store:
            add("plugin parameters lack barmanObjectName")
        elif (ns, store) not in stores:
            add(f"plugin barmanObjectName {store!r}: no ObjectStore of that name in {ns}")
        if entry.get("isWALArchiver") is not True:
            add("plugin entry is not isWALArchiver: true (WAL is not archived, no PITR)")
        if entry.get("enabled") is False:
            add("plugin entry is disabled")
        if store:
            writers[(ns, str(store), plugin_server_name(cluster))].append(name)

    for (ns, store, server), names in sorted(writers.items()):
        if len(names) > 1:
            for name in names:
                problems.append(BackupProblem(
                    "Cluster", ns, name,
                    f"shares serverName {server!r} on ObjectStore {store!r} with "
                    f"{', '.join(n for n in names if n != name)}: their WAL archives collide"))

    for sched in by_kind["ScheduledBackup"]:
        problems.extend(_scheduled_problems(sched, clusters))
    return problems


def _scheduled_problems(sched: dict[str, Any],
                        clusters: dict[tuple[str, str], dict[str, Any]]) -> list[BackupProblem]:
    ns, name = _meta(sched)
    spec = sched.get("spec") or {}
    out: list[str] = []
    problem = cron_problem(str(spec.get("schedule") or ""))
    if problem:
        out.append(problem)
    if spec.get("method") != "plugin":
        out.append(f"method is {spec.get('method') or 'barmanObjectStore (default)'!r}, "
                   "not 'plugin': it uses the deprecated in-tree barmanObjectStore")
    plugin = spec.get("pluginConfiguration") or {}
    if spec.get("method") == "plugin" and plugin.get("name") != PLUGIN_NAME:
        out.append(f"pluginConfiguration.name is {plugin.get('name')!r}, not {PLUGIN_NAME!r}")
    target = (spec.get("cluster") or {}).get("name")
    cluster = clusters.get((ns, str(target)))
    if cluster is None:
        out.append(f"cluster {target!r} does not exist in {ns}: the backup never runs")
    else:
        entry = barman_plugin(cluster) or {}
        wanted = entry.get("parameters") or {}
        params = plugin.get("parameters") or {}
        for key in ("barmanObjectName", "serverName"):
            if key in params and wanted.get(key) and params[key] != wanted[key]:
                out.append(f"pluginConfiguration.parameters.{key} {params[key]!r} differs "
                           f"from the Cluster's {wanted[key]!r}")
    return [BackupProblem("ScheduledBackup", ns, name, m) for m in out]
