"""`mercury backup restore`: the manifests of a new Cluster recovered from the tenant's store.

The new Cluster copies the source Cluster's shape, bootstraps with `recovery` from an
`externalClusters[]` entry that reads the tenant's ObjectStore through the barman-cloud
plugin (source `serverName`), and archives its own WAL under a *new* serverName, so it
can never write over the source's archive. The n8n Deployment is patched to the new
`<name>-rw` service. NetworkPolicies that admit the source cluster's pods are cloned
for the new one (policies add up), or the restored database would be unreachable.
Pure: objects in, objects out.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mercury.errors import InputError
from mercury.ops.backups import (
    CLUSTER_NAME,
    PLUGIN_NAME,
    BackupRow,
    barman_plugin,
    first_restorable,
    plugin_server_name,
)
from mercury.ops.times import iso

SOURCE_ALIAS = "origin"
DB_HOST_ENV = "DB_POSTGRESDB_HOST"
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,48}[a-z0-9])?$")
_WI_CLIENT = "azure.workload.identity/client-id"


@dataclass
class RestorePlan:
    """What a restore creates; `objects()` is the YAML stream to apply or commit."""

    tenant: str
    name: str
    source_cluster: str
    source_server: str
    server_name: str
    store: str
    target: datetime | None
    cluster: dict[str, Any]
    network_policies: list[dict[str, Any]] = field(default_factory=list)
    deployment_patch: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def objects(self) -> list[dict[str, Any]]:
        return [self.cluster, *self.network_policies, self.deployment_patch]


def default_name(now: datetime) -> str:
    return f"{CLUSTER_NAME}-restore-{now.astimezone(UTC):%Y%m%d%H%M}"


def rfc3339(moment: datetime) -> str:
    """RFC 3339 UTC, keeping microseconds when there are any (PITR can need them)."""
    moment = moment.astimezone(UTC)
    if moment.microsecond:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def check_target_time(target: datetime, rows: list[BackupRow] | None, now: datetime) -> None:
    """Refuse a target in the future, or before the first restorable backup.

    `rows` None means the backups could not be listed (offline): only the future is
    checked then, and the operator's recovery will fail loudly if no backup precedes it.
    """
    if target > now:
        raise InputError(f"--to-time {iso(target)} is in the future (now is {iso(now)})")
    if rows is None:
        return
    first = first_restorable(rows)
    if first is None:
        raise InputError("no completed backup exists: there is nothing to restore from "
                         "(run `mercury backup now TENANT` first)")
    if first.end is not None and target < first.end:
        raise InputError(
            f"--to-time {iso(target)} is before the first backup's consistent point "
            f"{iso(first.end)} ({first.name}, began {iso(first.begin)}): nothing can be "
            "restored to that time")


def _find(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any] | None:
    for obj in objects:
        if obj.get("kind") == kind and (obj.get("metadata") or {}).get("name") == name:
            return obj
    return None


def _clean_metadata(meta: dict[str, Any], name: str, tenant: str) -> dict[str, Any]:
    labels = {k: v for k, v in (meta.get("labels") or {}).items()
              if not k.startswith("kustomize.toolkit.fluxcd.io/")}
    out: dict[str, Any] = {"name": name, "namespace": tenant}
    if labels:
        out["labels"] = labels
    return out


def _relabel(node: Any, source: str, new: str) -> tuple[Any, bool]:
    """Copy `node` with every `cnpg.io/cluster: <source>` label value set to `new`."""
    if isinstance(node, dict):
        changed, out = False, {}
        for key, value in node.items():
            if key == "cnpg.io/cluster" and value == source:
                out[key], changed = new, True
            else:
                out[key], sub = _relabel(value, source, new)
                changed = changed or sub
        return out, changed
    if isinstance(node, list):
        items = [_relabel(v, source, new) for v in node]
        return [v for v, _ in items], any(c for _, c in items)
    return node, False


def plan_restore(tenant: str, objects: list[dict[str, Any]], *, name: str | None = None,
                 target: datetime | None = None, rows: list[BackupRow] | None = None,
                 now: datetime | None = None, source: str = CLUSTER_NAME) -> RestorePlan:
    """Build the restore manifests from the tenant's objects (template build or live)."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    new = name or default_name(now)
    if not _NAME.fullmatch(new):
        raise InputError(f"--as {new!r}: a cluster name is 1-50 lowercase letters, digits "
                         "or '-', starting and ending with a letter or digit")
    if new == source:
        raise InputError(f"--as {new!r} is the source cluster's own name")
    if target is not None:
        check_target_time(target, rows, now)
    cluster_src = _find(objects, "Cluster", source)
    if cluster_src is None:
        raise InputError(f"tenant {tenant}: no CNPG Cluster {source!r} in its manifests")
    entry = barman_plugin(cluster_src)
    store = str(((entry or {}).get("parameters") or {}).get("barmanObjectName") or "")
    if not store:
        raise InputError(f"Cluster {tenant}/{source} has no {PLUGIN_NAME} plugin with a "
                         "barmanObjectName: there is no backup store to restore from")
    if _find(objects, "ObjectStore", store) is None:
        raise InputError(f"tenant {tenant}: Cluster {source} names ObjectStore {store!r}, "
                         "which does not exist")
    source_server = plugin_server_name(cluster_src)
    if new == source_server:
        raise InputError(f"--as {new!r} equals the source serverName: the restored cluster "
                         "would archive over the source's WAL")
    plan = RestorePlan(tenant, new, source, source_server, new, store, target,
                       cluster=_cluster(tenant, cluster_src, new, store, source_server, target))
    if "serviceAccountName" in plan.cluster["spec"]:
        plan.notes.append(f"uses ServiceAccount {source!r} (the source cluster's, federated "
                          "for workload identity) so it can read the store")
    for obj in objects:
        if obj.get("kind") != "NetworkPolicy":
            continue
        body, changed = _relabel(obj.get("spec") or {}, source, new)
        if changed:
            orig = (obj.get("metadata") or {}).get("name", "policy")
            plan.network_policies.append({
                "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                "metadata": _clean_metadata(obj.get("metadata") or {}, f"{orig}-{new}", tenant),
                "spec": body})
    plan.deployment_patch = _deployment_patch(tenant, objects, new)
    return plan


def _cluster(tenant: str, src: dict[str, Any], new: str, store: str, source_server: str,
             target: datetime | None) -> dict[str, Any]:
    spec = copy.deepcopy(src.get("spec") or {})
    initdb = (spec.pop("bootstrap", None) or {}).get("initdb") or {}
    for key in ("externalClusters", "replica", "backup"):
        spec.pop(key, None)
    others = [p for p in spec.get("plugins") or [] if p.get("name") != PLUGIN_NAME]
    spec["plugins"] = [*others, {"name": PLUGIN_NAME, "isWALArchiver": True,
                                 "parameters": {"barmanObjectName": store, "serverName": new}}]
    template = spec.get("serviceAccountTemplate") or {}
    if _WI_CLIENT in ((template.get("metadata") or {}).get("annotations") or {}):
        # The federated credential trusts system:serviceaccount:<tenant>:<source> only.
        spec.pop("serviceAccountTemplate")
        spec["serviceAccountName"] = str(src["metadata"]["name"])
    recovery: dict[str, Any] = {"source": SOURCE_ALIAS}
    for key in ("database", "owner", "secret"):
        if key in initdb:
            recovery[key] = copy.deepcopy(initdb[key])
    if target is not None:
        recovery["recoveryTarget"] = {"targetTime": rfc3339(target)}
    spec["bootstrap"] = {"recovery": recovery}
    spec["externalClusters"] = [{
        "name": SOURCE_ALIAS,
        "plugin": {"name": PLUGIN_NAME,
                   "parameters": {"barmanObjectName": store, "serverName": source_server}},
    }]
    meta = _clean_metadata(src.get("metadata") or {}, new, tenant)
    meta.setdefault("labels", {})["mercury.io/restore-of"] = str(src["metadata"]["name"])
    if target is not None:
        meta["annotations"] = {"mercury.io/restore-target-time": rfc3339(target)}
    return {"apiVersion": src.get("apiVersion", "postgresql.cnpg.io/v1"), "kind": "Cluster",
            "metadata": meta, "spec": spec}


def _deployment_patch(tenant: str, objects: list[dict[str, Any]], new: str) -> dict[str, Any]:
    deployment = _find(objects, "Deployment", "n8n")
    if deployment is None:
        raise InputError(f"tenant {tenant}: no Deployment 'n8n' to point at the restored database")
    containers = (((deployment.get("spec") or {}).get("template") or {}).get("spec")
                  or {}).get("containers") or []
    if not containers:
        raise InputError(f"Deployment {tenant}/n8n has no containers")
    chosen = next((c for c in containers
                   if any(e.get("name") == DB_HOST_ENV for e in c.get("env") or [])),
                  containers[0])
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "n8n", "namespace": tenant},
        "spec": {"template": {"spec": {"containers": [{
            "name": chosen["name"],
            "env": [{"name": DB_HOST_ENV, "value": f"{new}-rw"}],
        }]}}},
    }
