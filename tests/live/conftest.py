"""One real API server (etcd + kube-apiserver on free loopback ports) for the live tests.

Started once per session by mercury's own launcher: generated PKI, admin kubeconfig,
the CRDs of ../shared/crds Established, the cluster's Nodes created. Torn down by PID
(process groups) at the end. Without the binaries every live test skips and says why.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from live.cluster import Cluster
from mercury.apiserver import ApiServer, launch, missing_reason

REPO = Path(__file__).resolve().parents[2]
MERCURY = str(Path(sys.executable).with_name("mercury"))
CRDS = Path(__file__).resolve().parents[3] / "shared" / "crds"


@pytest.fixture(scope="session")
def apiserver() -> Iterator[ApiServer]:
    reason = missing_reason()
    if reason is not None:
        pytest.skip(f"live tests need a real API server: {reason}")
    if not CRDS.is_dir():
        pytest.skip(f"live tests need the CRDs at {CRDS}")
    started = time.monotonic()
    server = launch()
    try:
        server.install_crds(CRDS)
        server.startup_seconds = time.monotonic() - started  # ready + CRDs Established
        print(f"\nlive API server: ready with CRDs in {server.startup_seconds:.1f}s "
              f"(pids {server.pids})")
        yield server
    finally:
        pids = list(server.pids.values())
        server.stop()
        for pid in pids:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                continue
            raise AssertionError(f"API server process {pid} survived teardown")


@pytest.fixture
def cluster(apiserver: ApiServer) -> Iterator[Cluster]:
    """The session's server, emptied of the previous test's tenant objects."""
    c = Cluster(apiserver)
    c.reset()
    try:
        yield c
    finally:
        c.close()


@pytest.fixture(scope="session")
def built() -> list[dict[str, Any]]:
    """What Flux would apply for this repository (the default environment)."""
    out = subprocess.run([MERCURY, "build"], capture_output=True, text=True, cwd=REPO,
                         check=True, timeout=300).stdout
    return [d for d in yaml.safe_load_all(out) if isinstance(d, dict)]
