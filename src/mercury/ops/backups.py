"""A tenant's backups as data: CNPG Backup objects, barman-cloud listings, status.

Everything here is pure over dicts (what `kubectl get -o json` and
`barman-cloud-backup-list --format json` return) so it is tested without a cluster.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from mercury.ops.times import maybe_time

PLUGIN_NAME = "barman-cloud.cloudnative-pg.io"
CLUSTER_NAME = "n8n-db"
OBJECT_STORE_NAME = "n8n-backups"
SCHEDULED_BACKUP_NAME = "n8n-db-scheduled"

# CNPG Backup phases (api/v1 backup_types.go); anything else is still in progress.
_DONE = {"completed"}
_FAILED = {"failed", "walarchivingfailing"}


@dataclass(frozen=True)
class BackupState:
    """Where a Backup is: finished?, failed?, and a one-line message for the progress bar."""

    done: bool
    failed: bool
    message: str


def backup_state(backup: dict[str, Any]) -> BackupState:
    """Interpret a CNPG Backup object's status (missing status = not picked up yet)."""
    status = backup.get("status") or {}
    phase = str(status.get("phase") or "").strip()
    error = str(status.get("error") or "").strip()
    key = phase.lower()
    if key in _FAILED or (error and key not in _DONE):
        return BackupState(True, True, f"{phase or 'failed'}: {error or 'no error message'}")
    if key in _DONE:
        ident = status.get("backupId") or status.get("backupName") or ""
        return BackupState(True, False, f"completed {ident}".strip())
    if not phase:
        return BackupState(False, False, "waiting for the operator to pick it up")
    wal = status.get("beginWal")
    return BackupState(False, False, f"{phase}" + (f" (from WAL {wal})" if wal else ""))


def backup_object(tenant: str, *, cluster: str = CLUSTER_NAME,
                  now: datetime | None = None) -> dict[str, Any]:
    """The on-demand CNPG Backup `mercury backup now` creates (method plugin)."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return {
        "apiVersion": "postgresql.cnpg.io/v1",
        "kind": "Backup",
        "metadata": {
            "name": f"{cluster}-manual-{moment:%Y%m%d%H%M%S}",
            "namespace": tenant,
            "labels": {"mercury.io/tenant": tenant, "mercury.io/backup": "manual"},
        },
        "spec": {
            "cluster": {"name": cluster},
            "method": "plugin",
            "pluginConfiguration": {"name": PLUGIN_NAME},
        },
    }


@dataclass(frozen=True)
class BackupRow:
    """One backup, whichever source it came from."""

    name: str
    begin: datetime | None
    end: datetime | None
    status: str
    size: int | None = None  # bytes; the Backup object does not carry one
    backup_id: str = ""
    server_name: str = ""

    @property
    def ok(self) -> bool:
        return self.status.lower() in {"completed", "done"}

    def as_json(self) -> dict[str, Any]:
        from mercury.ops.times import iso

        return {"name": self.name, "backup_id": self.backup_id, "status": self.status,
                "begin": iso(self.begin) if self.begin else None,
                "end": iso(self.end) if self.end else None,
                "size_bytes": self.size, "server_name": self.server_name}


def _sort_key(row: BackupRow) -> tuple[datetime, str]:
    return (row.begin or datetime.min.replace(tzinfo=UTC), row.name)


def rows_from_objects(items: list[dict[str, Any]], *, cluster: str = CLUSTER_NAME
                      ) -> list[BackupRow]:
    """Rows from CNPG Backup objects (`kubectl get backups -o json` items) of `cluster`."""
    rows = []
    for item in items:
        if item.get("kind") not in (None, "Backup"):
            continue
        spec = item.get("spec") or {}
        if (spec.get("cluster") or {}).get("name") != cluster:
            continue
        status = item.get("status") or {}
        state = backup_state(item)
        label = status.get("phase") or ("pending" if not state.done else "unknown")
        rows.append(BackupRow(
            name=str((item.get("metadata") or {}).get("name", "")),
            begin=maybe_time(status.get("startedAt")),
            end=maybe_time(status.get("stoppedAt")),
            status=str(label),
            backup_id=str(status.get("backupId") or ""),
            server_name=str(status.get("serverName") or ""),
        ))
    return sorted(rows, key=_sort_key)


def rows_from_barman(listing: dict[str, Any]) -> list[BackupRow]:
    """Rows from `barman-cloud-backup-list --format json` output."""
    rows = []
    for item in listing.get("backups_list") or []:
        size = item.get("size") or item.get("deduplicated_size") or item.get("cluster_size")
        rows.append(BackupRow(
            name=str(item.get("backup_name") or item.get("backup_id") or ""),
            begin=maybe_time(item.get("begin_time_iso")) or maybe_time(item.get("begin_time")),
            end=maybe_time(item.get("end_time_iso")) or maybe_time(item.get("end_time")),
            status=str(item.get("status") or "UNKNOWN"),
            size=int(size) if isinstance(size, int | float) else None,
            backup_id=str(item.get("backup_id") or ""),
            server_name=str(item.get("server_name") or ""),
        ))
    return sorted(rows, key=_sort_key)


def first_restorable(rows: list[BackupRow]) -> BackupRow | None:
    """The oldest successful backup with an end time: nothing is restorable before it."""
    good = [r for r in rows if r.ok and r.end is not None]
    return min(good, key=lambda r: r.end or datetime.max.replace(tzinfo=UTC), default=None)


def latest_restorable(rows: list[BackupRow]) -> BackupRow | None:
    good = [r for r in rows if r.ok and r.end is not None]
    return max(good, key=lambda r: r.end or datetime.min.replace(tzinfo=UTC), default=None)


def human_size(size: int | None) -> str:
    if size is None:
        return "-"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


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
    return str(params.get("serverName") or (cluster.get("metadata") or {}).get("name") or "")
