"""A source PostgreSQL that archives WAL to an Azure-compatible store with barman-cloud,
configured the way the tenant's ObjectStore declares (compression, `<path>/<serverName>`).
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from mercury.ops.pgserver import PgServer, free_port, hand_to_server_user, run_as_server

VENV_BIN = Path(sys.executable).parent


@dataclass
class StoreSettings:
    """What the test takes from the tenant's ObjectStore + Cluster plugin parameters."""

    wal_compression: str | None
    data_compression: str | None
    server_name: str


def compression_flag(name: str | None) -> list[str]:
    flags = {"gzip": "--gzip", "bzip2": "--bzip2", "snappy": "--snappy", "lz4": "--lz4"}
    if name is None:
        return []
    return [flags[name]]


@dataclass
class SourceDb:
    server: PgServer
    url: str  # barman destination (the ObjectStore's destinationPath)
    settings: StoreSettings
    env: dict[str, str]

    def sql(self, text: str, database: str = "n8n") -> str:
        return self.server.psql(text, database=database)

    def base_backup(self) -> None:
        run_as_server([str(VENV_BIN / "barman-cloud-backup"), "--cloud-provider",
                       "azure-blob-storage", *compression_flag(self.settings.data_compression),
                       "--immediate-checkpoint", "-h", str(self.server.socket_dir),
                       "-p", str(self.server.port), "-U", "postgres",
                       self.url, self.settings.server_name], env=self.env, timeout=600)

    def switch_wal_and_wait(self, timeout: float = 60) -> str:
        """Close the current WAL segment and wait until the archiver shipped it."""
        segment = self.sql("SELECT pg_walfile_name(pg_switch_wal())", database="postgres")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            last = self.sql("SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver",
                            database="postgres")
            if last and last[:24] >= segment:
                return segment
            time.sleep(0.2)
        raise RuntimeError(f"WAL {segment} was not archived within {timeout}s: "
                           f"{self.server.log_tail()}")


def start_source(workdir: Path, pg_bin: Path, url: str, settings: StoreSettings,
                 connection_string: str) -> SourceDb:
    """initdb + start with WAL archiving to `url`; creates database `n8n`."""
    workdir.mkdir(parents=True, exist_ok=True)
    os.chmod(workdir, 0o755)
    data = workdir / "data"
    hand_to_server_user(workdir)
    env = {"AZURE_STORAGE_CONNECTION_STRING": connection_string, "HOME": str(workdir)}
    run_as_server([str(pg_bin / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust",
                   "--no-sync"], env=env)
    archive = " ".join([str(VENV_BIN / "barman-cloud-wal-archive"), "--cloud-provider",
                        "azure-blob-storage", *compression_flag(settings.wal_compression),
                        url, settings.server_name, "%p"])
    server = PgServer(pg_bin, data, workdir, free_port(), env=env)
    server.start({"archive_mode": "on", "archive_command": archive, "archive_timeout": "60",
                  "wal_level": "replica", "fsync": "off", "max_wal_size": "1GB"})
    server.psql("CREATE DATABASE n8n")
    return SourceDb(server, url, settings, env)
