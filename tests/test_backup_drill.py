"""The proof: what the platform configures restores, with nothing lost.

Real PostgreSQL 15, real barman-cloud and real Azurite on 127.0.0.1: a source server
archives WAL with the tenant's ObjectStore settings (compression, `<path>/<serverName>`),
takes a base backup, keeps writing in three batches, and archives the last segment.
`mercury backup drill` must then restore every committed row, and a point-in-time
drill between two batches must hold the first and not the second.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from backup.azurite import Azurite, start_azurite
from backup.settings import declared_settings, tenant_manifests
from backup.source import SourceDb, start_source

from mercury.cli.main import main
from mercury.ops.pgserver import PG_BIN_CANDIDATES
from mercury.ops.times import parse_time

REPO = Path(__file__).resolve().parent.parent
PG_BIN = next((Path(p) for p in PG_BIN_CANDIDATES if (Path(p) / "pg_ctl").is_file()), None)
TABLES = ["workflow_entity", "execution_entity", "drill_rows"]
BATCH_A, BATCH_B, BATCH_C = 1000, 300, 70

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(PG_BIN is None, reason="PostgreSQL server binaries are not installed"),
]


@dataclass
class Scenario:
    azurite: Azurite
    source: SourceDb
    url: str
    between_b_and_c: datetime
    last_commit: datetime


def _insert(source: SourceDb, batch: str, rows: int) -> datetime:
    source.sql(f"INSERT INTO drill_rows (batch, n) SELECT '{batch}', g "
               f"FROM generate_series(1, {rows}) g")
    return parse_time(source.sql(f"SELECT max(created) FROM drill_rows WHERE batch = '{batch}'"))


@pytest.fixture(scope="module")
def scenario() -> Iterator[Scenario]:
    assert PG_BIN is not None
    settings, destination = declared_settings(tenant_manifests(REPO))
    container = destination.rstrip("/").rsplit("/", 1)[-1]
    if container == "placeholder":  # base template only: the overlay names the tenant
        container = "customer1"
    work = Path(tempfile.mkdtemp(prefix="mercury-test-drill-"))
    os.chmod(work, 0o755)
    azurite = start_azurite(work / "azurite")
    source: SourceDb | None = None
    try:
        azurite.create_container(container)
        url = azurite.container_url(container)
        source = start_source(work / "source", PG_BIN, url, settings,
                              azurite.connection_string)
        source.sql("CREATE TABLE workflow_entity (id serial PRIMARY KEY, name text);"
                   "CREATE TABLE execution_entity (id serial PRIMARY KEY, workflow int);"
                   "CREATE TABLE drill_rows (id bigserial PRIMARY KEY, batch text, n int,"
                   " created timestamptz NOT NULL DEFAULT clock_timestamp())")
        source.sql("INSERT INTO workflow_entity (name) VALUES ('hello'), ('world')")
        _insert(source, "A", BATCH_A)
        source.base_backup()
        b_done = _insert(source, "B", BATCH_B)
        time.sleep(1.0)
        between = parse_time(source.sql("SELECT clock_timestamp()"))
        assert between > b_done
        time.sleep(1.0)
        last = _insert(source, "C", BATCH_C)
        source.switch_wal_and_wait()
        yield Scenario(azurite, source, url, between, last)
    finally:
        if source is not None:
            source.server.stop()
        azurite.stop()
        shutil.rmtree(work, ignore_errors=True)


def _drill(scenario: Scenario, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
           *extra: str) -> tuple[int, dict]:
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", scenario.azurite.connection_string)
    argv = ["backup", "drill", "customer1", "--repo", str(REPO), "--storage-url", scenario.url,
            "--server-name", scenario.source.settings.server_name, "--format", "json",
            *[a for t in TABLES for a in ("--expect-table", t)], *extra]
    capsys.readouterr()
    rc = main(argv)
    return rc, json.loads(capsys.readouterr().out)


def test_drill_restores_every_archived_row(scenario, capsys, monkeypatch) -> None:
    rc, report = _drill(scenario, capsys, monkeypatch)
    assert rc == 0, report
    assert report["ok"] is True
    assert report["row_counts"]["drill_rows"] == BATCH_A + BATCH_B + BATCH_C
    assert report["row_counts"]["workflow_entity"] == 2
    # the recovery point is the newest commit the source made (batch C's)
    assert parse_time(report["recovery_point"]) >= scenario.last_commit


def test_point_in_time_drill_stops_between_batches(scenario, capsys, monkeypatch) -> None:
    rc, report = _drill(scenario, capsys, monkeypatch, "--to-time",
                        scenario.between_b_and_c.isoformat())
    assert rc == 0, report
    # batch A (before the base backup) and B (replayed from WAL) are there, C is not
    assert report["row_counts"]["drill_rows"] == BATCH_A + BATCH_B
    assert parse_time(report["recovery_point"]) <= scenario.between_b_and_c


def test_drill_check_fails_for_a_missing_table(scenario, capsys, monkeypatch) -> None:
    rc, report = _drill(scenario, capsys, monkeypatch, "--expect-table", "no_such_table")
    assert rc == 1
    failed = [c["name"] for c in report["checks"] if not c["ok"]]
    assert failed == ["table no_such_table"]


def test_drill_refuses_a_time_before_the_first_backup(scenario, capsys, monkeypatch) -> None:
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", scenario.azurite.connection_string)
    rc = main(["backup", "drill", "customer1", "--repo", str(REPO), "--storage-url",
               scenario.url, "--to-time", "2021-01-01T00:00:00Z"])
    assert rc == 2
    assert "before the first backup" in capsys.readouterr().err


def test_list_from_store(scenario, capsys, monkeypatch) -> None:
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", scenario.azurite.connection_string)
    capsys.readouterr()
    rc = main(["backup", "list", "customer1", "--repo", str(REPO), "--from-store",
               "--storage-url", scenario.url, "--format", "json"])
    assert rc == 0
    rows = json.loads(capsys.readouterr().out)["backups"]
    assert len(rows) == 1
    assert rows[0]["status"] == "DONE"
    assert rows[0]["size_bytes"] and rows[0]["size_bytes"] > 1_000_000
