"""`mercury doctor TENANT`: walk the seed's debugging workflow and say what is wrong.

Exit 0 no problems, 1 problems found, 2 unknown tenant / unusable input / no cluster.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from rich.console import Console
from rich.markup import escape

from mercury.cli.status import add_snapshot_args, get_snapshot
from mercury.errors import InputError
from mercury.ops.doctor import DoctorReport, diagnose
from mercury.ops.snapshot import Snapshot
from mercury.ops.times import iso
from mercury.platform import PLATFORM_FILE, load_platform

_STYLE = {"critical": "bold red", "error": "red", "warning": "yellow"}


def register(sub: Any) -> None:
    parser = sub.add_parser("doctor", help="diagnose one tenant (live)",
                            description="Check a tenant the way the seed's debugging "
                            "workflow does (Flux, pods, events, CSI mounts, ingress class, "
                            "certificates, database, backups) and print each problem with "
                            "the evidence seen and the fix, most severe first.")
    parser.add_argument("tenant", metavar="TENANT")
    add_snapshot_args(parser)
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.set_defaults(func=run)


def _check_known(args: argparse.Namespace, snap: Snapshot | None) -> None:
    """platform.yaml decides which tenants exist when there is one; else the snapshot."""
    if (args.repo / PLATFORM_FILE).is_file():
        known = load_platform(args.repo).tenants
        if args.tenant not in known:
            raise InputError(f"unknown tenant {args.tenant!r} "
                             f"(known: {', '.join(sorted(known)) or 'none'})")
    elif snap is not None and not snap.has_namespace(args.tenant):
        raise InputError(f"unknown tenant {args.tenant!r}: no namespace {args.tenant!r} in "
                         "the snapshot and no platform.yaml (pass --repo)")


def run(args: argparse.Namespace) -> int:
    _check_known(args, None)  # before any cluster call: a typo costs nothing
    snap = get_snapshot(args, [args.tenant])
    _check_known(args, snap)
    report = diagnose(snap, args.tenant)
    if args.format == "json":
        print(json.dumps(report.as_json(), indent=2))
    else:
        print_report(report)
    return 0 if report.ok else 1


def print_report(report: DoctorReport) -> None:
    console = Console(highlight=False)
    counts = report.as_json()["summary"]
    if report.ok:
        console.print(f"[green]{report.tenant}: no problems found[/] "
                      f"(snapshot {iso(report.taken_at)})")
        return
    summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    console.print(f"[bold]{report.tenant}[/]: {len(report.diagnoses)} problem(s) ({summary}), "
                  f"snapshot {iso(report.taken_at)}", soft_wrap=True)
    for d in report.diagnoses:
        console.print()
        console.print(f"[{_STYLE[d.severity]}]{d.severity.upper():8}[/] [bold]{d.id}[/] "
                      f"{escape(d.subject)}", soft_wrap=True)
        console.print(f"  {escape(d.title)}", soft_wrap=True)
        for line in d.evidence:
            console.print(f"  [dim]seen:[/] {escape(line)}", soft_wrap=True)
        console.print(f"  [cyan]fix:[/]  {escape(d.fix)}", soft_wrap=True)
