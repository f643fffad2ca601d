"""`mercury status`: Flux layers, HelmReleases and every tenant's health, at a glance.

Live through the kubeconfig (kubectl), or offline from a saved snapshot
(`--snapshot FILE`, written by `--save-snapshot`) for people without cluster access.
Exit 0 all healthy, 1 something degraded/down, 2 unusable input or no cluster.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from mercury.cli.common import add_repo_arg
from mercury.errors import InputError
from mercury.fsutil import write_atomic
from mercury.ops.snapshot import Snapshot, collect_snapshot, load_snapshot, snapshot_json
from mercury.ops.status import DOWN, HEALTHY_PHASE, OK, FleetStatus, fleet_status, hours
from mercury.ops.times import iso
from mercury.platform import PLATFORM_FILE, load_platform

_STYLE = {OK: "green", "degraded": "yellow", DOWN: "red"}


def add_snapshot_args(parser: argparse.ArgumentParser) -> None:
    """Flags status and doctor share: where the objects come from."""
    add_repo_arg(parser)
    parser.add_argument("--snapshot", type=Path, metavar="FILE",
                        help="read objects from this JSON file instead of the cluster")
    parser.add_argument("--context", help="kubeconfig context (default: the current one)")


def register(sub: Any) -> None:
    parser = sub.add_parser("status", help="health of Flux and of every tenant (live)",
                            description="The fleet at a glance: Flux Kustomizations and "
                            "HelmReleases, and per tenant n8n, database, backups, "
                            "certificate and host, each tenant ok/degraded/down.")
    add_snapshot_args(parser)
    parser.add_argument("--env", help="only this environment's tenants from platform.yaml")
    parser.add_argument("--format", choices=("table", "json"), default="table")
    parser.add_argument("--save-snapshot", type=Path, metavar="FILE",
                        help="also write what was read, for `--snapshot` later")
    parser.set_defaults(func=run)


def platform_tenants(repo: Path, env: str | None) -> list[str] | None:
    """Tenants platform.yaml expects in this cluster; None without a platform.yaml.
    With several environments and no --env, the cluster's environment is unknown, so
    platform.yaml adds nothing (a prod tenant is not 'down' in staging)."""
    if not (repo / PLATFORM_FILE).is_file():
        return None
    platform = load_platform(repo)
    if env is not None and env not in platform.environments:
        raise InputError(f"unknown environment {env!r} "
                         f"(known: {', '.join(sorted(platform.environments))})")
    if env is None and len(platform.environments) != 1:
        return []
    return sorted(n for n, t in platform.tenants.items() if env in (None, t.environment))


def get_snapshot(args: argparse.Namespace, namespaces: list[str] | None) -> Snapshot:
    """The snapshot file when given, else a live read (ClusterError when unreachable)."""
    if args.snapshot is not None:
        return load_snapshot(args.snapshot)
    from mercury.ops.kube import Kube

    return collect_snapshot(namespaces or None, Kube(args.context))


def run(args: argparse.Namespace) -> int:
    expected = platform_tenants(args.repo, args.env)
    snap = get_snapshot(args, expected)
    if args.save_snapshot is not None:
        try:
            write_atomic(args.save_snapshot, json.dumps(snapshot_json(snap), indent=2) + "\n")
        except OSError as exc:  # a file where a directory belongs, read-only, full disk
            raise InputError(f"cannot write snapshot: {exc.strerror or exc}",
                             file=str(args.save_snapshot)) from None
    fleet = fleet_status(snap, expected)
    if args.format == "json":
        print(json.dumps(fleet.as_json(), indent=2))
    else:
        print_fleet(fleet)
    return 0 if fleet.ok else 1


def _short(revision: str) -> str:
    """`main@sha1:3f2a9c41d8e0...` -> `main@sha1:3f2a9c41`, like `flux get` prints it."""
    ref, sep, digest = revision.partition(":")
    return f"{ref}{sep}{digest[:8]}" if sep and len(digest) > 12 else revision


def _phase(phase: str) -> str:
    return "healthy" if phase == HEALTHY_PHASE else escape(phase)


def print_fleet(fleet: FleetStatus) -> None:
    console = Console(highlight=False)
    flux = Table(title=f"Flux ({iso(fleet.taken_at)})", title_justify="left")
    for col in ("kind", "name", "ready", "revision", "message"):
        flux.add_column(col, overflow="fold")
    for r in fleet.flux:
        ready = f"[{'green' if r.ok else 'red'}]{r.ready}[/]" + (" (suspended)"
                                                                  if r.suspended else "")
        flux.add_row(r.kind, f"{r.namespace}/{r.name}", ready, escape(_short(r.revision)),
                     "" if r.ok else escape(r.message))
    if fleet.flux:
        console.print(flux)
    else:
        console.print("Flux: no Kustomizations or HelmReleases seen")
    tenants = Table(title="Tenants", title_justify="left")
    for col in ("tenant", "health", "n8n", "database", "primary", "last backup", "cert",
                "host"):
        tenants.add_column(col, overflow="fold")
    for t in fleet.tenants:
        backup = f"{hours(t.backup_age)} ago" if t.backup_age is not None else "none"
        expiry = f" until {t.cert_expiry:%Y-%m-%d}" if t.cert_expiry else ""
        tenants.add_row(t.name, f"[{_STYLE[t.health]}]{t.health}[/]", t.n8n,
                        f"{t.db_instances} {_phase(t.db_phase)}", t.primary, backup,
                        f"{t.cert_ready}{expiry}", t.host)
    console.print(tenants if fleet.tenants else "Tenants: none found")
    for t in fleet.tenants:
        for reason in t.reasons:
            console.print(f"[{_STYLE[t.health]}]{t.name}[/]: {escape(reason)}", soft_wrap=True)
