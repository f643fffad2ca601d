"""Findings for people: one table per (layer, tenant), then a one-line summary.

Layers are Flux Kustomizations (infra-controllers, infra-configs, apps); a tenant is
the namespace of the object, so a fleet report reads tenant by tenant.
"""

from __future__ import annotations

import io
from itertools import groupby

from rich.console import Console
from rich.table import Table
from rich.text import Text

from mercury.verify.engine import Summary
from mercury.verify.findings import Finding, Severity

STYLES = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}
WIDTH = 160


def render(findings: list[Finding], summary: Summary, *, color: bool = False) -> str:
    out = io.StringIO()
    console = Console(file=out, width=WIDTH, force_terminal=color, no_color=not color,
                      highlight=False, soft_wrap=False)
    if summary.nothing_to_check:
        console.print(f"nothing to check: no Flux Kustomization and no kustomization.yaml "
                      f"under {summary.root or '.'}")
        return out.getvalue()

    def group(f: Finding) -> tuple[str, str]:
        return (f.kustomization or "", f.tenant or "")

    for (layer, tenant), items in groupby(sorted(findings, key=_order), key=group):
        title = f"{layer or 'repository'} · {'tenant ' + tenant if tenant else 'cluster-wide'}"
        table = Table(title=title, title_justify="left", expand=False, show_lines=False)
        table.add_column("severity", no_wrap=True)
        table.add_column("rule", no_wrap=True)
        table.add_column("object", overflow="fold")
        table.add_column("where", overflow="fold")
        table.add_column("message / hint", overflow="fold", ratio=1)
        for f in items:
            where = f"{f.file}:{f.line}" if f.file and f.line else (f.file or "")
            msg = Text(f.message)
            if f.hint:
                msg.append(f"\nhint: {f.hint}", style="dim")
            table.add_row(Text(f.severity.value, style=STYLES[f.severity]), f.rule,
                          f.object, where, msg)
        console.print(table)
    if summary.apiserver:
        console.print(summary.apiserver)
    console.print(Text(summary_line(summary), style="bold"))
    return out.getvalue()


def summary_line(summary: Summary) -> str:
    mark = "FAIL" if summary.errors else "OK"
    env = f" (environment {summary.environment})" if summary.environment else ""
    extra = f", {summary.suppressed} suppressed" if summary.suppressed else ""
    if summary.skipped:
        env += (f", {summary.skipped} Kustomization(s) no root reaches skipped "
                "(--all includes them)")
    return (f"{mark}: {summary.errors} error(s), {summary.warnings} warning(s), "
            f"{summary.infos} info{extra} in {summary.objects} objects of "
            f"{summary.kustomizations} Kustomization(s){env}; {summary.rules} rules, "
            f"{summary.seconds:.1f}s")


def _order(f: Finding) -> tuple[str, str, int, tuple[str, int, str, str]]:
    return (f.kustomization or "", f.tenant or "", f.severity.rank, f.sort_key())
