"""Benchmark `mercury backup drill` on a ~100 MB database (real PostgreSQL, barman-cloud,
Azurite), and measure what a restore loses: rows committed vs rows restored, for a
full drill and for a point-in-time drill between two batches.

    .venv/bin/python bench/backup_drill.py [--mb 100]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from backup.azurite import start_azurite  # noqa: E402
from backup.settings import declared_settings, tenant_manifests  # noqa: E402
from backup.source import SourceDb, start_source  # noqa: E402

from mercury.ops.drill import DrillOptions, DrillReport, Store, run_drill  # noqa: E402
from mercury.ops.pgserver import find_pg_bin  # noqa: E402
from mercury.ops.times import parse_time  # noqa: E402

ROW_BYTES = 200  # payload per row; with tuple overhead ~250 bytes on disk


def _insert(source: SourceDb, batch: str, rows: int) -> None:
    # random hex: compresses about 2:1 under gzip, like real data rather than a repeat
    parts = " || ".join(["md5(random()::text)"] * (ROW_BYTES // 32))
    source.sql(f"INSERT INTO drill_rows (batch, payload) SELECT '{batch}', {parts} "
               f"FROM generate_series(1, {rows}) g")


def _drill(url: str, server: str, pg_bin: Path, target=None) -> DrillReport:
    opts = DrillOptions(store=Store(url, server), pg_bin=pg_bin,
                        expect_tables=("workflow_entity", "drill_rows"), target=target)
    return run_drill(opts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=100, help="database size to build (MB)")
    args = parser.parse_args()
    pg_bin = find_pg_bin()
    settings, _ = declared_settings(tenant_manifests(ROOT))
    work = Path(tempfile.mkdtemp(prefix="mercury-bench-drill-"))
    os.chmod(work, 0o755)
    azurite = start_azurite(work / "azurite")
    source = None
    try:
        azurite.create_container("customer1")
        os.environ["AZURE_STORAGE_CONNECTION_STRING"] = azurite.connection_string
        url = azurite.container_url("customer1")
        source = start_source(work / "source", pg_bin, url, settings, azurite.connection_string)
        source.sql("CREATE TABLE workflow_entity (id serial PRIMARY KEY, name text);"
                   "CREATE TABLE drill_rows (id bigserial PRIMARY KEY, batch text, payload text,"
                   " created timestamptz NOT NULL DEFAULT clock_timestamp())")
        source.sql("INSERT INTO workflow_entity (name) VALUES ('bench')")
        _insert(source, "A", args.mb * 1024 * 1024 // 250)
        size = source.sql("SELECT pg_size_pretty(pg_database_size('n8n'))")
        t0 = time.monotonic()
        source.base_backup()
        backup_s = time.monotonic() - t0
        _insert(source, "B", 20_000)
        time.sleep(1)
        between = parse_time(source.sql("SELECT clock_timestamp()"))
        rows_at_t = int(source.sql("SELECT count(*) FROM drill_rows"))
        time.sleep(1)
        _insert(source, "C", 5_000)
        last_commit = parse_time(source.sql("SELECT max(created) FROM drill_rows"))
        source.switch_wal_and_wait()
        committed = int(source.sql("SELECT count(*) FROM drill_rows"))

        full = _drill(url, settings.server_name, pg_bin)
        pitr = _drill(url, settings.server_name, pg_bin, target=between)
        print(f"database size            {size} (drill_rows: {committed} rows)")
        stored = full.backup.size
        print(f"base backup (gzip)       {backup_s:.1f}s, "
              f"cluster size {(stored or 0) / 1048576:.0f} MB (barman's cluster_size)")
        for label, rep, expected in (("full drill", full, committed),
                                     ("point-in-time drill", pitr, rows_at_t)):
            got = rep.row_counts.get("drill_rows", -1)
            print(f"{label:<24} {rep.total_seconds:.1f}s (base restore {rep.restore_seconds:.1f}s"
                  f" + WAL replay/start {rep.recovery_seconds:.1f}s), checks "
                  f"{'passed' if rep.ok else 'FAILED'}")
            print(f"  rows restored          {got} of {expected} expected -> "
                  f"rows lost {expected - got}")
            print(f"  recovery point         {rep.recovery_point}")
        print(f"  last committed row     {last_commit}")
        print(f"  PITR target            {between}")
        ok = (full.ok and pitr.ok and full.row_counts.get("drill_rows") == committed
              and pitr.row_counts.get("drill_rows") == rows_at_t)
        return 0 if ok else 1
    finally:
        if source is not None:
            source.server.stop()
        azurite.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
