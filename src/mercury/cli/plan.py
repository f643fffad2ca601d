"""`mercury plan`: render check + build + verify, printed as a fleet report. Offline."""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from mercury.cli.common import add_repo_arg
from mercury.errors import InputError


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "plan",
        help="the main job: render check, build and verify everything, fleet report",
        description="Check that generated files match platform.yaml, build every Flux "
                    "layer, validate every object and run every rule. Offline.",
    )
    add_repo_arg(parser)
    parser.add_argument("--env", help="environment (default: the first in platform.yaml)")
    parser.add_argument("--format", default="text", choices=("text", "json"))
    parser.add_argument("--schema-location", metavar="DIR_OR_URL",
                        help="CRD schemas (directory or kubeconform URL template)")
    parser.add_argument("--values", type=Path, metavar="FILE",
                        help="real postBuild values (`terraform output -json flux_substitutions`)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mercury.plan import make_plan

    if args.values is not None and not args.values.is_file():
        raise InputError(f"{args.values}: --values file not found")
    fleet = make_plan(args.repo, env=args.env, schema_location=args.schema_location,
                      values=args.values)
    if args.format == "json":
        sys.stdout.write(json.dumps(fleet.as_json(), indent=2) + "\n")
    else:
        sys.stdout.write(render_text(fleet, color=sys.stdout.isatty()))
    return fleet.exit_code


def render_text(fleet: Any, *, color: bool = False) -> str:
    from mercury.verify.report import text

    out = io.StringIO()
    # Wide enough that a tenant's URL is never cut: people copy it from here.
    console = Console(file=out, width=180, force_terminal=color, no_color=not color,
                      highlight=False)
    console.print(Text(f"mercury plan · environment {fleet.environment}", style="bold"))
    if fleet.drifted:
        console.print(Text(f"render: {len(fleet.drifted)} generated file(s) differ from "
                           "platform.yaml (run `mercury render`):", style="bold red"))
        for rel in fleet.drifted:
            console.print(f"  {rel}")
    else:
        console.print("render: generated files match platform.yaml")

    layers = Table(title="Flux layers (in dependency order)", title_justify="left")
    for column in ("kustomization", "path", "objects", "build s", "status"):
        layers.add_column(column)
    for layer in fleet.layers:
        status = Text("failed: " + layer.error, style="red") if layer.error else Text("built")
        layers.add_row(layer.name, layer.path, str(layer.objects), f"{layer.seconds:.2f}", status)
    console.print(layers)

    tenants = Table(title=f"Tenants ({len(fleet.tenants)})", title_justify="left")
    tenants.add_column("tenant", no_wrap=True)
    tenants.add_column("URL", no_wrap=True)
    for column in ("db", "backup schedule", "backup auth", "terraform", "objects", "problems"):
        tenants.add_column(column)
    for t in fleet.tenants:
        problems = Text(f"{t.errors} error(s), {t.warnings} warning(s)",
                        style="red" if t.errors else ("yellow" if t.warnings else "green"))
        wiring = Text(t.terraform, style="green" if t.terraform == "wired" else "yellow")
        tenants.add_row(t.name, t.url, str(t.instances), t.schedule, t.backup_auth, wiring,
                        str(t.objects), problems)
    console.print(tenants)
    if fleet.capacity:
        console.print(_capacity_line(fleet.capacity))
    net = fleet.network
    if net is not None:
        broken = net["broken"] + net["forbidden_possible"]
        console.print(Text(
            f"network: {net['flows_checked']} required flow(s) checked, {net['broken']} "
            f"broken; {net['forbidden_checked']} forbidden flow(s) checked, "
            f"{net['forbidden_possible']} possible ({net['tenants']} tenant(s))",
            style="red" if broken else "green"))
    out.write(text.render(fleet.verify.findings, fleet.verify.summary, color=color))
    verdict = "FAIL" if fleet.exit_code else "OK"
    console.print(Text(f"plan: {verdict}", style="bold red" if fleet.exit_code else "bold green"))
    return out.getvalue()


def _pct(used: float, total: float) -> str:
    return f"{100 * used / total:.0f}%" if total else "?"


def _capacity_line(cap: dict[str, Any]) -> Text:
    """One line: nodes, requested / allocatable, and the headroom in default tenants."""
    pools = ", ".join(f"{p['count']} x {p['vm_size']}" for p in cap["pools"])
    req, alloc = cap["requested"], cap["allocatable"]
    line = (f"capacity: {pools}; requests {req['cpu_m']}m / {alloc['cpu_m']}m CPU "
            f"({_pct(req['cpu_m'], alloc['cpu_m'])}), {req['memory_mi']}Mi / "
            f"{alloc['memory_mi']}Mi memory ({_pct(req['memory_mi'], alloc['memory_mi'])}), "
            f"{req['pods']} / {alloc['pods']} pods")
    if not cap["fits"]:
        return Text(line + "; does NOT fit (see rule capacity)", style="red")
    if cap["more_tenants"] is not None:
        per = cap["per_tenant"]
        line += (f"; room for {cap['more_tenants']} more tenant(s) of the default size "
                 f"({per['cpu_m']}m / {per['memory_mi']}Mi each)")
    return Text(line, style="green")
