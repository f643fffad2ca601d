"""`mercury backup now|list|restore|drill TENANT`: a tenant's whole backup life.

Arguments in, one explicit call into mercury.ops, an exit code out. `now`, `list`
and `restore --apply` talk to the cluster through mercury.ops.kube (kubectl);
`list --from-store` and `drill` talk to the object store through barman-cloud, with
credentials from the environment as barman-cloud reads them.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table

from mercury.cli.common import add_repo_arg, seconds
from mercury.errors import InputError, MercuryError
from mercury.ops import backups, drill, overlay, restore
from mercury.ops.kube import Kube
from mercury.ops.pgserver import find_pg_bin
from mercury.ops.times import iso, parse_user_time
from mercury.platform import load_platform

CLUSTERS = "clusters.postgresql.cnpg.io"
BACKUPS = "backups.postgresql.cnpg.io"
STORES = "objectstores.barmancloud.cnpg.io"


def register(sub: Any) -> None:
    parser = sub.add_parser("backup", help="take, list, restore and drill a tenant's backups",
                            description="A tenant's backups: take one (now), list them, "
                            "restore into a new Cluster (GitOps overlay), or prove locally "
                            "that the latest one restores (drill).")
    verbs = parser.add_subparsers(dest="backup_verb", metavar="VERB", required=True)

    now = verbs.add_parser("now", help="take an on-demand backup and follow it")
    _common(now)
    now.add_argument("--dry-run", action="store_true", help="print the Backup object only")
    now.add_argument("--no-wait", action="store_true", help="create it and return")
    now.add_argument("--timeout", type=seconds, default=3600, help="seconds to follow it")
    now.set_defaults(func=run_now)

    lst = verbs.add_parser("list", help="the tenant's backups")
    _common(lst)
    _store_args(lst)
    lst.add_argument("--from-store", action="store_true",
                     help="list straight from the object store (barman-cloud-backup-list)")
    lst.add_argument("--format", choices=("text", "json"), default="text")
    lst.set_defaults(func=run_list)

    rst = verbs.add_parser("restore", help="a new Cluster recovered from the tenant's store")
    _common(rst)
    _store_args(rst)
    rst.add_argument("--to-time", metavar="TIMESTAMP",
                     help="point in time to recover to (ISO 8601; no zone means UTC)")
    rst.add_argument("--as", dest="new_name", metavar="NEW_NAME",
                     help="name of the new Cluster (default n8n-db-restore-YYYYmmddHHMM)")
    rst.add_argument("--apply", action="store_true",
                     help="also apply it to the cluster now (the overlay is still written)")
    rst.add_argument("--dry-run", action="store_true", help="print the manifests only")
    rst.add_argument("--force", action="store_true", help="replace a pending restore overlay")
    rst.add_argument("--offline", action="store_true",
                     help="do not ask the cluster for its Backups (only refuses future times)")
    rst.add_argument("--from-store", action="store_true",
                     help="check --to-time against the object store's backups instead")
    rst.set_defaults(func=run_restore)

    dr = verbs.add_parser("drill", help="restore the latest backup locally and check it")
    _common(dr)
    _store_args(dr)
    dr.add_argument("--backup-id", help="restore this backup instead of the newest")
    dr.add_argument("--to-time", metavar="TIMESTAMP", help="point-in-time recovery target")
    dr.add_argument("--expect-table", action="append", metavar="TABLE",
                    help="table that must exist (repeatable; default: "
                    f"{', '.join(drill.N8N_TABLES)})")
    dr.add_argument("--database", default="n8n", help="database to check (default n8n)")
    dr.add_argument("--pg-bin", help="directory of PostgreSQL's server binaries")
    dr.add_argument("--keep", action="store_true", help="keep the scratch data directory")
    dr.add_argument("--timeout", type=seconds, default=3600, help="seconds allowed for replay")
    dr.add_argument("--format", choices=("text", "json"), default="text")
    dr.set_defaults(func=run_drill)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("tenant", metavar="TENANT")
    add_repo_arg(parser)
    parser.add_argument("--context", help="kubeconfig context (default: the current one)")


def _store_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--storage-url", help="barman destination (default: the tenant's "
                        "container, https://<account>.blob.core.windows.net/<tenant>)")
    parser.add_argument("--server-name", default=backups.CLUSTER_NAME,
                        help="serverName in the store (default n8n-db)")
    parser.add_argument("--azure-credential", choices=("azure-cli", "managed-identity",
                                                       "default"),
                        help="barman-cloud's --azure-credential (else the environment's)")


def run(args: argparse.Namespace) -> int:
    return int(args.func(args))


def _tenant_env(args: argparse.Namespace) -> tuple[str, str]:
    """(environment, storage account) of a tenant that platform.yaml knows."""
    platform = load_platform(args.repo)
    tenant = platform.tenants.get(args.tenant)
    if tenant is None:
        known = ", ".join(sorted(platform.tenants)) or "none"
        raise InputError(f"unknown tenant {args.tenant!r} (known: {known})")
    env = platform.environments[tenant.environment]
    return tenant.environment, env.storage_account_name


def _store(args: argparse.Namespace, account: str) -> drill.Store:
    url = args.storage_url or f"https://{account}.blob.core.windows.net/{args.tenant}"
    extra = ("--azure-credential", args.azure_credential) if args.azure_credential else ()
    return drill.Store(url.rstrip("/"), args.server_name, extra_args=extra)


def run_now(args: argparse.Namespace) -> int:
    _tenant_env(args)
    obj = backups.backup_object(args.tenant)
    if args.dry_run:
        print(yaml.safe_dump(obj, sort_keys=False), end="")
        return 0
    kube = Kube(args.context)
    kube.get(CLUSTERS, args.tenant, backups.CLUSTER_NAME)  # a missing cluster fails here
    created = kube.create(obj)
    name = created.get("metadata", {}).get("name", obj["metadata"]["name"])
    console = Console(stderr=True)
    console.print(f"created Backup {args.tenant}/{name}")
    if args.no_wait:
        return 0
    deadline = time.monotonic() + args.timeout
    with console.status(f"backup {name}: waiting") as status:
        while True:
            state = backups.backup_state(kube.get(BACKUPS, args.tenant, name))
            status.update(f"backup {name}: {state.message}")
            if state.done:
                break
            if time.monotonic() > deadline:
                console.print(f"[red]still running after {args.timeout:.0f}s[/]: {state.message}")
                return 1
            time.sleep(2)
    console.print(("[red]failed[/] " if state.failed else "[green]done[/] ") + state.message)
    return 1 if state.failed else 0


def run_list(args: argparse.Namespace) -> int:
    _, account = _tenant_env(args)
    if args.from_store:
        rows = drill.list_store(_store(args, account))
    else:
        items = Kube(args.context).list_items(BACKUPS, args.tenant)
        rows = backups.rows_from_objects(items, cluster=args.server_name)
    if args.format == "json":
        print(json.dumps({"tenant": args.tenant, "backups": [r.as_json() for r in rows]},
                         indent=2))
        return 0
    table = Table(title=f"backups of {args.tenant}"
                  + (" (object store)" if args.from_store else ""))
    for col in ("name", "begin", "end", "size", "status"):
        table.add_column(col)
    for r in rows:
        table.add_row(r.name, iso(r.begin), iso(r.end), backups.human_size(r.size), r.status)
    Console().print(table)
    return 0


def run_restore(args: argparse.Namespace) -> int:
    env, account = _tenant_env(args)
    now = datetime.now(UTC)
    target = parse_user_time(args.to_time, now=now) if args.to_time else None
    kube = Kube(args.context)
    rows: list[backups.BackupRow] | None = None
    if args.from_store:
        rows = drill.list_store(_store(args, account))
    elif args.apply or not args.offline:
        try:
            rows = backups.rows_from_objects(kube.list_items(BACKUPS, args.tenant))
        except MercuryError as exc:  # offline use is normal for a GitOps overlay
            if args.apply:
                raise
            Console(stderr=True).print(f"[yellow]note[/]: backups not listed ({exc}); "
                                       "only a future --to-time is refused")
    name = args.new_name or restore.default_name(now)
    objects = overlay.tenant_objects(args.repo, env, args.tenant)
    plan = restore.plan_restore(args.tenant, objects, name=name, target=target, rows=rows,
                                now=now)
    if args.dry_run:
        print(yaml.safe_dump_all(plan.objects(), sort_keys=False), end="")
        return 0
    written = overlay.write_overlay(args.repo, env, plan, force=args.force)
    console = Console()
    console.print(f"restore of [bold]{args.tenant}[/] as Cluster [bold]{plan.name}[/] "
                  f"from {plan.store}/{plan.source_server}, "
                  f"{'to ' + restore.rfc3339(target) if target else 'to the latest WAL'}; "
                  f"its own WAL goes to serverName {plan.server_name}")
    for path in written:
        console.print(f"  wrote {path}")
    for note in plan.notes:
        console.print(f"  note: {note}")
    if args.apply:
        live = _live_objects(kube, args.tenant)
        live_plan = restore.plan_restore(args.tenant, live, name=name, target=target,
                                         rows=rows, now=now)
        kube.apply(live_plan.objects())
        console.print(f"applied; commit {Path('apps') / env / args.tenant} or Flux reverts "
                      "the n8n Deployment to the old database")
    else:
        console.print("review, commit and push: Flux applies it")
    return 0


def _live_objects(kube: Kube, tenant: str) -> list[dict[str, Any]]:
    objs = [kube.get(CLUSTERS, tenant, backups.CLUSTER_NAME),
            kube.get(STORES, tenant, backups.OBJECT_STORE_NAME),
            kube.get("deployments.apps", tenant, "n8n")]
    return objs + kube.list_items("networkpolicies.networking.k8s.io", tenant)


def run_drill(args: argparse.Namespace) -> int:
    _, account = _tenant_env(args)
    opts = drill.DrillOptions(
        store=_store(args, account), pg_bin=find_pg_bin(args.pg_bin), database=args.database,
        expect_tables=tuple(args.expect_table or drill.N8N_TABLES), backup_id=args.backup_id,
        target=parse_user_time(args.to_time) if args.to_time else None, keep=args.keep,
        timeout=args.timeout)
    console = Console(stderr=True)
    with console.status("drill") as status:
        report = drill.run_drill(opts, progress=lambda m: status.update(f"drill: {m}"))
    if args.format == "json":
        print(json.dumps(report.as_json(), indent=2))
    else:
        _print_drill(report)
    return 0 if report.ok else 1


def _print_drill(report: drill.DrillReport) -> None:
    from rich.panel import Panel

    b = report.backup
    point = report.recovery_point.isoformat() if report.recovery_point else "-"
    lines = [f"backup used     {b.backup_id} (ended {iso(b.end)}, {backups.human_size(b.size)})",
             f"target          {iso(report.target) if report.target else 'end of archived WAL'}",
             f"restore time    {report.total_seconds:.1f}s (base {report.restore_seconds:.1f}s"
             f" + WAL replay {report.recovery_seconds:.1f}s)",
             f"recovery point  {point}"]
    lines += [f"{'[green]ok[/]  ' if c.ok else '[red]FAIL[/]'} {c.name}: {c.detail}"
              for c in report.checks]
    if report.data_dir:
        lines.append(f"kept            {report.data_dir}")
    style = "green" if report.ok else "red"
    Console().print(Panel("\n".join(lines), title="backup drill", border_style=style))
