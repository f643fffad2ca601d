#!/usr/bin/env python3
"""How `mercury status` scales with the number of tenants, against a real API server.

Starts the ephemeral etcd + kube-apiserver (mercury.apiserver), installs the CRDs of
../shared/crds, then for each N loads N copies of the healthy tenant of
tests/snapshots/healthy.json (namespace, pods, events, deployments, services,
endpoints, ingress, certificate, CNPG cluster/backups, SPC, secrets; statuses patched as
the controllers would) and times `mercury status --format json` end to end (a fresh
process, kubectl reads included), best of --repeat runs.

    MERCURY_TOOLS_DIR=.tools/bin .venv/bin/python bench/status_scale.py   # N = 1, 100, 1000
    .venv/bin/python bench/status_scale.py -n 10 -n 50 --threads 4
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from live.cluster import Cluster, fixture_objects  # noqa: E402

from mercury.apiserver import launch  # noqa: E402

TENANT = "customer1"
MERCURY = str(Path(sys.executable).with_name("mercury"))


def tenant_data(name: str) -> dict[str, Any]:
    text = (REPO / "tests" / "snapshots" / "healthy.json").read_text()
    data: dict[str, Any] = json.loads(text.replace(TENANT, name))
    return data


def load(cluster_for_thread: Any, names: list[str], threads: int) -> None:
    def one(name: str) -> None:
        cluster_for_thread().load_fixture(_namespaced(tenant_data(name)))

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, names))


def _namespaced(data: dict[str, Any]) -> dict[str, Any]:
    """Only the tenant's objects (the cluster-level ones are loaded once)."""
    out: dict[str, Any] = {"takenAt": data["takenAt"]}
    for kind, objs in data.items():
        if isinstance(objs, list):
            out[kind] = [o for o in objs if o["metadata"].get("namespace")
                         not in ("flux-system", "traefik", "cert-manager", "cnpg-system",
                                 "reloader") and kind not in ("IngressClass", "Node")]
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, action="append", help="tenant counts (cumulative)")
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    counts = sorted(args.n or [1, 100, 1000])
    started = time.monotonic()
    server = launch()
    try:
        server.install_crds(REPO.parent / "shared" / "crds")
        print(f"API server ready with CRDs in {time.monotonic() - started:.1f}s", flush=True)
        import threading

        local = threading.local()

        def cluster() -> Cluster:
            if not hasattr(local, "c"):
                local.c = Cluster(server)
            return local.c

        healthy = tenant_data(TENANT)
        cluster().load_fixture({k: v for k, v in healthy.items()
                                if not isinstance(v, list) or k in (
                                    "Kustomization", "HelmRelease", "IngressClass", "Node")})
        loaded: list[str] = []
        workdir = Path(tempfile.mkdtemp(prefix="mercury-status-bench-"))
        env = {**os.environ, "KUBECONFIG": str(server.kubeconfig)}
        for n in counts:
            names = [f"t{i:04d}" for i in range(len(loaded), n)]
            t0 = time.monotonic()
            load(cluster, names, args.threads)
            loaded += names
            objects = len(fixture_objects(_namespaced(tenant_data("x")))) * len(loaded)
            print(f"N={n}: loaded {len(names)} tenants in {time.monotonic() - t0:.1f}s "
                  f"(~{objects} objects in the server)", flush=True)
            best = float("inf")
            for _ in range(args.repeat):
                t0 = time.monotonic()
                out = subprocess.run([MERCURY, "status", "--format", "json"], cwd=workdir,
                                     env=env, capture_output=True, text=True, check=False)
                best = min(best, time.monotonic() - t0)
                if out.returncode not in (0, 1):
                    print(out.stderr, file=sys.stderr)
                    return 2
            tenants = len(json.loads(out.stdout)["tenants"])
            print(f"N={n}: mercury status {best:.2f}s (best of {args.repeat}), "
                  f"{tenants} tenants reported, exit {out.returncode}", flush=True)
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
