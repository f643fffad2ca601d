"""`mercury status` and `mercury doctor` against a real API server, run as the CLI.

The platform's built objects (`mercury build`) are applied server-side, the tests play
the controllers (status patches, Pods, Events), and the snapshot mercury reads back must
carry what the fixture the pure logic is tested on carries (tests/snapshots/).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from live.cluster import TAKEN, Cluster, fixture_objects, shift_times
from mercury.apiserver import ApiServer

REPO = Path(__file__).resolve().parents[2]
SNAPS = REPO / "tests" / "snapshots"
MERCURY = str(Path(sys.executable).with_name("mercury"))


def mercury(api: ApiServer, *argv: str, kubeconfig: Path | None = None
            ) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KUBECONFIG": str(kubeconfig or api.kubeconfig)}
    return subprocess.run([MERCURY, *argv], capture_output=True, text=True, env=env,
                          cwd=REPO, timeout=300, check=False)


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SNAPS / f"{name}.json").read_text())
    return data


def _ids(data: Any) -> dict[tuple[str, str, str], dict[str, Any]]:
    return {(o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"]): o
            for o in fixture_objects(data)}


def project(live: Any, want: Any, path: str, diffs: list[str]) -> None:
    """Compare `live` with `want` on `want`'s keys only (the server adds many)."""
    if isinstance(want, dict):
        if not isinstance(live, dict):
            diffs.append(f"{path}: {live!r} is not an object")
            return
        for key, value in want.items():
            if key not in live:
                diffs.append(f"{path}.{key}: absent on the server")
            else:
                project(live[key], value, f"{path}.{key}", diffs)
    elif want != live and not (want in ({}, [], None) and live in ({}, [], None)):
        diffs.append(f"{path}: fixture {want!r}, server {live!r}")


VOLATILE = {"creationTimestamp"}  # set by the server on create, never by a client


def snapshot_diffs(live: dict[str, Any], want: dict[str, Any]) -> list[str]:
    diffs: list[str] = []
    have = _ids(live)
    for key, obj in _ids(want).items():
        if key not in have:
            diffs.append(f"{'/'.join(key)}: not read from the server")
            continue
        clean = {**obj, "metadata": {k: v for k, v in obj["metadata"].items()
                                     if k not in VOLATILE}}
        project(have[key], clean, "/".join(key), diffs)
    diffs += [f"{'/'.join(k)}: read but not in the fixture" for k in have
              if k not in _ids(want)]
    return diffs


def status_json(api: ApiServer, tmp: Path, name: str, data: dict[str, Any], loaded: Any
                ) -> tuple[dict[str, Any], dict[str, Any], int]:
    """Live status (saving the snapshot) and the same status from the shifted fixture."""
    saved = tmp / f"{name}-live.json"
    live = mercury(api, "status", "--format", "json", "--save-snapshot", str(saved))
    assert live.returncode in (0, 1), live.stderr
    read = json.loads(saved.read_text())
    moment = read["takenAt"]
    shifted = shift_times(data, loaded - TAKEN)
    shifted["takenAt"] = moment
    ref = tmp / f"{name}-fixture.json"
    ref.write_text(json.dumps(shifted))
    offline = mercury(api, "status", "--format", "json", "--snapshot", str(ref))
    assert offline.returncode == live.returncode, offline.stderr
    return json.loads(live.stdout), json.loads(offline.stdout), live.returncode


def test_healthy_fleet_live_equals_the_snapshot_logic(cluster: Cluster, built: list[Any],
                                                      tmp_path: Path) -> None:
    data = fixture("healthy")
    loaded = cluster.load_fixture(data, built)
    live, offline, code = status_json(cluster.server, tmp_path, "healthy", data, loaded)
    assert code == 0, live
    assert live["tenants"] == offline["tenants"]
    # The server lists by name; the fixture holds the dependency order.
    key = lambda r: (r["kind"], r["namespace"], r["name"])  # noqa: E731
    assert sorted(live["flux"], key=key) == sorted(offline["flux"], key=key)
    read = json.loads((tmp_path / "healthy-live.json").read_text())
    shifted = shift_times(data, loaded - TAKEN)
    diffs = snapshot_diffs(read, shifted)
    print("\n".join(["server vs fixture:", *diffs]))
    doctor = mercury(cluster.server, "doctor", "customer1")
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    assert "no problems found" in doctor.stdout


INCIDENTS = {
    # fixture -> (doctor diagnosis id expected, status health)
    "csi-identity": "csi",
    "ingress-class": "ingress-class",
    "backup-failed": "backup-failed",
    "crashloop": "crash",
}


@pytest.mark.parametrize("name", sorted(INCIDENTS))
def test_seed_incidents_live(cluster: Cluster, built: list[Any], tmp_path: Path,
                             name: str) -> None:
    data = fixture(name)
    loaded = cluster.load_fixture(data)  # the fixture's own specs (its SPC, its Ingress)
    live, offline, code = status_json(cluster.server, tmp_path, name, data, loaded)
    assert code == 1
    assert live["tenants"] == offline["tenants"]
    live_doc = mercury(cluster.server, "doctor", "customer1", "--format", "json")
    ref = mercury(cluster.server, "doctor", "customer1", "--format", "json",
                  "--snapshot", str(tmp_path / f"{name}-fixture.json"))
    assert live_doc.returncode == ref.returncode == 1, live_doc.stderr
    got, want = json.loads(live_doc.stdout), json.loads(ref.stdout)
    got_ids, want_ids = [d["id"] for d in got["diagnoses"]], [d["id"] for d in want["diagnoses"]]
    print(name, "live:", got_ids, "fixture:", want_ids)
    assert INCIDENTS[name] in " ".join(got_ids)
    # The server stamps creationTimestamp itself: a Cluster made a moment ago is young,
    # so the checks that wait out a new cluster's first day stay silent live.
    young = {"backup-stale", "backup-schedule"}
    assert [i for i in got_ids if i not in young] == [i for i in want_ids if i not in young]


def test_wal_archiving_failure_live(cluster: Cluster, built: list[Any], tmp_path: Path
                                    ) -> None:
    data = fixture("healthy")
    cl = data["Cluster"][0]
    conds = [c for c in cl["status"].get("conditions", []) if c["type"] != "ContinuousArchiving"]
    conds.append({"type": "ContinuousArchiving", "status": "False",
                  "reason": "ContinuousArchivingFailing",
                  "message": "unexpected failure invoking barman-cloud-wal-archive: exit 4",
                  "lastTransitionTime": "2026-05-10T11:00:00Z"})
    cl["status"]["conditions"] = conds
    loaded = cluster.load_fixture(data, built)
    live, offline, code = status_json(cluster.server, tmp_path, "wal", data, loaded)
    assert code == 1 and live["tenants"] == offline["tenants"]
    assert "WAL archiving failing" in live["tenants"][0]["reasons"]
