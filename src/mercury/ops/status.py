"""The fleet at a glance, from a Snapshot: Flux layers, HelmReleases, and each tenant.

A tenant is `ok`, `degraded` (serving, but something needs attention: a replica down,
a stale backup, a certificate about to expire) or `down` (users cannot reach n8n or
its database), with the reasons. Pure over the Snapshot, so it is tested offline.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from mercury.ops.backups import CLUSTER_NAME, backup_state
from mercury.ops.snapshot import Obj, Snapshot, condition, name_of, ns_of
from mercury.ops.times import iso, maybe_time

# A daily backup plus two hours of slack: older than this, last night's run was missed.
BACKUP_MAX_AGE = timedelta(hours=26)
# cert-manager renews Let's Encrypt certificates 30 days before expiry; with under 14
# days left, renewal has been failing for two weeks.
CERT_MIN_LEFT = timedelta(days=14)
HEALTHY_PHASE = "Cluster in healthy state"
OK, DEGRADED, DOWN = "ok", "degraded", "down"
_RANK = {OK: 0, DEGRADED: 1, DOWN: 2}


@dataclass(frozen=True)
class FluxRow:
    """One Flux Kustomization or HelmRelease and its Ready condition."""

    kind: str
    namespace: str
    name: str
    ready: str  # "True", "False", "Unknown"
    revision: str
    message: str
    suspended: bool = False

    @property
    def ok(self) -> bool:
        return self.ready == "True"


@dataclass
class TenantStatus:
    """One tenant's row: the facts, and the verdict with its reasons."""

    name: str
    health: str = OK
    reasons: list[str] = field(default_factory=list)
    n8n: str = "-"
    db_phase: str = "-"
    db_instances: str = "-"
    primary: str = "-"
    last_backup: datetime | None = None
    backup_source: str = ""
    backup_age: timedelta | None = None
    cert_ready: str = "-"
    cert_expiry: datetime | None = None
    host: str = "-"

    def mark(self, health: str, reason: str) -> None:
        self.reasons.append(reason)
        if _RANK[health] > _RANK[self.health]:
            self.health = health

    def as_json(self) -> dict[str, Any]:
        return {"tenant": self.name, "health": self.health, "reasons": self.reasons,
                "n8n_ready": self.n8n, "db_phase": self.db_phase,
                "db_instances_ready": self.db_instances, "db_primary": self.primary,
                "last_backup": iso(self.last_backup) if self.last_backup else None,
                "last_backup_source": self.backup_source or None,
                "last_backup_age_hours": (round(self.backup_age.total_seconds() / 3600, 1)
                                          if self.backup_age is not None else None),
                "certificate_ready": self.cert_ready,
                "certificate_expiry": iso(self.cert_expiry) if self.cert_expiry else None,
                "host": self.host}


@dataclass
class FleetStatus:
    taken_at: datetime
    flux: list[FluxRow]
    tenants: list[TenantStatus]

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.flux) and all(t.health == OK for t in self.tenants)

    def as_json(self) -> dict[str, Any]:
        return {"taken_at": iso(self.taken_at), "ok": self.ok,
                "flux": [{"kind": r.kind, "namespace": r.namespace, "name": r.name,
                          "ready": r.ready, "revision": r.revision, "message": r.message,
                          "suspended": r.suspended} for r in self.flux],
                "tenants": [t.as_json() for t in self.tenants]}


def flux_row(obj: Obj) -> FluxRow:
    ready = condition(obj, "Ready") or {}
    status = obj.get("status") or {}
    revision = status.get("lastAppliedRevision") or status.get("lastAttemptedRevision") or ""
    if not revision:  # HelmRelease v2: the chart version lives in the history
        history = status.get("history") or []
        revision = (history[0] or {}).get("chartVersion", "") if history else ""
    return FluxRow(kind=str(obj.get("kind", "")), namespace=ns_of(obj), name=name_of(obj),
                   ready=str(ready.get("status") or "Unknown"), revision=str(revision),
                   message=" ".join(str(ready.get("message") or "").split()),
                   suspended=bool((obj.get("spec") or {}).get("suspend")))


def last_successful_backup(snap: Snapshot, namespace: str) -> tuple[datetime | None, str]:
    """Newest successful backup time and where it was seen. Backup objects and the
    Cluster's lastSuccessfulBackup are proof; a ScheduledBackup's lastScheduleTime only
    says one was started, so it is the last resort and labelled as such."""
    found: list[tuple[datetime, str]] = []
    for b in snap.in_ns("backups", namespace):
        state = backup_state(b)
        end = maybe_time((b.get("status") or {}).get("stoppedAt"))
        if state.done and not state.failed and end:
            found.append((end, f"Backup {name_of(b)}"))
    cluster = snap.get("clusters", namespace, CLUSTER_NAME)
    if cluster:
        moment = maybe_time((cluster.get("status") or {}).get("lastSuccessfulBackup"))
        if moment:
            found.append((moment, "Cluster status"))
    if found:
        return max(found)
    scheduled = [(t, f"ScheduledBackup {name_of(s)} (started; outcome unknown)")
                 for s in snap.in_ns("scheduled_backups", namespace)
                 if (t := maybe_time((s.get("status") or {}).get("lastScheduleTime")))]
    return max(scheduled) if scheduled else (None, "")


def ingress_class_names(snap: Snapshot) -> list[str]:
    return sorted(name_of(c) for c in snap.ingressclasses)


def _n8n(snap: Snapshot, t: TenantStatus) -> None:
    dep = snap.get("deployments", t.name, "n8n")
    if dep is None:
        t.mark(DOWN, "no n8n Deployment")
        return
    want = int((dep.get("spec") or {}).get("replicas", 1))
    ready = int((dep.get("status") or {}).get("readyReplicas") or 0)
    t.n8n = f"{ready}/{want}"
    if want and not ready:
        t.mark(DOWN, f"n8n {ready}/{want} ready")
    elif ready < want:
        t.mark(DEGRADED, f"n8n {ready}/{want} ready")


def _database(snap: Snapshot, t: TenantStatus) -> None:
    cluster = snap.get("clusters", t.name, CLUSTER_NAME)
    if cluster is None:
        t.mark(DOWN, f"no CNPG Cluster {CLUSTER_NAME}")
        return
    status = cluster.get("status") or {}
    want = int(status.get("instances") or (cluster.get("spec") or {}).get("instances") or 1)
    ready = int(status.get("readyInstances") or 0)
    t.db_phase = str(status.get("phase") or "unknown")
    t.db_instances = f"{ready}/{want}"
    t.primary = str(status.get("currentPrimary") or "-")
    if not ready:
        t.mark(DOWN, f"database {ready}/{want} instances ready ({t.db_phase})")
    elif ready < want:
        t.mark(DEGRADED, f"database {ready}/{want} instances ready")
    elif t.db_phase != HEALTHY_PHASE:
        t.mark(DEGRADED, f"database phase: {t.db_phase}")
    archiving = condition(cluster, "ContinuousArchiving")
    if archiving and archiving.get("status") == "False":
        t.mark(DEGRADED, "WAL archiving failing")


def _backup(snap: Snapshot, t: TenantStatus) -> None:
    t.last_backup, t.backup_source = last_successful_backup(snap, t.name)
    if t.last_backup is not None:
        t.backup_age = snap.taken_at - t.last_backup
    cluster = snap.get("clusters", t.name, CLUSTER_NAME)
    born = maybe_time(((cluster or {}).get("metadata") or {}).get("creationTimestamp"))
    young = born is not None and snap.taken_at - born < BACKUP_MAX_AGE
    if t.backup_age is None and cluster is not None and not young:
        t.mark(DEGRADED, "no successful backup")
    elif t.backup_age is not None and t.backup_age > BACKUP_MAX_AGE:
        t.mark(DEGRADED, f"last successful backup {hours(t.backup_age)} ago")


def _edge(snap: Snapshot, t: TenantStatus) -> None:
    ing = snap.get("ingresses", t.name, "n8n") or next(iter(snap.in_ns("ingresses", t.name)),
                                                       None)
    if ing is None:
        t.mark(DOWN, "no Ingress")
    else:
        rules = (ing.get("spec") or {}).get("rules") or [{}]
        t.host = str(rules[0].get("host") or "-")
        cls = (ing.get("spec") or {}).get("ingressClassName")
        classes = ingress_class_names(snap)
        if cls and classes and cls not in classes:
            t.mark(DOWN, f"Ingress class {cls!r} does not exist")
    certs = snap.in_ns("certificates", t.name)
    if not certs:
        return
    cert = certs[0]
    ready = condition(cert, "Ready") or {}
    t.cert_ready = str(ready.get("status") or "Unknown")
    t.cert_expiry = maybe_time((cert.get("status") or {}).get("notAfter"))
    left = t.cert_expiry - snap.taken_at if t.cert_expiry else None
    if left is not None and left <= timedelta(0):
        t.mark(DOWN, f"certificate expired {iso(t.cert_expiry)}")
    elif t.cert_ready != "True":
        t.mark(DEGRADED, f"certificate not ready: {ready.get('reason') or 'unknown'}")
    elif left is not None and left < CERT_MIN_LEFT:
        t.mark(DEGRADED, f"certificate expires in {left.days} days")


def tenant_status(snap: Snapshot, name: str) -> TenantStatus:
    t = TenantStatus(name)
    if not snap.has_namespace(name):
        t.mark(DOWN, "namespace not found")
        return t
    for check in (_n8n, _database, _backup, _edge):
        check(snap, t)
    return t


def fleet_status(snap: Snapshot, tenants: list[str] | None = None) -> FleetStatus:
    """Status of every Flux object and of `tenants` (default: the snapshot's tenants)."""
    flux = [flux_row(o) for o in snap.kustomizations + snap.helmreleases]
    names = sorted(set(tenants or []) | set(snap.tenants()))
    return FleetStatus(snap.taken_at, flux, [tenant_status(snap, n) for n in names])


def hours(delta: timedelta) -> str:
    total = delta.total_seconds() / 3600
    return f"{total:.0f}h" if total < 48 else f"{total / 24:.1f}d"
