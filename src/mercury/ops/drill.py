"""`mercury backup drill`: prove a tenant's backup restores, on this machine.

barman-cloud restores the base backup from the object store into a scratch data dir,
PostgreSQL replays the archived WAL through `barman-cloud-wal-restore` (to the end, or
to `--to-time`), promotes, and the checks run. The scratch server runs with its own
minimal config file and pg_hba (via `-c config_file=...`), so a data dir backed up by
CNPG (whose config points at /controller/...) starts here too. Credentials come from
the environment exactly as barman-cloud reads them (AZURE_STORAGE_CONNECTION_STRING,
or AZURE_STORAGE_ACCOUNT with AZURE_STORAGE_KEY / AZURE_STORAGE_SAS_TOKEN).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from mercury.errors import InputError, ToolError
from mercury.exec import Command
from mercury.ops.backups import BackupRow, latest_restorable, rows_from_barman
from mercury.ops.pgserver import PgServer, free_port, hand_to_server_user, run_as_server
from mercury.ops.times import iso, maybe_time, postgres_time

N8N_TABLES = ("workflow_entity", "execution_entity", "credentials_entity")


@dataclass(frozen=True)
class Store:
    """Where barman-cloud finds a server's backups: `<url>/<server_name>/...`."""

    url: str
    server_name: str
    cloud_provider: str = "azure-blob-storage"
    extra_args: tuple[str, ...] = ()  # e.g. ("--azure-credential", "managed-identity")

    def argv(self, tool: str, *args: str) -> list[str]:
        bin_dir = Path(sys.executable).parent
        path = bin_dir / tool if (bin_dir / tool).is_file() else Path(tool)
        return [str(path), "--cloud-provider", self.cloud_provider, *self.extra_args,
                self.url, self.server_name, *args]


def check_reachable(url: str, timeout: float = 5) -> None:
    """Fail in seconds, not after barman-cloud's minute of retries, when nothing answers
    at the store's address (refused, unknown host, no route)."""
    parts = urlsplit(url)
    if not parts.hostname:
        raise InputError(f"storage URL {url!r} has no host")
    port = parts.port or (80 if parts.scheme == "http" else 443)
    try:
        socket.create_connection((parts.hostname, port), timeout=timeout).close()
    except OSError as exc:
        cause = exc.strerror or exc.__class__.__name__
        raise InputError(f"cannot reach the object store at {parts.hostname}:{port} "
                         f"({cause}); check --storage-url and the network") from None


def list_store(store: Store) -> list[BackupRow]:
    """The server's backups straight from the object store (barman-cloud-backup-list)."""
    check_reachable(store.url)
    out = Command(store.argv("barman-cloud-backup-list", "--format", "json"),
                  timeout=300).run().stdout
    try:
        return rows_from_barman(json.loads(out))
    except json.JSONDecodeError as exc:
        raise ToolError("barman-cloud-backup-list", 0, out, f"not JSON: {exc}") from None


def choose_backup(rows: list[BackupRow], *, backup_id: str | None = None,
                  target: datetime | None = None) -> BackupRow:
    """The backup to restore: the one asked for, else the newest that ends before target."""
    if backup_id:
        for row in rows:
            if backup_id in (row.backup_id, row.name):
                return row
        raise InputError(f"--backup-id {backup_id}: not in the store "
                         f"(have: {', '.join(r.backup_id for r in rows) or 'none'})")
    usable = [r for r in rows if r.ok and r.end is not None
              and (target is None or r.end <= target)]
    chosen = latest_restorable(usable)
    if chosen is None:
        if target is not None and latest_restorable(rows) is not None:
            raise InputError(f"--to-time {iso(target)} is before the first backup's "
                             "consistent point: nothing can be restored to that time")
        raise InputError("the store holds no completed backup for this server")
    return chosen


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


@dataclass
class DrillReport:
    backup: BackupRow
    target: datetime | None
    restore_seconds: float = 0.0  # barman-cloud-restore of the base backup
    recovery_seconds: float = 0.0  # WAL replay until promoted
    recovery_point: datetime | None = None  # last replayed commit
    row_counts: dict[str, int] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)
    data_dir: str | None = None  # set when kept

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    @property
    def total_seconds(self) -> float:
        return self.restore_seconds + self.recovery_seconds

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok, "backup": self.backup.as_json(),
            "target_time": iso(self.target) if self.target else None,
            "restore_seconds": round(self.restore_seconds, 2),
            "recovery_seconds": round(self.recovery_seconds, 2),
            "total_seconds": round(self.total_seconds, 2),
            "recovery_point": self.recovery_point.isoformat() if self.recovery_point else None,
            "row_counts": self.row_counts,
            "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in self.checks],
            "data_dir": self.data_dir,
        }


@dataclass
class DrillOptions:
    store: Store
    pg_bin: Path
    database: str = "n8n"
    expect_tables: tuple[str, ...] = N8N_TABLES
    backup_id: str | None = None
    target: datetime | None = None
    keep: bool = False
    timeout: float = 3600


def _prepare(data: Path, scratch: Path, opts: DrillOptions) -> dict[str, str]:
    """Recovery files and the `-c` settings of the scratch server."""
    auto = data / "postgresql.auto.conf"
    if auto.exists():  # the source's ALTER SYSTEM settings (archive_command, ...) stay out
        auto.rename(data / "postgresql.auto.conf.restored")
    (data / "standby.signal").unlink(missing_ok=True)
    (data / "recovery.signal").write_text("")
    (data / "pg_wal").mkdir(exist_ok=True)
    (scratch / "drill.conf").write_text("# mercury backup drill: settings are in argv\n")
    (scratch / "pg_hba.conf").write_text("local all all trust\nhost all all 127.0.0.1/32 trust\n")
    (scratch / "pg_ident.conf").write_text("")
    hand_to_server_user(scratch)
    os.chmod(data, 0o700)
    restore_cmd = " ".join([*opts.store.argv("barman-cloud-wal-restore"), "%f", "%p"])
    settings = {
        "config_file": str(scratch / "drill.conf"), "hba_file": str(scratch / "pg_hba.conf"),
        "ident_file": str(scratch / "pg_ident.conf"), "restore_command": restore_cmd,
        "recovery_target_action": "promote", "recovery_target_timeline": "latest",
        "hot_standby": "off", "archive_mode": "off", "ssl": "off",
        "shared_preload_libraries": "", "max_connections": "100", "fsync": "off",
        "logging_collector": "off",
    }
    if opts.target is not None:
        settings["recovery_target_time"] = postgres_time(opts.target)
    return settings


def _checks(server: PgServer, opts: DrillOptions, report: DrillReport) -> None:
    report.checks.append(Check("recovery finished", True,
                               f"promoted after {report.recovery_seconds:.1f}s of WAL replay"))
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{_lit(opts.database)}'")
    if exists != "1":
        report.checks.append(Check(f"database {opts.database}", False, "missing"))
        return
    for table in opts.expect_tables:
        found = server.psql(f"SELECT to_regclass('{_lit(table)}') IS NOT NULL",
                            database=opts.database)
        if found != "t":
            report.checks.append(Check(f"table {table}", False, "missing"))
            continue
        count = int(server.psql(f'SELECT count(*) FROM "{table}"', database=opts.database))
        report.row_counts[table] = count
        report.checks.append(Check(f"table {table}", True, f"{count} rows"))
    point = maybe_time(server.psql("SELECT coalesce(pg_last_xact_replay_timestamp()::text, '')"))
    report.recovery_point = point
    if point is None:
        report.checks.append(Check("recovery point", False, "no transaction was replayed"))
    elif opts.target is not None and point > opts.target:
        report.checks.append(Check("recovery point", False,
                                   f"{point.isoformat()} is after --to-time {iso(opts.target)}"))
    else:
        report.checks.append(Check("recovery point", True, f"last commit {point.isoformat()}"))


def _lit(text: str) -> str:
    return text.replace("'", "''")


def run_drill(opts: DrillOptions, *, rows: list[BackupRow] | None = None,
              progress: Callable[[str], None] = lambda _: None) -> DrillReport:
    """Restore, replay, check, tear down (unless `keep`). Raises on unusable input/tools."""
    progress("listing backups in the store")
    rows = list_store(opts.store) if rows is None else rows
    backup = choose_backup(rows, backup_id=opts.backup_id, target=opts.target)
    report = DrillReport(backup=backup, target=opts.target)
    scratch = Path(tempfile.mkdtemp(prefix="mercury-drill-"))
    data = scratch / "data"
    data.mkdir(mode=0o700)
    env = {"HOME": str(scratch)}
    hand_to_server_user(scratch)
    server = PgServer(opts.pg_bin, data, scratch, free_port(), env=env)
    try:
        progress(f"restoring base backup {backup.backup_id}")
        start = time.monotonic()
        run_as_server([*opts.store.argv("barman-cloud-restore", backup.backup_id, str(data))],
                      env=env, timeout=opts.timeout)
        report.restore_seconds = time.monotonic() - start
        settings = _prepare(data, scratch, opts)
        progress("replaying WAL" + (f" to {iso(opts.target)}" if opts.target else ""))
        start = time.monotonic()
        server.start(settings, wait=False, timeout=60)
        _wait_for_server(server)
        server.wait_until("SELECT pg_is_in_recovery()", "f", timeout=opts.timeout)
        report.recovery_seconds = time.monotonic() - start
        progress("running checks")
        _checks(server, opts, report)
    finally:
        server.stop()
        if opts.keep:
            report.data_dir = str(data)
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    return report


def _wait_for_server(server: PgServer, timeout: float = 30) -> None:
    """pg_ctl -W returns at once: wait until the postmaster wrote its PID."""
    deadline = time.monotonic() + timeout
    while server.pid is None and time.monotonic() < deadline:
        time.sleep(0.1)
        server.pid = server.read_pid()
    if server.pid is None:
        raise ToolError("postgres", 1, "", f"did not start\n{server.log_tail()}")
