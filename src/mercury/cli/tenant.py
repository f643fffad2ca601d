"""`mercury tenant add|remove|list`: edit platform.yaml, then render the tenant overlays.

add/remove are all-or-nothing: they hold the repository lock (two concurrent adds
cannot lose a tenant), check that rendering can succeed before writing anything,
write platform.yaml atomically, then render; when rendering fails or is interrupted
(SIGINT, SIGTERM, SIGHUP) both platform.yaml and the rendered trees are put back
exactly as they were. Only a kill that cannot be caught (SIGKILL) can stop it between
the two, and that state is one `mercury render` completes; the next writer says so.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from mercury.cli.common import add_lock_arg, add_repo_arg, interrupted_note
from mercury.errors import InputError
from mercury.fsutil import read_exact, repo_lock, write_atomic
from mercury.platform import PLATFORM_FILE, Platform, load_platform, parse_platform
from mercury.platform.edit import add_tenant, remove_tenant
from mercury.platform.model import Backup, Database

# Every file `mercury render` may write or delete lives under these (mercury.render.repo).
RENDERED_DIRS = ("apps", "infrastructure")


def register(sub: Any) -> None:
    parser = sub.add_parser("tenant", help="add, remove or list tenants",
                            description="Edit the tenants in platform.yaml and re-render "
                                        "their manifests.")
    verbs = parser.add_subparsers(dest="tenant_command", metavar="ACTION", required=True)

    add = verbs.add_parser("add", help="add a tenant to platform.yaml and render it")
    add.add_argument("name", help="tenant name: namespace, Key Vault prefix, blob container")
    add.add_argument("--host", help="public host name (default: <name>.<environment domain>)")
    add.add_argument("--env", help="environment (default: the first one in platform.yaml)")
    add.add_argument("--instances", type=int, default=Database().instances,
                     help="PostgreSQL instances (default: %(default)s)")
    add.add_argument("--storage-size", default=Database().storage_size,
                     help="PostgreSQL volume size (default: %(default)s)")
    add.add_argument("--backup-schedule", default=Backup().schedule,
                     help="six-field cron, seconds first (default: %(default)r, daily 02:00)")
    add.add_argument("--retention", default=Backup().retention,
                     help="backup retention: 30d, 4w, 6m (default: %(default)s)")
    add.add_argument("--backup-auth", choices=["workload-identity", "sas"],
                     default=Backup().auth, help="backup credentials (default: %(default)s)")
    add_repo_arg(add)
    add_lock_arg(add)

    remove = verbs.add_parser("remove", help="remove a tenant from platform.yaml and render")
    remove.add_argument("name")
    add_repo_arg(remove)
    add_lock_arg(remove)

    listing = verbs.add_parser("list", help="list the tenants")
    listing.add_argument("--format", choices=["table", "json"], default="table")
    add_repo_arg(listing)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.tenant_command == "list":
        return _list(args)
    root: Path = args.repo
    if not (root / PLATFORM_FILE).is_file():
        load_platform(root)  # raises the standard "no platform.yaml here" InputError
    verb = _add if args.tenant_command == "add" else _remove
    with repo_lock(root, f"tenant {args.tenant_command} {args.name}",
                   timeout=args.lock_timeout) as left:
        if left:
            print(interrupted_note(left), file=sys.stderr)
        return verb(args)


def _read(root: Path) -> tuple[Path, str, Platform]:
    """platform.yaml's path, text and model (the same errors as load_platform)."""
    path = root / PLATFORM_FILE
    if not path.is_file():
        load_platform(root)  # raises the standard "no platform.yaml here" InputError
    text = read_exact(path)  # CRLF stays CRLF
    platform, _ = parse_platform(text, source=str(path))
    return path, text, platform


def _add(args: argparse.Namespace) -> int:
    root: Path = args.repo
    path, text, platform = _read(root)
    env = args.env or platform.default_environment
    if env not in platform.environments:
        known = ", ".join(platform.environments)
        raise InputError(f"unknown environment {env!r} (known: {known})")
    host = args.host or f"{args.name}.{platform.environments[env].domain}"
    new_text = add_tenant(
        text, args.name, environment=env, host=host, instances=args.instances,
        storage_size=args.storage_size, schedule=args.backup_schedule,
        retention=args.retention, auth=args.backup_auth,
    )
    report = _apply(root, path, text, new_text)
    console = Console()
    console.print(f"[green]added[/] tenant [bold]{args.name}[/] ({env}): https://{host}")
    _print_changes(console, report)
    console.print("next: review with `mercury plan`, commit and push; `terraform apply` "
                  "creates its Key Vault secrets, backup identity and blob container.",
                  highlight=False)
    return 0


def _remove(args: argparse.Namespace) -> int:
    root: Path = args.repo
    path, text, _ = _read(root)
    new_text = remove_tenant(text, args.name)
    report = _apply(root, path, text, new_text)
    console = Console()
    console.print(f"[red]removed[/] tenant [bold]{args.name}[/]")
    _print_changes(console, report)
    console.print("next: `terraform plan` shows its Azure resources (Key Vault secrets, backup "
                  "identity and blob container) going away; copy its backups first if needed.",
                  highlight=False)
    return 0


def _list(args: argparse.Namespace) -> int:
    platform = load_platform(args.repo)
    rows: list[dict[str, Any]] = [
        {"name": name, "environment": t.environment, "host": t.host,
         "url": f"https://{t.host}", "instances": t.database.instances,
         "storage_size": t.database.storage_size, "schedule": t.backup.schedule,
         "retention": t.backup.retention, "backup_auth": t.backup.auth}
        for name, t in sorted(platform.tenants.items())
    ]
    if args.format == "json":
        print(json.dumps({"tenants": rows}, indent=2))
        return 0
    console = Console()
    if not console.is_terminal:  # piped: no terminal width to respect, keep rows whole
        console = Console(width=200)
    if not rows:
        console.print("no tenants yet (add one with `mercury tenant add NAME`)")
        return 0
    # The URL already shows the host: on a narrow terminal keep the URL readable instead.
    wide = console.width >= 130
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False,
                  title=f"{len(rows)} tenant(s)", title_justify="left")
    columns = ["name", "env", *(["host"] if wide else []), "URL", "inst.", "schedule",
               "backup auth"]
    for column in columns:
        # names and URLs are copied from here: never wrap them
        keep = column in {"name", "URL", "host"}
        table.add_column(column, overflow="fold", min_width=len(column), no_wrap=keep)
    for r in rows:
        cells = [r["name"], r["environment"], *([r["host"]] if wide else []), r["url"],
                 str(r["instances"]), r["schedule"], r["backup_auth"]]
        table.add_row(*cells)
    console.print(table)
    return 0


def _print_changes(console: Console, report: Any) -> None:
    console.print(f"  wrote {PLATFORM_FILE}", highlight=False)
    for label, paths in (("wrote", report.written), ("removed", report.removed)):
        for rel in paths:
            console.print(f"  {label} {rel}", highlight=False)


def _apply(root: Path, path: Path, old_text: str, new_text: str) -> Any:
    """Write the new platform.yaml and render it; on any failure, undo both."""
    from mercury.render import render_repo  # the renderer is a sibling part; import late

    platform, _ = parse_platform(new_text, source=str(path))
    render_repo(root, platform, check=True)  # refuses (hand-written file, ...) before writes
    with _restored_on_failure([root / d for d in RENDERED_DIRS]):
        write_atomic(path, new_text)
        try:
            return render_repo(root, platform)
        except BaseException:
            write_atomic(path, old_text)
            raise


@contextmanager
def _restored_on_failure(directories: list[Path]) -> Iterator[None]:
    """Put every file under `directories` back as it was if the body raises."""
    before = {p: p.read_bytes() for d in directories for p in d.rglob("*") if p.is_file()}
    dirs = {p for d in directories for p in [d, *d.rglob("*")] if p.is_dir()}
    try:
        yield
    except BaseException:
        now = sorted((p for d in directories if d.is_dir() for p in [d, *d.rglob("*")]),
                     reverse=True)  # children before their parents
        for p in now:
            if p.is_file() and p not in before:
                p.unlink()
            elif p.is_dir() and p not in dirs and not any(p.iterdir()):
                p.rmdir()
        for p, data in before.items():
            if not p.is_file() or p.read_bytes() != data:
                write_atomic(p, data)
        raise
