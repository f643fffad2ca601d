"""`mercury backup now|list|restore --apply` against the real server; the test plays CNPG."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from live.cluster import Cluster
from live.test_status_live import MERCURY, REPO, fixture, mercury

BACKUPS = "/apis/postgresql.cnpg.io/v1/namespaces/customer1/backups"


def test_backup_now_is_followed_until_cnpg_completes_it(cluster: Cluster,
                                                         built: list[Any]) -> None:
    cluster.load_fixture(fixture("healthy"), built)
    before = {b["metadata"]["name"] for b in cluster.client.get(BACKUPS).body["items"]}
    env = {**os.environ, "KUBECONFIG": str(cluster.server.kubeconfig)}
    proc = subprocess.Popen([MERCURY, "backup", "now", "customer1", "--timeout", "120"],
                            cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline, new = time.monotonic() + 60, None
        while new is None and time.monotonic() < deadline:
            items = cluster.client.get(BACKUPS).body["items"]
            new = next((b for b in items if b["metadata"]["name"] not in before), None)
            time.sleep(0.2)
        assert new is not None, "no Backup created"
        assert new["spec"]["method"] == "plugin"
        cluster.patch_status(new, {"phase": "running", "startedAt": "2026-12-03T11:00:00Z"})
        time.sleep(2.5)
        cluster.patch_status(new, {"phase": "completed", "backupId": "20261203T110000",
                                   "startedAt": "2026-12-03T11:00:00Z",
                                   "stoppedAt": "2026-12-03T11:00:30Z"})
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "done" in err and "completed 20261203T110000" in err
    listed = mercury(cluster.server, "backup", "list", "customer1", "--format", "json")
    assert listed.returncode == 0, listed.stderr
    names = [b["name"] for b in json.loads(listed.stdout)["backups"]]
    assert new["metadata"]["name"] in names


def test_backup_restore_apply_server_side(cluster: Cluster, built: list[Any],
                                          tmp_path: Path) -> None:
    cluster.load_fixture(fixture("healthy"), built)
    repo = tmp_path / "repo"
    shutil.copytree(REPO, repo, ignore=shutil.ignore_patterns(
        ".venv", ".git", ".tools", "tests", "*.pyc", ".mypy_cache", ".ruff_cache"))
    env = {**os.environ, "KUBECONFIG": str(cluster.server.kubeconfig)}
    out = subprocess.run([MERCURY, "backup", "restore", "customer1", "--apply", "--repo",
                          str(repo), "--as", "n8n-db-restore"], capture_output=True,
                         text=True, env=env, timeout=300, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    got = cluster.client.get(
        "/apis/postgresql.cnpg.io/v1/namespaces/customer1/clusters/n8n-db-restore")
    assert got.ok, got.body
    assert got.body["spec"]["bootstrap"]["recovery"]["source"] == "origin"
    dep = cluster.client.get("/apis/apps/v1/namespaces/customer1/deployments/n8n").body
    env_vars = {e["name"]: e.get("value")
                for c in dep["spec"]["template"]["spec"]["containers"]
                for e in c.get("env") or []}
    assert env_vars["DB_POSTGRESDB_HOST"] == "n8n-db-restore-rw"
    assert (repo / "apps" / "staging" / "customer1" / "restore" / "cluster.yaml").is_file()
