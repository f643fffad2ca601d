"""What `mercury status` and `mercury doctor` look at: one read of the cluster, as data.

A Snapshot is the objects `kubectl get -o json` returns, sorted by kind. Every decision
(health, diagnoses) is a pure function of it, so the commands are tested on JSON
fixtures and run offline from a saved file (`--snapshot FILE`) by operators without
cluster access. Secret values never enter a Snapshot: only names, types and key names.
"""

from __future__ import annotations

import json
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mercury.errors import ClusterError, InputError
from mercury.ops.kube import Kube
from mercury.ops.times import iso, maybe_time

Obj = dict[str, Any]

# kind -> (API group it must belong to, Snapshot field). Group None: any group.
# The group matters: a kustomize.config.k8s.io Kustomization is a file, not a Flux
# object, and a velero Backup is not a CNPG one.
KINDS: dict[str, tuple[str | None, str]] = {
    "Kustomization": ("kustomize.toolkit.fluxcd.io", "kustomizations"),
    "HelmRelease": ("helm.toolkit.fluxcd.io", "helmreleases"),
    "IngressClass": ("networking.k8s.io", "ingressclasses"),
    "Namespace": ("", "namespaces"),
    "Pod": ("", "pods"),
    "Event": (None, "events"),
    "Deployment": ("apps", "deployments"),
    "Service": ("", "services"),
    "Endpoints": ("", "endpoints"),
    "Ingress": ("networking.k8s.io", "ingresses"),
    "Certificate": ("cert-manager.io", "certificates"),
    "Challenge": ("acme.cert-manager.io", "challenges"),
    "Cluster": ("postgresql.cnpg.io", "clusters"),
    "Backup": ("postgresql.cnpg.io", "backups"),
    "ScheduledBackup": ("postgresql.cnpg.io", "scheduled_backups"),
    "SecretProviderClass": ("secrets-store.csi.x-k8s.io", "secret_provider_classes"),
    "Secret": ("", "secrets"),
    "Node": ("", "nodes"),  # only for spec.providerID: the subscription the cluster is in
}

# What collect_snapshot asks kubectl for in each tenant namespace.
NAMESPACED = ("pods", "events", "deployments.apps", "services", "endpoints",
              "ingresses.networking.k8s.io", "certificates.cert-manager.io",
              "challenges.acme.cert-manager.io", "clusters.postgresql.cnpg.io",
              "backups.postgresql.cnpg.io", "scheduledbackups.postgresql.cnpg.io",
              "secretproviderclasses.secrets-store.csi.x-k8s.io", "secrets")
TENANT_LABEL = "mercury.io/tenant"


@dataclass
class Snapshot:
    """Lists of live objects by kind, and the moment they were read (ages count from it)."""

    taken_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    kustomizations: list[Obj] = field(default_factory=list)
    helmreleases: list[Obj] = field(default_factory=list)
    ingressclasses: list[Obj] = field(default_factory=list)
    namespaces: list[Obj] = field(default_factory=list)
    pods: list[Obj] = field(default_factory=list)
    events: list[Obj] = field(default_factory=list)
    deployments: list[Obj] = field(default_factory=list)
    services: list[Obj] = field(default_factory=list)
    endpoints: list[Obj] = field(default_factory=list)
    ingresses: list[Obj] = field(default_factory=list)
    certificates: list[Obj] = field(default_factory=list)
    challenges: list[Obj] = field(default_factory=list)
    clusters: list[Obj] = field(default_factory=list)
    backups: list[Obj] = field(default_factory=list)
    scheduled_backups: list[Obj] = field(default_factory=list)
    secret_provider_classes: list[Obj] = field(default_factory=list)
    secrets: list[Obj] = field(default_factory=list)
    nodes: list[Obj] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # resource types the cluster lacks
    # attr -> namespace -> objects; built on first lookup, dropped by add(). Status of
    # 1,000 tenants makes ~20 lookups each: a scan per lookup would be quadratic.
    _index: dict[str, dict[str, list[Obj]]] = field(default_factory=dict, compare=False,
                                                    repr=False)

    def add(self, obj: Obj) -> bool:
        """File one object under its kind; False when it is not a kind we look at."""
        kind = obj.get("kind")
        if kind not in KINDS:
            return False
        group, attr = KINDS[str(kind)]
        api_group = str(obj.get("apiVersion") or "v1").rpartition("/")[0]
        if group is not None and api_group != group:
            return False
        if kind == "Secret":
            obj = _strip_secret(obj)
        elif kind == "Node":
            obj = {"apiVersion": "v1", "kind": "Node",
                   "metadata": {"name": name_of(obj)},
                   "spec": {"providerID": (obj.get("spec") or {}).get("providerID", "")}}
        getattr(self, attr).append(obj)
        self._index.pop(attr, None)
        return True

    def in_ns(self, attr: str, namespace: str) -> list[Obj]:
        index = self._index.get(attr)
        if index is None:
            index = defaultdict(list)
            for obj in getattr(self, attr):
                index[ns_of(obj)].append(obj)
            self._index[attr] = index
        return index.get(namespace, [])

    def get(self, attr: str, namespace: str, name: str) -> Obj | None:
        return next((o for o in self.in_ns(attr, namespace) if name_of(o) == name), None)

    def tenants(self) -> list[str]:
        """Tenant namespaces: labelled Namespaces, else namespaces holding an n8n-db Cluster."""
        labelled = [name_of(n) for n in self.namespaces
                    if TENANT_LABEL in ((n.get("metadata") or {}).get("labels") or {})]
        if labelled:
            return sorted(labelled)
        return sorted({ns_of(o) for o in self.clusters + self.deployments
                       if name_of(o) in ("n8n-db", "n8n")})

    def has_namespace(self, namespace: str) -> bool:
        if any(name_of(n) == namespace for n in self.namespaces):
            return True
        return any(self.in_ns(attr, namespace) for _, attr in KINDS.values())


def name_of(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("name") or "")


def ns_of(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("namespace") or "")


def condition(obj: Obj, kind: str) -> Obj | None:
    """A status condition by type (Ready, ContinuousArchiving, ...), or None."""
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if isinstance(cond, dict) and cond.get("type") == kind:
            return cond
    return None


def event_time(event: Obj) -> datetime | None:
    """When an event last happened: events.k8s.io fields first, then core v1 ones."""
    series = event.get("series") or {}
    for value in (series.get("lastObservedTime"), event.get("lastTimestamp"),
                  event.get("eventTime"), event.get("firstTimestamp"),
                  (event.get("metadata") or {}).get("creationTimestamp")):
        moment = maybe_time(value)
        if moment:
            return moment
    return None


def one_line(text: object, limit: int = 600) -> str:
    """Event and condition text on one line (CSI errors carry whole HTTP responses)."""
    flat = " ".join(str(text or "").split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def events_for(snap: Snapshot, ns: str, kind: str, name: str) -> list[Obj]:
    """Events about one object, newest first (core v1 involvedObject or events.k8s.io
    regarding)."""
    found = [e for e in snap.in_ns("events", ns)
             if (ref := e.get("involvedObject") or e.get("regarding") or {})
             and ref.get("kind") == kind and ref.get("name") == name]
    return sorted(found, key=lambda e: iso(event_time(e)), reverse=True)


def event_text(e: Obj) -> str:
    count = e.get("count") or (e.get("series") or {}).get("count")
    times = f" (x{count})" if count and int(count) > 1 else ""
    return one_line(f"{e.get('reason', '')}{times}: {e.get('message') or e.get('note', '')}")


def container_statuses(pod: Obj) -> list[Obj]:
    """Init containers first, then the app's: all the states kubectl describe shows."""
    status = pod.get("status") or {}
    return list(status.get("initContainerStatuses") or []) + list(
        status.get("containerStatuses") or [])


def _strip_secret(obj: Obj) -> Obj:
    """A Secret reduced to what diagnoses need; values (and annotations that may copy
    them, like last-applied-configuration) are dropped before anything keeps them."""
    meta = obj.get("metadata") or {}
    keys = sorted(set(obj.get("data") or {}) | set(obj.get("stringData") or {})
                  | set(obj.get("keys") or []))  # `keys`: an already stripped one
    return {"apiVersion": "v1", "kind": "Secret", "type": obj.get("type", ""),
            "metadata": {k: meta[k] for k in ("name", "namespace", "labels",
                                              "creationTimestamp", "ownerReferences")
                         if k in meta},
            "keys": keys}


def _objects(data: Any, hint: str = "") -> list[Obj]:
    """Objects from a kind->list map, a List, a bare list or one object."""
    if isinstance(data, list):
        return [o for item in data for o in _objects(item, hint)]
    if not isinstance(data, dict):
        return []
    if isinstance(data.get("items"), list):
        return _objects(data["items"], hint)
    if "metadata" in data:
        if "kind" not in data and hint:
            data = {**data, "kind": hint}
        return [data]
    return [o for key, value in data.items() if key not in ("takenAt", "missing")
            for o in _objects(value, key)]


def snapshot_from(data: Any, *, taken_at: datetime | None = None) -> Snapshot:
    """A Snapshot from JSON data (see load_snapshot for the accepted shapes)."""
    stamp = maybe_time(data.get("takenAt")) if isinstance(data, dict) else None
    snap = Snapshot(taken_at=taken_at or stamp or datetime.now(UTC))
    for obj in _objects(data):
        snap.add(obj)
    if isinstance(data, dict) and isinstance(data.get("missing"), list):
        snap.missing = [str(m) for m in data["missing"]]
    return snap


# Kinds without a namespace; every other object in a snapshot must name one.
CLUSTER_SCOPED = ("Namespace", "Node", "IngressClass")
_INT_FIELDS = {"Deployment": (("spec", "replicas"), ("status", "readyReplicas")),
               "Cluster": (("spec", "instances"), ("status", "instances"),
                           ("status", "readyInstances"))}


def snapshot_problem(data: Any) -> str | None:
    """Why `data` is not a snapshot the checks can trust, or None. A malformed file must
    not read as "no problems" (objects silently dropped) nor as a false CRITICAL (a
    wrong type taken for a missing object), so the shapes the checks rely on are checked
    here once, where the file is named, instead of in every check."""
    if isinstance(data, dict):
        if "takenAt" in data and maybe_time(data["takenAt"]) is None:
            return f"takenAt {data['takenAt']!r} is not an RFC 3339 time"
        if "missing" in data and not (isinstance(data["missing"], list) and all(
                isinstance(m, str) for m in data["missing"])):
            return "missing: must be a list of resource names"
        for key, value in data.items():
            if key in ("takenAt", "missing", "items", "apiVersion", "kind", "metadata"):
                continue
            if key not in KINDS:
                return f"unknown key {key!r} (expected a kind: {', '.join(KINDS)})"
            if not isinstance(value, list | dict):
                return f"{key}: must be a list of objects, not {type(value).__name__}"
    objects = _objects(data)
    for number, obj in enumerate(objects, 1):
        where = f"object {number} ({obj.get('kind') or 'no kind'})"
        problem = _object_problem(obj)
        if problem:
            return f"{where}: {problem}"
    if not any(o.get("kind") in KINDS for o in objects):
        return "no objects of a kind status/doctor look at"
    return None


def _object_problem(obj: Obj) -> str | None:
    kind = obj.get("kind")
    meta = obj.get("metadata")
    if not isinstance(kind, str) or not kind:
        return "no kind"
    if not isinstance(meta, dict) or not isinstance(meta.get("name"), str) or not meta["name"]:
        return "metadata.name missing or not a string"
    if kind not in KINDS:
        return None  # kubectl listings hold other kinds too: ignored, not judged
    if kind not in CLUSTER_SCOPED and not (isinstance(meta.get("namespace"), str)
                                           and meta["namespace"]):
        return f"{meta['name']}: metadata.namespace missing (a {kind} is namespaced)"
    for part in ("spec", "status"):
        if part in obj and not isinstance(obj[part], dict | None):
            return f"{meta['name']}: {part} is not an object"
    conditions = (obj.get("status") or {}).get("conditions")
    if conditions is not None and not (isinstance(conditions, list)
                                       and all(isinstance(c, dict) for c in conditions)):
        return f"{meta['name']}: status.conditions is not a list of objects"
    for part, key in _INT_FIELDS.get(kind, ()):
        value = (obj.get(part) or {}).get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            return f"{meta['name']}: {part}.{key} is {value!r}, not an integer"
    return None


def load_snapshot(path: Path) -> Snapshot:
    """Read a saved snapshot: `{"takenAt": ..., "Pod": [...], ...}` (kind -> list of
    objects, or -> a List), or the output of `kubectl get a,b,c -A -o json`.
    `takenAt` (RFC 3339) fixes "now" so ages stay what they were when it was saved."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"cannot read snapshot: {exc.strerror}", file=str(path)) from None
    except json.JSONDecodeError as exc:
        raise InputError(f"not JSON: {exc.msg}", file=str(path), line=exc.lineno) from None
    except UnicodeDecodeError:
        raise InputError("not UTF-8 text", file=str(path)) from None
    except RecursionError:
        raise InputError("nested too deeply to be a snapshot", file=str(path)) from None
    if not isinstance(data, dict | list):
        raise InputError("a snapshot is a JSON object or list", file=str(path))
    try:
        problem = snapshot_problem(data)
    except RecursionError:
        raise InputError("nested too deeply to be a snapshot", file=str(path)) from None
    if problem:
        raise InputError(f"not a usable snapshot: {problem}", file=str(path))
    return snapshot_from(data)


def snapshot_json(snap: Snapshot) -> dict[str, Any]:
    """The file form load_snapshot reads back (`--save-snapshot`)."""
    out: dict[str, Any] = {"takenAt": snap.taken_at.strftime("%Y-%m-%dT%H:%M:%SZ")}
    for kind, (_, attr) in KINDS.items():
        if getattr(snap, attr):
            out[kind] = getattr(snap, attr)
    if snap.missing:
        out["missing"] = snap.missing
    return out


def _optional(snap: Snapshot, kube: Kube, resource: str, **kwargs: Any) -> list[Obj]:
    """A resource whose CRD may not be installed, or that RBAC hides from this user:
    record it as missing (checks that need it stay silent), do not fail."""
    try:
        return kube.get_all(resource, **kwargs)
    except ClusterError as exc:
        if exc.reason not in ("NotFound", "Forbidden"):
            raise
        snap.missing.append(resource)
        return []


def _namespaced(kube: Kube, resource: str, namespaces: list[str]
                ) -> tuple[list[Obj], bool]:
    """Every object of one kind in `namespaces`, and whether the kind is readable.
    One list across all namespaces when there are several (1,000 tenants: one call, not
    1,000); per namespace when the user may not list cluster-wide (a namespaced Role)."""
    wanted = set(namespaces)
    if len(wanted) > 1:
        try:
            return [o for o in kube.get_all(resource) if ns_of(o) in wanted], True
        except ClusterError as exc:
            if exc.reason not in ("NotFound", "Forbidden"):
                raise
            if exc.reason == "NotFound":
                return [], False
    found: list[Obj] = []
    readable = False
    for ns in sorted(wanted):
        try:
            found += kube.get_all(resource, namespace=ns)
            readable = True
        except ClusterError as exc:
            if exc.reason not in ("NotFound", "Forbidden"):
                raise
    return found, readable


def collect_snapshot(namespaces: list[str] | None = None, kube: Kube | None = None
                     ) -> Snapshot:
    """Read the cluster through kubectl: Flux objects, IngressClasses, and every kind
    above in each tenant namespace (default: namespaces labelled mercury.io/tenant).
    Each kind is read once (across namespaces), a few reads at a time."""
    kube = kube or Kube()
    snap = Snapshot()
    for resource in ("kustomizations.kustomize.toolkit.fluxcd.io",
                     "helmreleases.helm.toolkit.fluxcd.io"):
        for obj in _optional(snap, kube, resource):
            snap.add(obj)
    for resource, kind in (("ingressclasses.networking.k8s.io", "IngressClass"),
                           ("nodes", "Node")):
        for obj in _optional(snap, kube, resource):
            snap.add({**obj, "kind": obj.get("kind") or kind})
    selector = None if namespaces else TENANT_LABEL
    for obj in kube.get_all("namespaces", selector=selector):
        if namespaces is None or name_of(obj) in namespaces:
            snap.add(obj)
    tenant_ns = namespaces or [name_of(n) for n in snap.namespaces]
    if not tenant_ns:
        return snap
    with ThreadPoolExecutor(max_workers=4) as pool:
        reads = [(r, pool.submit(_namespaced, kube, r, tenant_ns)) for r in NAMESPACED]
        for resource, future in reads:  # in NAMESPACED order: the snapshot is stable
            objects, readable = future.result()
            if not readable:
                snap.missing.append(resource)
            for obj in objects:
                snap.add(obj)
    return snap
